#include "core/thread_group.h"

#include <gtest/gtest.h>

#include <atomic>

namespace imgpipe::core {
namespace {

using namespace std::chrono_literals;

TEST(ThreadGroupTest, StopWakesSleepersAndJoinsEveryThread) {
  std::atomic<int> passes{0}, finished{0};
  ThreadGroup group;
  for (int i = 0; i < 3; ++i) {
    group.Spawn([&] {
      // An hour-long sleep: only Stop can end it.
      while (group.SleepFor(std::chrono::hours(1))) ++passes;
      ++finished;
    });
  }
  group.Spawn([&] {
    while (!group.stopping()) std::this_thread::sleep_for(1ms);
    ++finished;
  });
  EXPECT_FALSE(group.stopping());
  group.Stop();
  EXPECT_TRUE(group.stopping());
  EXPECT_EQ(finished.load(), 4);  // joined: every body has returned
  EXPECT_EQ(passes.load(), 0);
  group.Stop();                      // idempotent
  EXPECT_FALSE(group.SleepFor(1h));  // returns at once once stopped
}

TEST(ThreadGroupTest, SleepForReturnsTrueWhenTheTimeIsUp) {
  ThreadGroup group;
  EXPECT_TRUE(group.SleepFor(1ms));
}

}  // namespace
}  // namespace imgpipe::core
