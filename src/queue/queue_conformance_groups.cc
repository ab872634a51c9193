// QueueConformance: a group's order when its messages leave out of order (acks in any order,
// dead letters, redrives), and a random walk of every operation against a model of the queue.
#include <algorithm>
#include <deque>
#include <map>
#include <random>

#include "queue/queue_conformance.h"

namespace imgpipe::queue {
namespace {

using core::StatusCode;
using std::chrono::milliseconds;

std::vector<std::string> Bodies(const std::vector<Message>& messages) {
  std::vector<std::string> bodies;
  for (const auto& m : messages) bodies.push_back(m.body);
  return bodies;
}

using BodyList = std::vector<std::string>;

TEST_P(QueueConformance, AcksInAnyOrderKeepTheRestOfTheGroupInOrder) {
  Make("jobs");
  for (int i = 1; i <= 5; ++i) SendOk("jobs", "a" + std::to_string(i), "a", std::to_string(i));
  auto held = ReceiveOk("jobs", 3);
  ASSERT_EQ(Bodies(held), (BodyList{"a1", "a2", "a3"}));
  ASSERT_TRUE(q().Delete("jobs", held[1].receipt).ok());  // behind the head
  ASSERT_TRUE(q().Delete("jobs", held[2].receipt).ok());
  EXPECT_TRUE(ReceiveOk("jobs", 10).empty());  // a1 is still in flight
  ASSERT_TRUE(q().ChangeVisibility("jobs", held[0].receipt, milliseconds(0)).ok());
  auto again = ReceiveOk("jobs", 10);
  ASSERT_EQ(Bodies(again), (BodyList{"a1", "a4", "a5"}));
  EXPECT_EQ(again[0].receive_count, 2);
  // The tail and the head leave in one batch, the tail first.
  auto statuses = q().DeleteBatch("jobs", std::vector{again[2].receipt, again[0].receipt});
  ASSERT_TRUE(statuses.ok());
  EXPECT_TRUE((*statuses)[0].ok());
  EXPECT_TRUE((*statuses)[1].ok());
  EXPECT_TRUE(ReceiveOk("jobs", 10).empty());  // a4 is still in flight
  ASSERT_TRUE(q().Delete("jobs", again[1].receipt).ok());
  auto stats = q().Stats("jobs");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->visible + stats->in_flight, 0);
  SendOk("jobs", "a6", "a", "6");  // the emptied group starts again
  SendOk("jobs", "a7", "a", "7");
  EXPECT_EQ(Bodies(ReceiveOk("jobs", 10)), (BodyList{"a6", "a7"}));
}

TEST_P(QueueConformance, DeadLettersAndRedrivesKeepEachGroupInOrder) {
  QueueOptions options;
  options.max_receive_count = 2;
  options.visibility_timeout = milliseconds(100);
  Make("jobs", options);
  SendOk("jobs", "g1", "g", "1");
  SendOk("jobs", "g2", "g", "2");
  SendOk("jobs", "g3", "g", "3");
  auto first = ReceiveOk("jobs", 10);
  ASSERT_EQ(Bodies(first), (BodyList{"g1", "g2", "g3"}));
  ASSERT_TRUE(q().Delete("jobs", first[0].receipt).ok());
  Advance(100);
  SendOk("jobs", "g4", "g", "4");
  EXPECT_EQ(Bodies(ReceiveOk("jobs", 10)), (BodyList{"g2", "g3", "g4"}));
  Advance(100);
  // g2 and g3 were received twice: they move to the DLQ, in order; g4 flows.
  auto third = ReceiveOk("jobs", 10);
  ASSERT_EQ(Bodies(third), (BodyList{"g4"}));
  EXPECT_EQ(third[0].receive_count, 2);
  auto dead = q().ListDeadLetters("jobs", 10);
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(Bodies(*dead), (BodyList{"g2", "g3"}));
  SendOk("jobs", "g5", "g", "5");
  ASSERT_TRUE(q().Delete("jobs", third[0].receipt).ok());
  // Redriven messages go to the end of their group.
  auto moved = q().Redrive("jobs", 1);
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, 1);
  EXPECT_EQ(Bodies(*q().ListDeadLetters("jobs", 10)), (BodyList{"g3"}));
  ASSERT_TRUE(q().Redrive("jobs", 10).ok());
  SendOk("jobs", "g6", "g", "6");
  auto rest = ReceiveOk("jobs", 10);
  ASSERT_EQ(Bodies(rest), (BodyList{"g5", "g2", "g3", "g6"}));
  std::vector<std::string> receipts;
  for (const auto& m : rest) receipts.push_back(m.receipt);
  ASSERT_TRUE(q().DeleteBatch("jobs", receipts).ok());
  EXPECT_TRUE(ReceiveOk("jobs", 10).empty());
  EXPECT_EQ(q().Stats("jobs")->visible, 0);
}

// Sends, receives, acks in any order, visibility changes and time passing, chosen at random
// (seeded: every run is the same), checked against a model: each receive returns, for every
// group it names, the group's first messages in send order, and only from groups with nothing in
// flight; in the end every message was delivered and acked.
TEST_P(QueueConformance, RandomOperationsKeepEveryGroupInOrder) {
  QueueOptions options;
  options.max_receive_count = 1000;  // no dead letters here
  Make("jobs", options);
  struct Held {
    std::string receipt;
    int64_t lease_end = 0;
  };
  std::map<std::string, std::deque<std::string>> groups;  // group -> live bodies, in order
  std::map<std::string, std::string> group_of;            // body -> group
  std::map<std::string, Held> held;                       // body -> its latest lease
  std::mt19937 rng(20261130);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto in_flight = [&](const std::string& group) {
    for (const auto& body : groups[group]) {
      auto it = held.find(body);
      if (it != held.end() && it->second.lease_end > Now()) return true;
    }
    return false;
  };
  int sent = 0;
  for (int step = 0; step < 1500 && !HasFailure(); ++step) {
    const int op = pick(10);
    if (op < 3) {  // a batch of 1..4 messages to random groups
      std::vector<OutgoingMessage> batch;
      for (int i = pick(4); i >= 0; --i) {
        std::string body = "m" + std::to_string(sent++);
        std::string group = "g" + std::to_string(pick(6));
        batch.push_back({body, group, body});
      }
      ASSERT_TRUE(q().SendBatch("jobs", batch).ok());
      for (const auto& m : batch) {
        groups[m.group_id].push_back(m.body);
        group_of[m.body] = m.group_id;
      }
    } else if (op < 6) {  // a receive
      std::map<std::string, bool> ready;
      for (const auto& [group, bodies] : groups) {
        ready[group] = !bodies.empty() && !in_flight(group);
      }
      const int64_t lease = 50 + pick(500);
      auto got = ReceiveOk("jobs", 1 + pick(10), lease);
      std::map<std::string, size_t> taken;  // group -> how many of its first messages came
      for (const auto& m : got) {
        ASSERT_TRUE(ready[m.group_id]) << m.body << " of a group in flight";
        size_t& k = taken[m.group_id];
        ASSERT_LT(k, groups[m.group_id].size());
        ASSERT_EQ(m.body, groups[m.group_id][k]) << "group " << m.group_id << " out of order";
        ++k;
        held[m.body] = Held{m.receipt, Now() + lease};
      }
      bool any_ready = false;
      for (const auto& [group, is_ready] : ready) any_ready = any_ready || is_ready;
      EXPECT_EQ(any_ready, !got.empty());
    } else if (op < 8 && !held.empty()) {  // ack 1..3 held messages, in random order
      std::vector<std::string> bodies;
      for (int i = pick(3); i >= 0; --i) {
        auto it = held.begin();
        std::advance(it, pick(static_cast<int>(held.size())));
        if (std::find(bodies.begin(), bodies.end(), it->first) == bodies.end()) {
          bodies.push_back(it->first);
        }
      }
      std::vector<std::string> receipts;
      for (const auto& body : bodies) receipts.push_back(held[body].receipt);
      auto statuses = q().DeleteBatch("jobs", receipts);
      ASSERT_TRUE(statuses.ok());
      for (size_t i = 0; i < bodies.size(); ++i) {
        // The latest receipt of a live message always deletes it, even past its lease.
        ASSERT_TRUE((*statuses)[i].ok()) << bodies[i] << ": " << (*statuses)[i].ToString();
        auto& live = groups[group_of[bodies[i]]];
        live.erase(std::find(live.begin(), live.end(), bodies[i]));
        held.erase(bodies[i]);
      }
    } else if (op == 8 && !held.empty()) {  // a lease ended early or extended
      auto it = held.begin();
      std::advance(it, pick(static_cast<int>(held.size())));
      if (it->second.lease_end > Now()) {
        const int64_t lease = pick(2) == 0 ? 0 : 100 + pick(400);
        ASSERT_TRUE(q().ChangeVisibility("jobs", it->second.receipt, milliseconds(lease)).ok());
        it->second.lease_end = Now() + lease;
      }
    } else {
      Advance(pick(300));
    }
  }
  // Drain: everything left comes, in order, and is acked.
  for (int round = 0; round < 1000 && !HasFailure(); ++round) {
    size_t live = 0;
    for (const auto& [group, bodies] : groups) live += bodies.size();
    if (live == 0) break;
    Advance(1000);  // every lease has ended
    held.clear();
    auto got = ReceiveOk("jobs", 10);
    ASSERT_FALSE(got.empty()) << live << " messages never came back";
    std::vector<std::string> receipts;
    std::map<std::string, size_t> taken;
    for (const auto& m : got) {
      size_t& k = taken[m.group_id];
      ASSERT_LT(k, groups[m.group_id].size());
      ASSERT_EQ(m.body, groups[m.group_id][k++]) << "group " << m.group_id;
      receipts.push_back(m.receipt);
    }
    ASSERT_TRUE(q().DeleteBatch("jobs", receipts).ok());
    for (const auto& [group, n] : taken) {
      groups[group].erase(groups[group].begin(), groups[group].begin() + static_cast<long>(n));
    }
  }
  auto stats = q().Stats("jobs");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->visible + stats->in_flight, 0);
  EXPECT_EQ(stats->sent, sent);
}

}  // namespace
}  // namespace imgpipe::queue
