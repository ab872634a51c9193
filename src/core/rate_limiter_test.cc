#include "core/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace imgpipe::core {
namespace {

using std::chrono::milliseconds;
using Clock = RateLimiter::Clock;

TEST(RateLimiterTest, BurstThenRateThenRetryAfter) {
  RateLimiter limiter({.rate_per_s = 2, .burst = 3});
  Clock::time_point t0{};
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Take("a", t0), milliseconds(0)) << i;
  EXPECT_EQ(limiter.Take("a", t0), milliseconds(500));  // one token every 500 ms
  EXPECT_EQ(limiter.Take("a", t0 + milliseconds(200)), milliseconds(300));
  EXPECT_EQ(limiter.Take("a", t0 + milliseconds(500)), milliseconds(0));
  EXPECT_EQ(limiter.Take("a", t0 + milliseconds(500)), milliseconds(500));
  // Other keys have their own buckets; a long pause refills only up to the burst.
  EXPECT_EQ(limiter.Take("b", t0), milliseconds(0));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(limiter.Take("a", t0 + std::chrono::hours(1)), milliseconds(0));
  EXPECT_GT(limiter.Take("a", t0 + std::chrono::hours(1)), milliseconds(0));
}

TEST(RateLimiterTest, DisabledAlwaysAllows) {
  RateLimiter limiter({.rate_per_s = 0});
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(limiter.Take("a"), milliseconds(0));
  EXPECT_EQ(limiter.keys(), 0u);
}

TEST(RateLimiterTest, KeysAreBoundedAndRefilledOnesGoFirst) {
  RateLimiter limiter({.rate_per_s = 1, .burst = 2, .max_keys = 3});
  Clock::time_point t0{};
  limiter.Take("busy", t0);
  limiter.Take("busy", t0);  // empty: must not be forgotten while idle keys can go
  limiter.Take("idle1", t0);
  limiter.Take("idle2", t0);
  Clock::time_point later = t0 + milliseconds(1500);  // idle ones refilled, busy at 1.5 tokens
  for (int i = 0; i < 10; ++i) limiter.Take("new" + std::to_string(i), later);
  EXPECT_LE(limiter.keys(), 3u);
  // Memory stays bounded under a flood of distinct keys, whatever they are.
  for (int i = 0; i < 10000; ++i) limiter.Take("flood" + std::to_string(i), later);
  EXPECT_LE(limiter.keys(), 3u);
}

TEST(RateLimiterTest, BusyKeySurvivesEvictionOfRefilledOnes) {
  RateLimiter limiter({.rate_per_s = 0.001, .burst = 1, .max_keys = 2});
  Clock::time_point t0{};
  EXPECT_EQ(limiter.Take("busy", t0), milliseconds(0));
  EXPECT_EQ(limiter.Take("x", t0), milliseconds(0));
  // Neither has refilled: the least recently used ("busy") goes, and gets a fresh burst.
  EXPECT_EQ(limiter.Take("y", t0), milliseconds(0));
  EXPECT_EQ(limiter.keys(), 2u);
}

TEST(RateLimiterTest, ConcurrentTakesNeverExceedTheBurst) {
  RateLimiter limiter({.rate_per_s = 0.001, .burst = 100});
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  Clock::time_point t0 = Clock::now();
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (limiter.Take("k", t0) == milliseconds(0)) granted.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(granted.load(), 100);
}

}  // namespace
}  // namespace imgpipe::core
