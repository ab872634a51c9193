// The SQL queue on SQLite: the conformance suite on a temp file, durability across reopen, and
// kill -9 at random moments (sqlite_queue_crash_test.cc).
#include <memory>

#include "core/temp_dir.h"
#include "queue/queue_conformance.h"
#include "queue/sql_queue_internal.h"

namespace imgpipe::queue {
namespace {

using std::chrono::milliseconds;

// A temp folder with a database file in it; the database closes before the folder goes.
struct TempDatabase {
  core::TempDir dir{"queue"};
  std::unique_ptr<db::Database> db;
};

core::Result<QueueHarness> MakeSqliteHarness(const ServiceOptions& options) {
  auto owned = std::make_shared<TempDatabase>();
  IMGPIPE_ASSIGN_OR_RETURN(owned->db, db::OpenSqlite(owned->dir.path() + "/queue.db"));
  QueueHarness harness;
  harness.db = owned->db.get();
  IMGPIPE_ASSIGN_OR_RETURN(harness.service, NewSqlQueueService(*owned->db, options));
  harness.owned = std::move(owned);
  return harness;
}

IMGPIPE_INSTANTIATE_QUEUE_CONFORMANCE(SqliteFile, MakeSqliteHarness);

TEST(SqliteQueueTest, MessagesSurviveReopen) {
  core::TempDir dir("queue");
  std::string path = dir.path() + "/queue.db";
  std::string in_flight_id;
  {
    auto db = db::OpenSqlite(path);
    ASSERT_TRUE(db.ok());
    auto service = NewSqlQueueService(**db);
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    ASSERT_TRUE((*service)->EnsureQueue("jobs", {}).ok());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(
          (*service)
              ->Send("jobs", {std::to_string(i), "g" + std::to_string(i), "d" + std::to_string(i)})
              .ok());
    }
    ReceiveOptions options;
    options.visibility_timeout = milliseconds(0);  // visible again at once
    auto got = (*service)->Receive("jobs", options);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 1u);
    in_flight_id = (*got)[0].message_id;
  }
  auto db = db::OpenSqlite(path);
  ASSERT_TRUE(db.ok());
  auto service = NewSqlQueueService(**db);  // the schema is applied once only
  ASSERT_TRUE(service.ok()) << service.status().ToString();
  ReceiveOptions options;
  options.max_messages = 10;
  auto got = (*service)->Receive("jobs", options);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0].message_id, in_flight_id);
  EXPECT_EQ((*got)[0].receive_count, 2);
  EXPECT_EQ((*got)[1].body, "1");
  EXPECT_EQ((*got)[2].body, "2");
  EXPECT_EQ((*service)->Stats("jobs")->sent, 3);
}

// A database from before group chains (schema steps 1-21, messages found through the group
// index) keeps its messages, in order, once the chains are built by the later steps.
TEST(SqliteQueueTest, MessagesSentBeforeGroupChainsKeepTheirOrder) {
  core::TempDir dir("queue");
  auto db = db::OpenSqlite(dir.path() + "/queue.db");
  ASSERT_TRUE(db.ok());
  std::vector<std::string_view> steps = internal::Schema(db::Dialect::kSqlite);
  ASSERT_GT(steps.size(), 21u);
  ASSERT_TRUE(db::Migrate(**db, "queue", std::span(steps).first(21)).ok());
  {
    auto tx = (*db)->Begin(db::TxMode::kWrite);
    ASSERT_TRUE(tx.ok());
    for (const char* sql : {
             "INSERT INTO queue_queues VALUES (1, 'jobs', 30000, 5, 300000, 0),"
             " (2, 'jobs.dlq', 30000, 5, 300000, 0)",
             "INSERT INTO queue_messages (queue_id, seq, message_id, group_id, dedup_id, body,"
             " sent_at_ms, visible_at_ms, receive_count, receipt, dead_reason) VALUES"
             " (1, 1, 'm1', 'a', 'd1', 'a1', 0, 0, 0, NULL, ''),"
             " (1, 2, 'm2', 'b', 'd2', 'b1', 0, 0, 0, NULL, ''),"
             " (1, 3, 'm3', 'a', 'd3', 'a2', 0, 0, 0, NULL, ''),"
             " (1, 4, 'm4', 'a', 'd4', 'a3', 0, 0, 0, NULL, '')",
             "INSERT INTO queue_groups VALUES (1, 'a', 1, 0, 0), (1, 'b', 2, 0, 0)",
             "UPDATE queue_seq SET value = 4",
         }) {
      ASSERT_TRUE((*tx)->Exec(sql).ok()) << sql;
    }
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  auto service = NewSqlQueueService(**db);  // applies the chain steps
  ASSERT_TRUE(service.ok()) << service.status().ToString();
  {
    auto tx = (*db)->Begin(db::TxMode::kRead);
    ASSERT_TRUE(tx.ok());
    auto links = (*tx)->Query("SELECT seq, COALESCE(next_seq, 0) FROM queue_messages ORDER BY seq");
    ASSERT_TRUE(links.ok());
    std::vector<std::pair<int64_t, int64_t>> got;
    for (const auto& r : *links) got.emplace_back(r.Int(0), r.Int(1));
    EXPECT_EQ(got, (std::vector<std::pair<int64_t, int64_t>>{{1, 3}, {2, 0}, {3, 4}, {4, 0}}));
    auto index =
        (*tx)->Query("SELECT COUNT(*) FROM sqlite_master WHERE name = 'queue_messages_by_group'");
    ASSERT_TRUE(index.ok());
    EXPECT_EQ(index->front().Int(0), 0);
  }
  ASSERT_TRUE((*service)->Send("jobs", {"b2", "b", "d5"}).ok());
  ReceiveOptions options;
  options.max_messages = 10;
  auto got = (*service)->Receive("jobs", options);
  ASSERT_TRUE(got.ok());
  std::vector<std::string> bodies;
  for (const auto& m : *got) bodies.push_back(m.body);
  EXPECT_EQ(bodies, (std::vector<std::string>{"a1", "b1", "a2", "b2", "a3"}));
}

}  // namespace
}  // namespace imgpipe::queue
