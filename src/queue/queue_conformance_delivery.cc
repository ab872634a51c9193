// QueueConformance: per-group order, round robin, concurrent consumers, long polling.
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "queue/queue_conformance.h"

namespace imgpipe::queue {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

TEST_P(QueueConformance, GroupIsBlockedWhileItsHeadIsInFlight) {
  Make("jobs");
  SendOk("jobs", "a1", "a", "1");
  SendOk("jobs", "a2", "a", "2");
  SendOk("jobs", "b1", "b", "3");
  SendOk("jobs", "b2", "b", "4");
  auto head = ReceiveOk("jobs", 1);
  ASSERT_EQ(head.size(), 1u);
  EXPECT_EQ(head[0].body, "a1");
  auto others = ReceiveOk("jobs", 10);  // group a is blocked; b flows, in order
  ASSERT_EQ(others.size(), 2u);
  EXPECT_EQ(others[0].body, "b1");
  EXPECT_EQ(others[1].body, "b2");
  EXPECT_TRUE(ReceiveOk("jobs", 10).empty());
  ASSERT_TRUE(q().Delete("jobs", head[0].receipt).ok());
  auto next = ReceiveOk("jobs", 10);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].body, "a2");
}

TEST_P(QueueConformance, RoundRobinKeepsAHotGroupFromStarvingOthers) {
  Make("jobs");
  std::vector<OutgoingMessage> batch;
  for (int i = 0; i < 100; ++i) {
    batch.push_back({"hot" + std::to_string(i), "hot", "h" + std::to_string(i)});
    if (batch.size() == 10) {
      ASSERT_TRUE(q().SendBatch("jobs", batch).ok());
      batch.clear();
    }
  }
  SendOk("jobs", "cold", "cold", "c");
  auto got = ReceiveOk("jobs", 10);
  ASSERT_EQ(got.size(), 10u);
  bool cold = false;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].group_id == "cold") cold = true;
  }
  EXPECT_TRUE(cold);
  EXPECT_EQ(got[0].body, "hot0");  // the hot group's run is consecutive, in order
  EXPECT_EQ(got[1].body, "cold");
  EXPECT_EQ(got[2].body, "hot1");
}

// 4 consumers over 20 groups x 50 messages: all delivered once acked, per-group order kept.
TEST_P(QueueConformance, ConcurrentConsumersKeepPerGroupOrder) {
  Make("jobs");
  constexpr int kGroups = 20, kPerGroup = 50;
  for (int i = 0; i < kPerGroup; ++i) {
    std::vector<OutgoingMessage> batch;
    for (int g = 0; g < kGroups; ++g) {
      batch.push_back({std::to_string(i), "g" + std::to_string(g),
                       std::to_string(g) + "-" + std::to_string(i)});
      if (batch.size() == 10) {
        ASSERT_TRUE(q().SendBatch("jobs", batch).ok());
        batch.clear();
      }
    }
  }
  std::mutex mu;
  std::map<std::string, int> next;  // GUARDED_BY(mu): next expected index per group
  int delivered = 0;                // GUARDED_BY(mu)
  int violations = 0;               // GUARDED_BY(mu)
  int errors = 0;                   // GUARDED_BY(mu)
  auto consume = [&] {
    int idle = 0;
    while (idle < 3) {
      ReceiveOptions options;
      options.max_messages = 5;
      options.wait = milliseconds(50);
      auto got = q().Receive("jobs", options);
      if (!got.ok()) {
        std::lock_guard lock(mu);
        ++errors;
        return;
      }
      if (got->empty()) {
        ++idle;
        continue;
      }
      idle = 0;
      std::vector<std::string> receipts;
      {
        std::lock_guard lock(mu);
        for (const auto& m : *got) {
          if (std::stoi(m.body) != next[m.group_id]) ++violations;
          next[m.group_id] = std::stoi(m.body) + 1;
          ++delivered;
          receipts.push_back(m.receipt);
        }
      }
      auto deleted = q().DeleteBatch("jobs", receipts);
      std::lock_guard lock(mu);
      if (!deleted.ok()) {
        ++errors;
        continue;
      }
      for (const auto& s : *deleted) errors += s.ok() ? 0 : 1;
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(consume);
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(violations, 0);
  EXPECT_EQ(delivered, kGroups * kPerGroup);
  for (const auto& [group, n] : next) EXPECT_EQ(n, kPerGroup) << group;
  EXPECT_EQ(next.size(), static_cast<size_t>(kGroups));
  auto stats = q().Stats("jobs");
  EXPECT_EQ(stats->visible + stats->in_flight, 0);
  EXPECT_EQ(stats->deleted, kGroups * kPerGroup);
}

// Concurrent unbatched sends (group-committed where the backend does): each gets its own result;
// an unknown queue fails alone; one dedup id sent by every thread is enqueued once.
TEST_P(QueueConformance, ConcurrentSendsEachGetTheirOwnResult) {
  Make("jobs");
  constexpr int kThreads = 8, kPerThread = 25;
  std::mutex mu;
  std::set<std::string> ids;         // GUARDED_BY(mu)
  std::set<std::string> shared_ids;  // GUARDED_BY(mu)
  int fresh_shared = 0, errors = 0;  // GUARDED_BY(mu)
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string dedup = std::to_string(t) + "-" + std::to_string(i);
        auto sent = q().Send("jobs", {dedup, "g" + std::to_string(t), dedup});
        auto unknown = q().Send("nope", {dedup, "g", dedup});
        std::lock_guard lock(mu);
        if (!sent.ok() || sent->duplicate) ++errors;
        if (sent.ok()) ids.insert(sent->message_id);
        if (unknown.status().code() != core::StatusCode::kNotFound) ++errors;
      }
      auto shared = q().Send("jobs", {"shared", "s", "shared"});
      std::lock_guard lock(mu);
      if (!shared.ok()) {
        ++errors;
        return;
      }
      shared_ids.insert(shared->message_id);
      if (!shared->duplicate) ++fresh_shared;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(shared_ids.size(), 1u);
  EXPECT_EQ(fresh_shared, 1);
  auto stats = q().Stats("jobs");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->sent, kThreads * kPerThread + 1);
  EXPECT_EQ(stats->visible, kThreads * kPerThread + 1);
}

TEST_P(QueueConformance, LongPollIsWokenBySend) {
  Make("jobs");
  std::thread sender([&] {
    std::this_thread::sleep_for(milliseconds(100));
    SendOk("jobs", "late", "g", "1");
  });
  ReceiveOptions options;
  options.wait = std::chrono::seconds(5);
  auto start = SteadyClock::now();
  auto got = q().Receive("jobs", options);
  auto took = SteadyClock::now() - start;
  sender.join();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].body, "late");
  EXPECT_LT(took, std::chrono::seconds(1));  // woken, not run to the 5 s deadline
}

TEST_P(QueueConformance, LongPollIsWokenByAckThatUnblocksTheGroup) {
  Make("jobs");
  SendOk("jobs", "1", "g", "1");
  SendOk("jobs", "2", "g", "2");
  auto head = ReceiveOk("jobs", 1);
  ASSERT_EQ(head.size(), 1u);
  std::thread acker([&] {
    std::this_thread::sleep_for(milliseconds(100));
    EXPECT_TRUE(q().Delete("jobs", head[0].receipt).ok());
  });
  ReceiveOptions options;
  options.wait = std::chrono::seconds(5);
  auto start = SteadyClock::now();
  auto got = q().Receive("jobs", options);
  auto took = SteadyClock::now() - start;
  acker.join();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].body, "2");
  EXPECT_LT(took, std::chrono::seconds(1));
}

TEST_P(QueueConformance, EmptyLongPollReturnsEmptyAfterTheWait) {
  Make("jobs");
  ReceiveOptions options;
  options.wait = milliseconds(200);
  auto start = SteadyClock::now();
  auto got = q().Receive("jobs", options);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
  EXPECT_GE(SteadyClock::now() - start, milliseconds(200));
}

}  // namespace
}  // namespace imgpipe::queue
