// The SQL queue on SQLite: the conformance suite on a temp file, durability across reopen, and
// kill -9 at random moments (sqlite_queue_crash_test.cc).
#include <memory>

#include "core/temp_dir.h"
#include "queue/queue_conformance.h"

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

}  // namespace
}  // namespace imgpipe::queue
