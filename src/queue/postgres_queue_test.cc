// The SQL queue on PostgreSQL: the same conformance suite, on a fresh database of a throwaway
// PostgreSQL 15 (one server per test binary; db/postgres/test_support.h).
#include <atomic>
#include <memory>
#include <thread>

#include "db/postgres/test_support.h"
#include "queue/queue_conformance.h"

namespace imgpipe::queue {
namespace {

core::Result<QueueHarness> MakePostgresHarness(const ServiceOptions& options) {
  std::shared_ptr<db::Database> owned;
  IMGPIPE_ASSIGN_OR_RETURN(owned, db::postgres::OpenFreshTestDatabase());
  QueueHarness harness;
  harness.db = owned.get();
  IMGPIPE_ASSIGN_OR_RETURN(harness.service, NewSqlQueueService(*owned, options));
  harness.owned = std::move(owned);
  return harness;
}

IMGPIPE_INSTANTIATE_QUEUE_CONFORMANCE(Postgres, MakePostgresHarness);

}  // namespace
}  // namespace imgpipe::queue

namespace imgpipe::queue {
namespace {

// Two services on one database, as two processes would have: the second one's long poll is
// woken by the first one's send through LISTEN/NOTIFY, well before its 1 s poll tick.
TEST(PostgresQueueTest, SendInOneServiceWakesLongPollInAnother) {
  auto url = db::postgres::FreshTestDatabaseUrl();
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  auto db_a = db::OpenPostgres(*url);
  auto db_b = db::OpenPostgres(*url);
  ASSERT_TRUE(db_a.ok() && db_b.ok());
  auto a = NewSqlQueueService(**db_a);
  auto b = NewSqlQueueService(**db_b);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*a)->EnsureQueue("jobs", {}).ok());
  for (int round = 0; round < 3; ++round) {
    std::atomic<bool> waiting{false};
    core::Result<std::vector<Message>> got = std::vector<Message>{};
    std::chrono::steady_clock::duration took{};
    std::thread receiver([&] {
      ReceiveOptions options;
      options.wait = std::chrono::seconds(10);
      waiting = true;
      auto start = std::chrono::steady_clock::now();
      got = (*b)->Receive("jobs", options);
      took = std::chrono::steady_clock::now() - start;
    });
    while (!waiting) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // parked in its wait
    ASSERT_TRUE((*a)->Send("jobs", {"x", "g", "d" + std::to_string(round)}).ok());
    receiver.join();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), 1u);
    EXPECT_LT(took, std::chrono::milliseconds(900));  // woken, not found by the poll tick
    EXPECT_TRUE((*b)->Delete("jobs", (*got)[0].receipt).ok());
  }
}

}  // namespace
}  // namespace imgpipe::queue
