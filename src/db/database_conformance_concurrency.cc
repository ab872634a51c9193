// Conformance: concurrent transactions and Migrate.
#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "db/database_conformance.h"

namespace imgpipe::db {
namespace {

using core::StatusCode;

TEST_P(DatabaseConformance, ConcurrentWritersLoseNothing) {
  ExecCommitted("CREATE TABLE cw (thread INTEGER, i INTEGER, PRIMARY KEY (thread, i))");
  constexpr int kThreads = 8, kRows = 200;
  std::atomic<int> errors{0};
  std::string first_error;
  std::mutex error_mu;
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kRows; ++i) {
        core::Status status = [&]() -> core::Status {
          IMGPIPE_ASSIGN_OR_RETURN(auto tx, db().Begin(TxMode::kWrite));
          const Value params[] = {int64_t{t}, int64_t{i}};
          IMGPIPE_RETURN_IF_ERROR(
              tx->Exec("INSERT INTO cw (thread, i) VALUES (?, ?)", params).status());
          return tx->Commit();
        }();
        if (!status.ok()) {
          std::lock_guard lock(error_mu);
          if (errors++ == 0) first_error = status.ToString();
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0) << first_error;
  EXPECT_EQ(Count("cw"), kThreads * kRows);
}

// Readers running beside a writer see whole transactions only (rows arrive in pairs) and no
// errors: they neither fail on the writer's lock nor block it forever.
TEST_P(DatabaseConformance, ReadersBesideAWriterSeeWholeTransactions) {
  ExecCommitted("CREATE TABLE rw (i INTEGER)");
  constexpr int kCommits = 150;
  std::atomic<bool> done{false};
  std::atomic<int> errors{0}, torn{0}, reads{0};
  std::thread writer([&] {
    for (int i = 0; i < kCommits; ++i) {
      auto tx = db().Begin(TxMode::kWrite);
      if (!tx.ok()) {
        ++errors;
        continue;
      }
      const Value params[] = {int64_t{i}};
      bool ok = (*tx)->Exec("INSERT INTO rw (i) VALUES (?)", params).ok() &&
                (*tx)->Exec("INSERT INTO rw (i) VALUES (?)", params).ok() && (*tx)->Commit().ok();
      if (!ok) ++errors;
    }
    done = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      int64_t last = 0;
      do {
        auto tx = db().Begin(TxMode::kRead);
        if (!tx.ok()) {
          ++errors;
          continue;
        }
        auto rows = (*tx)->Query("SELECT count(*) FROM rw");
        if (!rows.ok()) {
          ++errors;
          continue;
        }
        int64_t count = rows->front().Int(0);
        ++reads;
        if (count % 2 != 0 || count < last) ++torn;
        last = count;
      } while (!done.load());
    });
  }
  writer.join();
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(Count("rw"), 2 * kCommits);
}

std::vector<int64_t> Column(Database& db, std::string_view sql) {
  std::vector<int64_t> out;
  auto tx = db.Begin(TxMode::kRead);
  EXPECT_TRUE(tx.ok());
  if (!tx.ok()) return out;
  auto rows = (*tx)->Query(sql);
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  if (!rows.ok()) return out;
  for (const Row& row : *rows) out.push_back(row.Int(0));
  return out;
}

TEST_P(DatabaseConformance, MigrateAppliesStepsOnceInOrder) {
  std::vector<std::string_view> steps = {
      "CREATE TABLE m (seq INTEGER PRIMARY KEY, step INTEGER)",
      "INSERT INTO m (seq, step) SELECT count(*) + 1, 2 FROM m",
      "INSERT INTO m (seq, step) SELECT count(*) + 1, 3 FROM m",
  };
  ASSERT_TRUE(Migrate(db(), "alpha", steps).ok());
  ASSERT_TRUE(Migrate(db(), "alpha", steps).ok());  // idempotent
  EXPECT_EQ(Column(db(), "SELECT step FROM m ORDER BY seq"), (std::vector<int64_t>{2, 3}));

  steps.push_back("INSERT INTO m (seq, step) SELECT count(*) + 1, 4 FROM m");
  ASSERT_TRUE(Migrate(db(), "alpha", steps).ok());  // only the new step runs
  EXPECT_EQ(Column(db(), "SELECT step FROM m ORDER BY seq"), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(Column(db(), "SELECT version FROM imgpipe_schema WHERE component = 'alpha'"),
            (std::vector<int64_t>{4}));

  // Components are independent.
  const std::string_view beta[] = {"CREATE TABLE beta_t (x INTEGER)"};
  ASSERT_TRUE(Migrate(db(), "beta", beta).ok());
  EXPECT_EQ(Column(db(), "SELECT version FROM imgpipe_schema ORDER BY component"),
            (std::vector<int64_t>{4, 1}));
}

TEST_P(DatabaseConformance, MigrateStopsAtAFailingStepAndResumes) {
  std::vector<std::string_view> steps = {"CREATE TABLE f (x INTEGER)",
                                         "INSERT INTO nowhere VALUES (1)"};
  core::Status failed = Migrate(db(), "gamma", steps);
  EXPECT_EQ(failed.code(), StatusCode::kInternal) << failed.ToString();
  EXPECT_EQ(Column(db(), "SELECT version FROM imgpipe_schema WHERE component = 'gamma'"),
            (std::vector<int64_t>{1}));
  steps[1] = "INSERT INTO f (x) VALUES (1)";
  ASSERT_TRUE(Migrate(db(), "gamma", steps).ok());
  EXPECT_EQ(Count("f"), 1);
}

TEST_P(DatabaseConformance, ConcurrentMigrateAppliesEachStepOnce) {
  const std::string_view steps[] = {
      "CREATE TABLE cm (x INTEGER)",
      "INSERT INTO cm (x) VALUES (1)",
      "INSERT INTO cm (x) VALUES (2)",
      "INSERT INTO cm (x) VALUES (3)",
  };
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      if (!Migrate(db(), "delta", steps).ok()) ++errors;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(Column(db(), "SELECT x FROM cm ORDER BY x"), (std::vector<int64_t>{1, 2, 3}));
}

}  // namespace
}  // namespace imgpipe::db
