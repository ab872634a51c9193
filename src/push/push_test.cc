// The event store, the hub and the results consumer on SQLite (or PostgreSQL in
// push_postgres_test), with the real queue service.
#include "push/push.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "core/temp_dir.h"
#include "db/test_database.h"

namespace imgpipe::push {
namespace {

using core::StatusCode;
using namespace std::chrono_literals;

class PushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = db::testing::OpenTestDatabase(dir_.path());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    auto store = EventStore::Open(*db_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    auto queues = queue::NewSqlQueueService(*db_);
    ASSERT_TRUE(queues.ok());
    queues_ = std::move(*queues);
    queue::QueueOptions options;
    options.visibility_timeout = 500ms;
    ASSERT_TRUE(queues_->EnsureQueue("results", options).ok());
  }

  // Appends in its own transaction.
  core::Result<Event> Append(const std::string& client, const std::string& dedup,
                             const std::string& body, bool* stored) {
    core::Result<Event> out = core::Status::Internal("not run");
    core::Status st = db_->Write(true, [&](db::Transaction& tx) -> core::Status {
      out = store_->Append(tx, client, dedup, body, 1000, stored);
      return out.status();
    });
    if (!st.ok()) return st;
    if (*stored) store_->NoteStored({*out});  // as the consumer does after its commit
    return out;
  }

  void SendResult(const std::string& client, const std::string& job) {
    queue::OutgoingMessage m;
    m.body = R"({"type":"result","job_id":")" + job + R"(","status":"succeeded"})";
    m.group_id = client;
    m.dedup_id = job;
    ASSERT_TRUE(queues_->Send("results", m).ok());
  }

  core::TempDir dir_{"push-test"};
  std::unique_ptr<db::Database> db_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<queue::QueueService> queues_;
};

// SQLite has one push process, which appends every event: LastSeq answers from memory, kept
// current by NoteStored (which only raises it). PostgreSQL reads the database every time (other
// processes append).
TEST_F(PushTest, LastSeqComesFromMemoryOnlyWhereThisProcessAppendsEverything) {
  bool stored = false;
  ASSERT_TRUE(Append("c", "k1", R"({"type":"result","job_id":"k1"})", &stored).ok());
  EXPECT_EQ(*store_->LastSeq("c"), 1);
  ASSERT_TRUE(db_->Write(true,
                         [](db::Transaction& tx) {
                           return tx
                               .Exec("UPDATE push_sequences SET last_seq = 7 WHERE client_id = 'c'")
                               .status();
                         })
                  .ok());
  const bool memory = db_->dialect() == db::Dialect::kSqlite;
  EXPECT_EQ(*store_->LastSeq("c"), memory ? 1 : 7);
  Event e;
  e.client_id = "c";
  e.seq = 9;
  store_->NoteStored({e});
  EXPECT_EQ(*store_->LastSeq("c"), memory ? 9 : 7);
  e.seq = 3;
  store_->NoteStored({e});  // never lowers it
  EXPECT_EQ(*store_->LastSeq("c"), memory ? 9 : 7);
  EXPECT_EQ(*store_->LastSeq("nobody yet"), 0);
}

TEST_F(PushTest, SequencesPerClientWithoutGapsAndIdempotent) {
  bool stored = false;
  auto a1 = Append("a", "j1", R"({"type":"result","job_id":"j1","status":"succeeded"})", &stored);
  ASSERT_TRUE(a1.ok()) << a1.status().ToString();
  EXPECT_TRUE(stored);
  EXPECT_EQ(a1->seq, 1);
  EXPECT_EQ(a1->json, R"({"type":"result","seq":1,"job_id":"j1","status":"succeeded"})");
  auto b1 = Append("b", "j2", R"({"type":"progress","job_id":"j2","done":1,"total":2})", &stored);
  ASSERT_TRUE(b1.ok());
  EXPECT_EQ(b1->seq, 1);  // another client: its own numbers
  auto a2 = Append("a", "j3", R"({"type":"result","job_id":"j3"})", &stored);
  EXPECT_EQ(a2->seq, 2);
  // The same message again: the first event, nothing new.
  auto again =
      Append("a", "j1", R"({"type":"result","job_id":"j1","status":"succeeded"})", &stored);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(stored);
  EXPECT_EQ(again->seq, 1);
  EXPECT_EQ(*store_->LastSeq("a"), 2);
  EXPECT_EQ(*store_->LastSeq("nobody"), 0);

  auto after = store_->After("a", 0, 10);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 2u);
  EXPECT_EQ((*after)[1].job_id, "j3");
  EXPECT_EQ(store_->After("a", 1, 10)->size(), 1u);
  EXPECT_EQ(store_->After("a", 2, 10)->size(), 0u);
  EXPECT_EQ(store_->After("a", 0, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EventsJson(*after, 2),
            R"({"events":[{"type":"result","seq":1,"job_id":"j1","status":"succeeded"},)"
            R"({"type":"result","seq":2,"job_id":"j3"}],"last_seq":2})");

  for (const char* bad : {"nope", "[1]", R"({"type":"result"})", R"({"job_id":5,"type":"x"})"}) {
    EXPECT_EQ(Append("a", std::string("bad-") + bad, bad, &stored).status().code(),
              StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(*store_->LastSeq("a"), 2);  // failed appends took no number
}

TEST_F(PushTest, ConcurrentAppendsOfOneClientNumberOneToN) {
  constexpr int kThreads = 4, kEach = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string job = "j" + std::to_string(t) + "-" + std::to_string(i);
        bool stored = false;
        if (!Append("c", job, R"({"type":"result","job_id":")" + job + "\"}", &stored).ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto events = store_->After("c", 0, 1000);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), static_cast<size_t>(kThreads * kEach));
  for (size_t i = 0; i < events->size(); ++i) EXPECT_EQ((*events)[i].seq, int64_t(i + 1));
}

TEST_F(PushTest, PruneKeepsSequenceNumbers) {
  bool stored = false;
  ASSERT_TRUE(Append("a", "j1", R"({"type":"result","job_id":"j1"})", &stored).ok());
  auto pruned = store_->PruneBefore(2000);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 1);
  EXPECT_TRUE(store_->After("a", 0, 10)->empty());
  auto next = Append("a", "j2", R"({"type":"result","job_id":"j2"})", &stored);
  EXPECT_EQ(next->seq, 2);  // never reused
}

TEST_F(PushTest, HubDeliversToEveryConnectionOfTheClient) {
  Hub hub;
  std::vector<int64_t> tab1, tab2, other;
  uint64_t s1 = hub.Subscribe("a", [&](const Event& e) { tab1.push_back(e.seq); });
  hub.Subscribe("a", [&](const Event& e) { tab2.push_back(e.seq); });
  hub.Subscribe("b", [&](const Event& e) { other.push_back(e.seq); });
  EXPECT_EQ(hub.Subscribers("a"), 2u);
  Event e;
  e.client_id = "a";
  e.seq = 7;
  EXPECT_EQ(hub.Publish(e), 2u);
  hub.Unsubscribe(s1);
  hub.Unsubscribe(s1);     // twice: a no-op
  hub.Unsubscribe(12345);  // unknown: a no-op
  e.seq = 8;
  EXPECT_EQ(hub.Publish(e), 1u);
  EXPECT_EQ(tab1, std::vector<int64_t>{7});
  EXPECT_EQ(tab2, (std::vector<int64_t>{7, 8}));
  EXPECT_TRUE(other.empty());
  // Each client with a subscriber once (what RemoteEvents hints after missed announcements).
  EXPECT_EQ(hub.Clients(), (std::vector<std::string>{"a", "b"}));
}

TEST(HubTest, BatchReachesEachSinkAsItsClientsEventsInOrder) {
  Hub hub;
  std::vector<std::pair<char, int64_t>> seen;  // (sink, seq) in delivery order
  hub.Subscribe("a", [&](const Event& e) { seen.emplace_back('1', e.seq); });
  hub.Subscribe("a", [&](const Event& e) { seen.emplace_back('2', e.seq); });
  hub.Subscribe("b", [&](const Event& e) { seen.emplace_back('b', e.seq); });
  std::vector<Event> batch(5);
  const std::pair<const char*, int64_t> events[] = {
      {"a", 1}, {"b", 1}, {"a", 2}, {"c", 1}, {"a", 3}};
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i].client_id = events[i].first;
    batch[i].seq = events[i].second;
  }
  EXPECT_EQ(hub.Publish(batch), 7u);  // a's 3 events to 2 sinks, b's 1; nobody listens to c
  const std::vector<std::pair<char, int64_t>> expected = {{'1', 1}, {'1', 2}, {'1', 3}, {'2', 1},
                                                          {'2', 2}, {'2', 3}, {'b', 1}};
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(hub.Publish(std::vector<Event>()), 0u);
}

#ifndef IMGPIPE_TEST_POSTGRES
TEST_F(PushTest, RemoteEventsNeedsPostgres) {
  Hub hub;
  EXPECT_FALSE(RemoteEvents::Start(*db_, hub, "origin").ok());  // one process: nothing to hear
}
#else
// Two "processes" (two hubs, two origins) on one database: what the consumer of one stores
// reaches the other's subscribers as look-again hints (empty json) with the stored seq; the
// storing side ignores its own announcements.
TEST_F(PushTest, AnnouncedEventsReachOtherProcessesAsHints) {
  Hub here, there;
  std::mutex mu;
  std::vector<std::pair<int64_t, bool>> hints_there;  // (seq, json empty)
  size_t heard_here = 0;
  there.Subscribe("a", [&](const Event& e) {
    std::lock_guard lock(mu);
    hints_there.emplace_back(e.seq, e.json.empty());
  });
  here.Subscribe("a", [&](const Event& e) {
    std::lock_guard lock(mu);
    if (e.json.empty()) ++heard_here;
  });
  auto listen_there = RemoteEvents::Start(*db_, there, "there");
  auto listen_here = RemoteEvents::Start(*db_, here, "here");
  ASSERT_TRUE(listen_there.ok() && listen_here.ok());
  ConsumerOptions options;
  options.poll_wait = 100ms;
  options.announce_origin = "here";
  auto consumer = ResultsConsumer::Start(*queues_, *store_, here, options);
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  for (int i = 1; i <= 3; ++i) SendResult("a", "job" + std::to_string(i));
  for (int i = 0; i < 1000; ++i) {
    {
      std::lock_guard lock(mu);
      if (hints_there.size() >= 3) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  (*consumer)->Stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(hints_there, (std::vector<std::pair<int64_t, bool>>{{1, true}, {2, true}, {3, true}}));
  EXPECT_EQ(heard_here, 0u);
}
#endif

TEST_F(PushTest, ConsumerStoresPublishesAndAcknowledges) {
  Hub hub;
  std::mutex mu;
  std::vector<std::string> seen;
  hub.Subscribe("a", [&](const Event& e) {
    std::lock_guard lock(mu);
    seen.push_back(e.job_id + "#" + std::to_string(e.seq));
  });
  ConsumerOptions options;
  options.poll_wait = 100ms;
  auto consumer = ResultsConsumer::Start(*queues_, *store_, hub, options);
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  for (int i = 1; i <= 5; ++i) SendResult("a", "job" + std::to_string(i));
  SendResult("b", "other");
  queue::OutgoingMessage garbage;
  garbage.body = "not json";
  garbage.group_id = "a";
  garbage.dedup_id = "garbage";
  ASSERT_TRUE(queues_->Send("results", garbage).ok());
  for (int i = 0; i < 1000 && *store_->LastSeq("b") < 1; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  for (int i = 0; i < 1000; ++i) {
    auto stats = queues_->Stats("results");
    if (stats.ok() && stats->visible + stats->in_flight == 0) break;
    std::this_thread::sleep_for(10ms);
  }
  (*consumer)->Stop();
  auto events = store_->After("a", 0, 100);
  ASSERT_EQ(events->size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ((*events)[i].job_id, "job" + std::to_string(i + 1));  // per-client FIFO order
    EXPECT_EQ((*events)[i].seq, i + 1);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"job1#1", "job2#2", "job3#3", "job4#4", "job5#5"}));
  EXPECT_EQ(*store_->LastSeq("b"), 1);
  auto stats = queues_->Stats("results");
  EXPECT_EQ(stats->visible + stats->in_flight, 0);  // everything acknowledged, garbage dropped
}

TEST_F(PushTest, ARedeliveredResultMakesNoSecondEvent) {
  SendResult("a", "job1");
  // A consumer that stored the event and died before acknowledging: the event exists, the
  // message is still in flight.
  auto held = queues_->Receive("results", {});
  ASSERT_TRUE(held.ok() && held->size() == 1u);
  bool stored = false;
  ASSERT_TRUE(Append("a", (*held)[0].dedup_id, (*held)[0].body, &stored).ok());
  Hub hub;
  std::atomic<int> published{0};
  hub.Subscribe("a", [&](const Event&) { ++published; });
  ConsumerOptions options;
  options.poll_wait = 100ms;
  auto consumer = ResultsConsumer::Start(*queues_, *store_, hub, options);
  ASSERT_TRUE(consumer.ok());
  for (int i = 0; i < 1000 && queues_->Stats("results")->deleted == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  (*consumer)->Stop();
  EXPECT_EQ(queues_->Stats("results")->deleted, 1);  // redelivered after 500 ms, acknowledged
  EXPECT_EQ(store_->After("a", 0, 10)->size(), 1u);
  EXPECT_EQ(published.load(), 0);  // already stored: not a new event
}

}  // namespace
}  // namespace imgpipe::push
