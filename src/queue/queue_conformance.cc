// QueueConformance: fixture, sends, dedup, leases, dead letters, stats, transactions, validation.
// Delivery order, concurrency and long polling: queue_conformance_delivery.cc.
#include "queue/queue_conformance.h"

#include <array>

namespace imgpipe::queue {

using core::StatusCode;
using std::chrono::milliseconds;

void QueueConformance::SetUp() {
  ServiceOptions options;
  options.now_ms = [this] { return now_ms_.load(); };
  auto harness = GetParam().make(options);
  ASSERT_TRUE(harness.ok()) << harness.status().ToString();
  harness_ = std::move(harness).value();
  ASSERT_NE(harness_.service, nullptr);
  ASSERT_NE(harness_.db, nullptr);
}

void QueueConformance::TearDown() {
  harness_.service.reset();
  harness_.owned.reset();
}

void QueueConformance::Make(const std::string& name, QueueOptions options) {
  core::Status status = q().EnsureQueue(name, options);
  ASSERT_TRUE(status.ok()) << status.ToString();
}

std::string QueueConformance::SendOk(const std::string& queue, const std::string& body,
                                     const std::string& group, const std::string& dedup) {
  auto sent = q().Send(queue, {body, group, dedup});
  EXPECT_TRUE(sent.ok()) << sent.status().ToString();
  return sent.ok() ? sent->message_id : "";
}

std::vector<Message> QueueConformance::ReceiveOk(const std::string& queue, int max,
                                                 int64_t lease_ms) {
  ReceiveOptions options;
  options.max_messages = max;
  if (lease_ms >= 0) options.visibility_timeout = milliseconds(lease_ms);
  auto got = q().Receive(queue, options);
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  return got.ok() ? std::move(got).value() : std::vector<Message>{};
}

namespace {

TEST_P(QueueConformance, SendReceiveDeleteRoundtrip) {
  Make("jobs");
  auto queues = q().ListQueues();
  ASSERT_TRUE(queues.ok());
  EXPECT_EQ(*queues, (std::vector<std::string>{"jobs", "jobs.dlq"}));
  std::string id = SendOk("jobs", std::string("body\0bytes", 10), "client-1", "job-1");
  ASSERT_FALSE(id.empty());
  auto got = ReceiveOk("jobs", 10);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, id);
  EXPECT_EQ(got[0].body, std::string("body\0bytes", 10));
  EXPECT_EQ(got[0].group_id, "client-1");
  EXPECT_EQ(got[0].dedup_id, "job-1");
  EXPECT_EQ(got[0].receive_count, 1);
  EXPECT_EQ(got[0].sent_at_ms, kStartMs);
  EXPECT_FALSE(got[0].receipt.empty());
  EXPECT_TRUE(ReceiveOk("jobs", 10).empty());  // in flight
  ASSERT_TRUE(q().Delete("jobs", got[0].receipt).ok());
  EXPECT_EQ(q().Delete("jobs", got[0].receipt).code(), StatusCode::kNotFound);
  Advance(60'000);
  EXPECT_TRUE(ReceiveOk("jobs", 10).empty());  // gone for good
}

TEST_P(QueueConformance, DeduplicatesWithinTheWindowOnly) {
  QueueOptions options;
  options.dedup_window = milliseconds(1000);
  Make("jobs", options);
  std::string first = SendOk("jobs", "a", "g", "same");
  auto again = q().Send("jobs", {"b", "g", "same"});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->message_id, first);
  auto got = ReceiveOk("jobs", 10);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "a");
  ASSERT_TRUE(q().Delete("jobs", got[0].receipt).ok());
  Advance(500);
  EXPECT_TRUE(q().Send("jobs", {"c", "g", "same"})->duplicate);  // acked, still in the window
  EXPECT_TRUE(ReceiveOk("jobs", 10).empty());
  Advance(600);  // window over
  auto late = q().Send("jobs", {"d", "g", "same"});
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->duplicate);
  EXPECT_NE(late->message_id, first);
  got = ReceiveOk("jobs", 10);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "d");
}

TEST_P(QueueConformance, ExpiredLeaseRedeliversWithNewReceipt) {
  QueueOptions options;
  options.visibility_timeout = milliseconds(1000);
  Make("jobs", options);
  SendOk("jobs", "a", "g", "1");
  auto first = ReceiveOk("jobs", 1);
  ASSERT_EQ(first.size(), 1u);
  Advance(999);
  EXPECT_TRUE(ReceiveOk("jobs", 1).empty());
  Advance(1);
  auto second = ReceiveOk("jobs", 1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].message_id, first[0].message_id);
  EXPECT_EQ(second[0].receive_count, 2);
  EXPECT_NE(second[0].receipt, first[0].receipt);
  EXPECT_EQ(q().Delete("jobs", first[0].receipt).code(), StatusCode::kNotFound);
  EXPECT_EQ(q().ChangeVisibility("jobs", first[0].receipt, milliseconds(5)).code(),
            StatusCode::kNotFound);
  EXPECT_TRUE(q().Delete("jobs", second[0].receipt).ok());
}

TEST_P(QueueConformance, ChangeVisibilityExtendsAndShortens) {
  Make("jobs");
  SendOk("jobs", "a", "g", "1");
  auto got = ReceiveOk("jobs", 1, 1000);
  ASSERT_EQ(got.size(), 1u);
  Advance(800);
  ASSERT_TRUE(q().ChangeVisibility("jobs", got[0].receipt, milliseconds(1000)).ok());
  Advance(900);  // 1700 after receive: past the first lease, within the extension
  EXPECT_TRUE(ReceiveOk("jobs", 1).empty());
  ASSERT_TRUE(q().ChangeVisibility("jobs", got[0].receipt, milliseconds(0)).ok());
  auto again = ReceiveOk("jobs", 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].receive_count, 2);
  EXPECT_EQ(q().ChangeVisibility("jobs", got[0].receipt, milliseconds(-1)).code(),
            StatusCode::kInvalidArgument);
}

TEST_P(QueueConformance, DeadLettersAfterMaxReceivesAndRedrives) {
  QueueOptions options;
  options.max_receive_count = 2;
  options.visibility_timeout = milliseconds(100);
  Make("jobs", options);
  std::string id = SendOk("jobs", "poison", "g", "1");
  std::string next = SendOk("jobs", "fine", "g", "2");
  for (int i = 1; i <= 2; ++i) {
    auto got = ReceiveOk("jobs", 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].message_id, id);
    EXPECT_EQ(got[0].receive_count, i);
    Advance(100);
  }
  auto got = ReceiveOk("jobs", 1);  // the poison moves; the group's next message flows
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, next);
  auto dead = q().ListDeadLetters("jobs", 10);
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].message_id, id);
  EXPECT_EQ((*dead)[0].body, "poison");
  EXPECT_EQ((*dead)[0].dead_letter_reason, "received 2 times without delete");
  EXPECT_EQ(q().Stats("jobs")->dead_letters, 1);
  ASSERT_TRUE(q().Delete("jobs", got[0].receipt).ok());
  auto moved = q().Redrive("jobs", 10);
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, 1);
  EXPECT_TRUE(q().ListDeadLetters("jobs", 10)->empty());
  got = ReceiveOk("jobs", 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, id);
  EXPECT_EQ(got[0].receive_count, 1);
  EXPECT_EQ(got[0].dead_letter_reason, "");
}

TEST_P(QueueConformance, StatsCountEverything) {
  Make("jobs");
  auto empty = q().Stats("jobs");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->visible + empty->in_flight + empty->oldest_age_ms + empty->sent, 0);
  SendOk("jobs", "a", "g1", "1");
  Advance(100);
  SendOk("jobs", "b", "g1", "2");
  SendOk("jobs", "c", "g2", "3");
  q().Send("jobs", {"dup", "g2", "3"}).status();
  Advance(50);
  auto got = ReceiveOk("jobs", 1);  // g1's head
  ASSERT_EQ(got.size(), 1u);
  auto stats = q().Stats("jobs");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->visible, 2);
  EXPECT_EQ(stats->in_flight, 1);
  EXPECT_EQ(stats->oldest_age_ms, 150);
  EXPECT_EQ(stats->sent, 3);
  EXPECT_EQ(stats->received, 1);
  EXPECT_EQ(stats->deleted, 0);
  EXPECT_EQ(stats->dead_letters, 0);
  ASSERT_TRUE(q().Delete("jobs", got[0].receipt).ok());
  stats = q().Stats("jobs");
  EXPECT_EQ(stats->deleted, 1);
  EXPECT_EQ(stats->oldest_age_ms, 50);
  EXPECT_EQ(q().Stats("nope").status().code(), StatusCode::kNotFound);
}

TEST_P(QueueConformance, PurgeEmptiesTheQueueOnly) {
  QueueOptions options;
  options.max_receive_count = 1;
  options.visibility_timeout = milliseconds(10);
  Make("jobs", options);
  Make("other");
  SendOk("jobs", "dead", "g", "0");
  ASSERT_EQ(ReceiveOk("jobs", 1).size(), 1u);
  Advance(10);
  SendOk("jobs", "a", "g2", "1");
  SendOk("other", "kept", "g", "1");
  ASSERT_EQ(ReceiveOk("jobs", 1)[0].body, "a");  // "dead" moved to the DLQ on the way
  SendOk("jobs", "b", "g3", "2");
  ASSERT_TRUE(q().Purge("jobs").ok());
  auto stats = q().Stats("jobs");
  EXPECT_EQ(stats->visible + stats->in_flight, 0);
  EXPECT_EQ(stats->dead_letters, 1);
  EXPECT_EQ(ReceiveOk("other", 10).size(), 1u);
  EXPECT_EQ(q().Purge("nope").code(), StatusCode::kNotFound);
}

TEST_P(QueueConformance, BatchSendIsAllOrNothing) {
  Make("jobs");
  std::vector<OutgoingMessage> batch = {{"a", "g", "1"}, {"b", "g", "2"}, {"c", "", "3"}};
  EXPECT_EQ(q().SendBatch("jobs", batch).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ReceiveOk("jobs", 10).empty());
  batch[2].group_id = "h";
  batch.push_back({"dup of a", "g", "1"});
  auto sent = q().SendBatch("jobs", batch);
  ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  ASSERT_EQ(sent->size(), 4u);
  EXPECT_TRUE((*sent)[3].duplicate);
  EXPECT_EQ((*sent)[3].message_id, (*sent)[0].message_id);
  auto got = ReceiveOk("jobs", 10);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(q().Stats("jobs")->sent, 3);
  std::vector<OutgoingMessage> big(11, OutgoingMessage{"x", "g", "d"});
  EXPECT_EQ(q().SendBatch("jobs", big).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(q().SendBatch("jobs", {}).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(QueueConformance, DeleteBatchReportsStaleReceipts) {
  QueueOptions options;
  options.visibility_timeout = milliseconds(100);
  Make("jobs", options);
  SendOk("jobs", "a", "g1", "1");
  SendOk("jobs", "b", "g2", "2");
  auto first = ReceiveOk("jobs", 10);
  ASSERT_EQ(first.size(), 2u);
  Advance(100);
  auto second = ReceiveOk("jobs", 1);  // g1's head again: first[0]'s receipt is stale
  ASSERT_EQ(second.size(), 1u);
  ASSERT_EQ(second[0].message_id, first[0].message_id);
  std::vector<std::string> receipts = {first[0].receipt, first[1].receipt, second[0].receipt};
  auto statuses = q().DeleteBatch("jobs", receipts);
  ASSERT_TRUE(statuses.ok());
  ASSERT_EQ(statuses->size(), 3u);
  EXPECT_EQ((*statuses)[0].code(), StatusCode::kNotFound);
  EXPECT_TRUE((*statuses)[1].ok());  // expired but not redelivered: still the holder's
  EXPECT_TRUE((*statuses)[2].ok());
  EXPECT_EQ(q().Stats("jobs")->deleted, 2);
}

TEST_P(QueueConformance, SendInTransactionCommitsAndRollsBackWithTheCaller) {
  Make("jobs");
  {
    auto tx = db().Begin(db::TxMode::kWrite);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE((*tx)->Exec("CREATE TABLE conf_jobs (id TEXT PRIMARY KEY)").ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  for (bool commit : {false, true}) {
    auto tx = db().Begin(db::TxMode::kWrite);
    ASSERT_TRUE(tx.ok());
    std::array<db::Value, 1> id = {std::string(commit ? "kept" : "dropped")};
    ASSERT_TRUE((*tx)->Exec("INSERT INTO conf_jobs (id) VALUES (?)", id).ok());
    auto sent = q().SendInTransaction(**tx, "jobs", {std::get<std::string>(id[0]), "g", "job"});
    ASSERT_TRUE(sent.ok()) << sent.status().ToString();
    if (commit) {
      ASSERT_TRUE((*tx)->Commit().ok());
      q().NotifyCommitted("jobs");
    }
  }
  auto got = ReceiveOk("jobs", 10);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "kept");
  auto tx = db().Begin(db::TxMode::kRead);
  auto rows = (*tx)->Query("SELECT id FROM conf_jobs");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].Text(0), "kept");
}

// An ack inside the caller's transaction: undone by a rollback (the message stays in flight, and
// its group blocked), done by the commit (the group's next message goes); a stale receipt is
// NotFound and leaves the transaction usable.
TEST_P(QueueConformance, DeleteInTransactionCommitsAndRollsBackWithTheCaller) {
  QueueOptions options;
  options.visibility_timeout = milliseconds(100);
  Make("jobs", options);
  SendOk("jobs", "first", "g", "1");
  SendOk("jobs", "second", "g", "2");
  auto held = ReceiveOk("jobs", 1);
  ASSERT_EQ(held.size(), 1u);
  {
    auto tx = db().Begin(db::TxMode::kWrite);
    ASSERT_TRUE(tx.ok());
    EXPECT_TRUE(q().DeleteInTransaction(**tx, "jobs", held[0].receipt).ok());
    // Dropped without a commit: rolled back.
  }
  EXPECT_TRUE(ReceiveOk("jobs", 10).empty());  // "first" is still in flight: g stays blocked
  EXPECT_EQ(q().Stats("jobs")->in_flight, 1);
  {
    auto tx = db().Begin(db::TxMode::kWrite);
    ASSERT_TRUE(tx.ok());
    EXPECT_EQ(q().DeleteInTransaction(**tx, "jobs", "not-a-receipt").code(), StatusCode::kNotFound);
    ASSERT_TRUE(q().DeleteInTransaction(**tx, "jobs", held[0].receipt).ok());
    ASSERT_TRUE((*tx)->Commit().ok());
    q().NotifyCommitted("jobs");
  }
  auto next = ReceiveOk("jobs", 10);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].body, "second");
  QueueStats stats = *q().Stats("jobs");
  EXPECT_EQ(stats.deleted, 1);
  EXPECT_EQ(stats.in_flight, 1);
  Advance(100);  // "second"'s lease runs out and it goes again: the old receipt is stale
  auto again = ReceiveOk("jobs", 10);
  ASSERT_EQ(again.size(), 1u);
  auto tx = db().Begin(db::TxMode::kWrite);
  ASSERT_TRUE(tx.ok());
  EXPECT_EQ(q().DeleteInTransaction(**tx, "jobs", next[0].receipt).code(), StatusCode::kNotFound);
  EXPECT_TRUE(q().DeleteInTransaction(**tx, "jobs", again[0].receipt).ok());
  ASSERT_TRUE((*tx)->Commit().ok());
  EXPECT_EQ(q().Stats("jobs")->deleted, 2);
}

TEST_P(QueueConformance, RejectsInvalidNamesIdsAndUnknownQueues) {
  EXPECT_EQ(q().EnsureQueue("", {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(q().EnsureQueue("bad name", {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(q().EnsureQueue(std::string(81, 'a'), {}).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(q().EnsureQueue(std::string(80, 'a'), {}).ok());
  QueueOptions bad;
  bad.visibility_timeout = std::chrono::hours(13);
  EXPECT_EQ(q().EnsureQueue("jobs", bad).code(), StatusCode::kInvalidArgument);
  bad = {};
  bad.max_receive_count = 0;
  EXPECT_EQ(q().EnsureQueue("jobs", bad).code(), StatusCode::kInvalidArgument);
  Make("jobs");
  EXPECT_EQ(q().Send("jobs", {"b", "", "d"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(q().Send("jobs", {"b", "g", std::string(129, 'd')}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(q().Send("nope", {"b", "g", "d"}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(q().Send("no/pe", {"b", "g", "d"}).status().code(), StatusCode::kInvalidArgument);
  ReceiveOptions options;
  options.max_messages = 11;
  EXPECT_EQ(q().Receive("jobs", options).status().code(), StatusCode::kInvalidArgument);
  options.max_messages = 1;
  options.wait = std::chrono::seconds(21);
  EXPECT_EQ(q().Receive("jobs", options).status().code(), StatusCode::kInvalidArgument);
  options.wait = {};
  EXPECT_EQ(q().Receive("nope", options).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(q().Delete("jobs", "no-such-receipt").code(), StatusCode::kNotFound);
  EXPECT_EQ(q().Delete("nope", "r").code(), StatusCode::kNotFound);
  EXPECT_EQ(q().ListDeadLetters("jobs", 0).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace imgpipe::queue
