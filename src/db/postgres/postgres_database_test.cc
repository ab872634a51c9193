// The conformance suite and PostgreSQL-specific tests, against one throwaway PostgreSQL 15 per
// test binary (a gtest global environment). A missing PostgreSQL fails every test, loudly.
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <latch>
#include <mutex>
#include <thread>
#include <vector>

#include "db/database_conformance.h"
#include "db/postgres.h"
#include "db/postgres/test_server.h"
#include "db/postgres/test_support.h"

namespace imgpipe::db {
namespace {

using core::StatusCode;
using postgres::TestServer;

// The shared server and fresh databases come from test_support.
core::Result<std::string> FreshDatabase() { return postgres::FreshTestDatabaseUrl(); }

core::Result<std::unique_ptr<Database>> OpenFresh(const PostgresOptions& options = {}) {
  IMGPIPE_ASSIGN_OR_RETURN(std::string url, FreshDatabase());
  return OpenPostgres(url, options);
}

IMGPIPE_INSTANTIATE_DATABASE_CONFORMANCE(Postgres, [] { return OpenFresh(); });

std::unique_ptr<Database> MustOpenFresh(const PostgresOptions& options = {}) {
  auto db = OpenFresh(options);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(db).value() : nullptr;
}

core::Status ExecCommitted(Database& db, std::string_view sql, std::span<const Value> params = {}) {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db.Begin(TxMode::kWrite));
  IMGPIPE_RETURN_IF_ERROR(tx->Exec(sql, params).status());
  return tx->Commit();
}

core::Result<std::vector<Row>> QueryOnce(Database& db, std::string_view sql,
                                         std::span<const Value> params = {}) {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db.Begin(TxMode::kRead));
  return tx->Query(sql, params);
}

TEST(TestServerTest, MissingBinariesFailClearly) {
  TestServer server("/nonexistent/postgresql/bin");
  core::Status status = server.Start();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("PostgreSQL 15 is not installed"), std::string::npos)
      << status.ToString();
  EXPECT_NE(status.message().find("install-deps.sh"), std::string::npos);
}

TEST(PostgresDatabaseTest, DescribeHidesThePassword) {
  ASSERT_NE(postgres::SharedTestServer(), nullptr) << postgres::SharedTestServerError();
  const std::string url = "postgresql://postgres:s3cret@127.0.0.1:" +
                          std::to_string(postgres::SharedTestServer()->port()) + "/imgpipe_test";
  auto db = OpenPostgres(url);  // trust auth ignores the password
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  EXPECT_EQ((*db)->Describe(), "postgresql://postgres@127.0.0.1:" +
                                   std::to_string(postgres::SharedTestServer()->port()) +
                                   "/imgpipe_test");
  EXPECT_EQ((*db)->dialect(), Dialect::kPostgres);
}

TEST(PostgresDatabaseTest, RefusedConnectionIsUnavailableWithAClearMessage) {
  // Port 1 on loopback: nobody listens there.
  auto db = OpenPostgres("postgresql://postgres:s3cret@127.0.0.1:1/nowhere");
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kUnavailable) << db.status().ToString();
  EXPECT_NE(db.status().message().find("cannot connect to PostgreSQL"), std::string::npos);
  EXPECT_NE(db.status().message().find("127.0.0.1:1/nowhere"), std::string::npos);
  EXPECT_EQ(db.status().message().find("s3cret"), std::string::npos);
  EXPECT_EQ(OpenPostgres("postgresql://[bad").status().code(), StatusCode::kInvalidArgument);
}

TEST(PostgresDatabaseTest, AnUnparsableUrlIsRefusedWithoutEchoingThePassword) {
  // libpq quotes the bad token, or the whole URL, in its reason; the password must not follow
  // it into the error (printed at start, logged).
  const std::string urls[] = {
      "postgresql://postgres:s3cr%zzet@127.0.0.1/db",           // bad percent-encoding
      "postgresql://postgres:s3cret@[127.0.0.1/db",             // unterminated IPv6 host
      "postgresql://postgres@127.0.0.1/db?password=s3c%zzret",  // bad encoding in a parameter
      "host=127.0.0.1 password=x s3cret dbname=db",             // key=value form: no "="
  };
  for (const std::string& url : urls) {
    auto db = OpenPostgres(url);
    ASSERT_FALSE(db.ok()) << url;
    EXPECT_EQ(db.status().code(), StatusCode::kInvalidArgument) << url;
    EXPECT_NE(db.status().message().find("bad PostgreSQL URL: "), std::string::npos)
        << db.status().message();
    EXPECT_EQ(db.status().message().find("s3c"), std::string::npos) << db.status().message();
  }
}

TEST(PostgresDatabaseTest, QuestionMarksInLiteralsAreNotPlaceholders) {
  auto db = MustOpenFresh();
  ASSERT_NE(db, nullptr);
  const Value params[] = {int64_t{5}, std::string("x?")};
  auto rows = QueryOnce(
      *db, "SELECT '?', ?, 'it''s ?', ? /* ? */, \"?\" FROM (SELECT 1 AS \"?\") s", params);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  const Row& row = rows->front();
  EXPECT_EQ(row.Text(0), "?");
  EXPECT_EQ(std::get<int64_t>(row.at(1)), 5);
  EXPECT_EQ(row.Text(2), "it's ?");
  EXPECT_EQ(row.Text(3), "x?");
  EXPECT_EQ(row.Int(4), 1);
}

TEST(PostgresDatabaseTest, PortableDdlGetsPostgresTypes) {
  auto db = MustOpenFresh();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(ExecCommitted(*db, "CREATE TABLE d (i INTEGER, r REAL, b BLOB, t TEXT)").ok());
  ASSERT_TRUE(ExecCommitted(*db, "ALTER TABLE d ADD COLUMN j INTEGER").ok());
  auto rows = QueryOnce(*db,
                        "SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_name = 'd' ORDER BY ordinal_position");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  std::vector<std::string> got;
  for (const Row& row : *rows) got.push_back(row.Text(0) + ":" + row.Text(1));
  EXPECT_EQ(got, (std::vector<std::string>{"i:bigint", "r:double precision", "b:bytea", "t:text",
                                           "j:bigint"}));
  // 64-bit integers and full-precision doubles fit.
  const Value params[] = {int64_t{1} << 40, 0.1 + 0.2, 1e-300};
  ASSERT_TRUE(ExecCommitted(*db, "INSERT INTO d (i, r, j) VALUES (?, ?, 0)",
                            std::span<const Value>(params, 2))
                  .ok());
  ASSERT_TRUE(ExecCommitted(*db, "INSERT INTO d (i, r, j) VALUES (0, ?, 1)",
                            std::span<const Value>(params + 2, 1))
                  .ok());
  auto back = QueryOnce(*db, "SELECT i, r FROM d ORDER BY j");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ(std::get<int64_t>((*back)[0].at(0)), int64_t{1} << 40);
  EXPECT_EQ(std::get<double>((*back)[0].at(1)), 0.1 + 0.2);
  EXPECT_EQ(std::get<double>((*back)[1].at(1)), 1e-300);
}

TEST(PostgresDatabaseTest, ByteaBindsAndCompares) {
  auto db = MustOpenFresh();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(ExecCommitted(*db, "CREATE TABLE b (k TEXT, v BLOB)").ok());
  const std::string bytes("\0\x01\xff\\x'\"?", 8);
  const Value params[] = {std::string("k"), Blob{bytes}};
  ASSERT_TRUE(ExecCommitted(*db, "INSERT INTO b (k, v) VALUES (?, ?)", params).ok());
  const Value where[] = {Blob{bytes}};
  auto rows = QueryOnce(*db, "SELECT k, v, length(v) FROM b WHERE v = ?", where);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(std::get<Blob>(rows->front().at(1)).bytes, bytes);
  EXPECT_EQ(rows->front().Int(2), 8);
}

TEST(PostgresDatabaseTest, ResultTypesMapToValues) {
  auto db = MustOpenFresh();
  ASSERT_NE(db, nullptr);
  auto rows = QueryOnce(*db,
                        "SELECT 1::int2, 2::int4, 3::int8, 1.5::float4, 2.25::numeric, true, "
                        "'x'::varchar, sum(x) FROM (VALUES (1::int8), (2)) v(x)");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  const Row& row = rows->front();
  EXPECT_EQ(std::get<int64_t>(row.at(0)), 1);
  EXPECT_EQ(std::get<int64_t>(row.at(1)), 2);
  EXPECT_EQ(std::get<int64_t>(row.at(2)), 3);
  EXPECT_EQ(std::get<double>(row.at(3)), 1.5);
  EXPECT_EQ(std::get<double>(row.at(4)), 2.25);
  EXPECT_EQ(std::get<int64_t>(row.at(5)), 1);
  EXPECT_EQ(std::get<std::string>(row.at(6)), "x");
  EXPECT_EQ(row.Int(7), 3);  // sum(int8) is numeric
}

// Two writers update two rows in opposite orders: PostgreSQL aborts one of them with a deadlock
// (40P01) and Write runs that one again, so both succeed and each update counts once.
TEST(PostgresDatabaseTest, WriteRunsADeadlockedTransactionAgain) {
  auto db = MustOpenFresh();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(
      ExecCommitted(*db, "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)").ok());
  ASSERT_TRUE(ExecCommitted(*db, "INSERT INTO t (id, n) VALUES (1, 0), (2, 0)").ok());
  std::latch both_hold_their_first_row(2);
  std::atomic<int> runs{0};
  std::mutex failures_mu;
  std::vector<std::string> failures;  // what each failed run saw, for the failure message
  auto writer = [&](int64_t first, int64_t second) {
    bool first_run = true;
    return db->Write(/*durable=*/true, [&, first, second](Transaction& tx) -> core::Status {
      ++runs;
      core::Status status = [&]() -> core::Status {
        Value a[] = {first};
        IMGPIPE_RETURN_IF_ERROR(tx.Exec("UPDATE t SET n = n + 1 WHERE id = ?", a).status());
        if (first_run) {
          first_run = false;
          both_hold_their_first_row.arrive_and_wait();
        }
        Value b[] = {second};
        return tx.Exec("UPDATE t SET n = n + 1 WHERE id = ?", b).status();
      }();
      if (!status.ok()) {
        std::lock_guard lock(failures_mu);
        failures.push_back(std::to_string(first) + ": " + status.ToString());
      }
      return status;
    });
  };
  core::Status other;
  std::thread thread([&] { other = writer(2, 1); });
  core::Status mine = writer(1, 2);
  thread.join();
  EXPECT_TRUE(mine.ok()) << mine.ToString();
  EXPECT_TRUE(other.ok()) << other.ToString();
  // At least one run was a deadlock's victim and ran again. There can be more: when the victim's
  // new run takes its first row before the woken winner locks it, the two deadlock once more
  // (seen under ASan on a loaded machine), so the count is not fixed at 3.
  ASSERT_FALSE(failures.empty());
  for (const std::string& failure : failures) {
    EXPECT_NE(failure.find("(SQLSTATE 40P01)"), std::string::npos) << failure;
  }
  EXPECT_EQ(runs.load(), 2 + static_cast<int>(failures.size()));
  auto rows = QueryOnce(*db, "SELECT n FROM t ORDER BY id");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].Int(0), 2);
  EXPECT_EQ((*rows)[1].Int(0), 2);
}

TEST(PostgresDatabaseTest, TransactionConflictsAreRecognised) {
  EXPECT_TRUE(IsTransactionConflict(
      core::Status::Unavailable("UPDATE: ERROR: deadlock detected (SQLSTATE 40P01)")));
  EXPECT_TRUE(IsTransactionConflict(
      core::Status::Unavailable("COMMIT: ERROR: could not serialize access (SQLSTATE 40001)")));
  EXPECT_FALSE(IsTransactionConflict(core::Status::Unavailable("connection refused")));
  EXPECT_FALSE(IsTransactionConflict(core::Status::Internal("x (SQLSTATE 40P01)")));
}

TEST(PostgresDatabaseTest, UniqueViolationIsAlreadyExists) {
  auto db = MustOpenFresh();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(ExecCommitted(*db, "CREATE TABLE u (k TEXT PRIMARY KEY)").ok());
  ASSERT_TRUE(ExecCommitted(*db, "INSERT INTO u (k) VALUES ('a')").ok());
  core::Status dup = ExecCommitted(*db, "INSERT INTO u (k) VALUES ('a')");
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists) << dup.ToString();
  EXPECT_NE(dup.message().find("23505"), std::string::npos) << dup.ToString();
}

// The statements pacs' schema and queries rely on.
TEST(PostgresDatabaseTest, PacsStyleStatementsWork) {
  auto db = MustOpenFresh();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(ExecCommitted(*db,
                            "CREATE TABLE s (uid TEXT PRIMARY KEY, name TEXT, "
                            "study_date TEXT, n INTEGER NOT NULL DEFAULT 0)")
                  .ok());
  ASSERT_TRUE(ExecCommitted(*db, "CREATE INDEX s_by_date ON s (study_date DESC, uid)").ok());
  const char* insert =
      "INSERT INTO s (uid, name, study_date) VALUES (?, ?, ?) "
      "ON CONFLICT (uid) DO NOTHING";
  const Value a[] = {std::string("1"), std::string("50%_off"), std::string("20240101")};
  const Value b[] = {std::string("2"), std::string("500 off"), std::string("20240202")};
  ASSERT_TRUE(ExecCommitted(*db, insert, a).ok());
  ASSERT_TRUE(ExecCommitted(*db, insert, b).ok());
  ASSERT_TRUE(ExecCommitted(*db, insert, a).ok());  // a duplicate, ignored
  const Value pattern[] = {std::string("50\\%\\_%")};
  auto rows = QueryOnce(*db,
                        "SELECT uid FROM s WHERE name LIKE ? ESCAPE '\\' "
                        "ORDER BY study_date DESC, uid",
                        pattern);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().Text(0), "1");
}

TEST(PostgresDatabaseTest, PoolTimesOutWhenEveryConnectionIsBusy) {
  auto db = MustOpenFresh({.pool_size = 1, .checkout_timeout_ms = 50});
  ASSERT_NE(db, nullptr);
  auto held = db->Begin(TxMode::kRead);
  ASSERT_TRUE(held.ok());
  auto second = db->Begin(TxMode::kRead);
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  held->reset();
  EXPECT_TRUE(db->Begin(TxMode::kRead).ok());
}

TEST(PostgresDatabaseTest, ConcurrentMigrateFromTwoDatabases) {
  auto url = FreshDatabase();
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  auto db1 = OpenPostgres(*url);
  auto db2 = OpenPostgres(*url);
  ASSERT_TRUE(db1.ok() && db2.ok());
  const std::string_view steps[] = {
      "CREATE TABLE mg (x INTEGER PRIMARY KEY)",
      "INSERT INTO mg (x) VALUES (1)",
      "INSERT INTO mg (x) VALUES (2)",
  };
  constexpr int kThreads = 6;
  std::latch start(kThreads);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    Database* db = t % 2 == 0 ? db1->get() : db2->get();
    threads.emplace_back([&, db] {
      start.arrive_and_wait();
      if (!Migrate(*db, "pg", steps).ok()) ++errors;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  auto rows = QueryOnce(**db1, "SELECT count(*), sum(x) FROM mg");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(rows->front().Int(0), 2);
  EXPECT_EQ(rows->front().Int(1), 3);
}

TEST(PostgresDatabaseTest, PoolRecoversAfterServerRestart) {
  auto db = MustOpenFresh({.pool_size = 3});
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(ExecCommitted(*db, "CREATE TABLE k (x INTEGER)").ok());
  {
    // Fill the pool with live connections.
    auto a = db->Begin(TxMode::kRead), b = db->Begin(TxMode::kRead), c = db->Begin(TxMode::kRead);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  }
  auto open = db->Begin(TxMode::kWrite);
  ASSERT_TRUE(open.ok());
  ASSERT_TRUE((*open)->Exec("INSERT INTO k (x) VALUES (1)").ok());
  ASSERT_TRUE(postgres::SharedTestServer()->Restart().ok());
  // The transaction that spanned the restart fails as Unavailable, and stays failed.
  EXPECT_EQ((*open)->Exec("INSERT INTO k (x) VALUES (2)").status().code(),
            StatusCode::kUnavailable);
  EXPECT_EQ((*open)->Commit().code(), StatusCode::kUnavailable);
  open->reset();
  // Every pooled connection is dead; new transactions get fresh ones.
  for (int i = 0; i < 5; ++i) {
    core::Status status = ExecCommitted(*db, "INSERT INTO k (x) VALUES (3)");
    EXPECT_TRUE(status.ok()) << status.ToString();
  }
  auto rows = QueryOnce(*db, "SELECT count(*) FROM k");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(rows->front().Int(0), 5);
}

// LISTEN/NOTIFY: a notification sent by a committed transaction reaches the subscriber with
// its payload; a rolled-back one does not; after the subscription is gone nothing arrives.
TEST(PostgresDatabaseTest, ListenDeliversCommittedNotifications) {
  auto db = MustOpenFresh();
  ASSERT_NE(db, nullptr);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> got;
  auto subscription = db->Listen("test_channel", [&](std::string_view payload) {
    std::lock_guard lock(mu);
    got.emplace_back(payload);
    cv.notify_all();
  });
  ASSERT_TRUE(subscription.ok()) << subscription.status().ToString();
  auto notify = [&](const std::string& payload, bool commit) {
    auto tx = db->Begin(TxMode::kWrite);
    ASSERT_TRUE(tx.ok());
    const Value params[] = {std::string("test_channel"), payload};
    ASSERT_TRUE((*tx)->Query("SELECT pg_notify(?, ?)", params).ok());
    if (commit) {
      ASSERT_TRUE((*tx)->Commit().ok());
    }
  };
  notify("rolled-back", false);
  notify("one", true);
  notify("two", true);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return got.size() >= 2; }));
    EXPECT_EQ(got, (std::vector<std::string>{"one", "two"}));
  }
  subscription->reset();
  notify("after", true);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::lock_guard lock(mu);
  EXPECT_EQ(got.size(), 2u);
}

TEST(PostgresDatabaseTest, ListenRejectsBadChannelNames) {
  auto db = MustOpenFresh();
  ASSERT_NE(db, nullptr);
  for (const char* bad : {"", "Upper", "1abc", "semi;colon", "a-b"}) {
    auto subscription = db->Listen(bad, [](std::string_view) {});
    EXPECT_EQ(subscription.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

// Maintain runs outside a transaction (VACUUM refuses to run inside one) and reports errors.
TEST(PostgresDatabaseTest, MaintainRunsVacuum) {
  auto db = MustOpenFresh();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(ExecCommitted(*db, "CREATE TABLE v (x INTEGER)").ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ExecCommitted(*db, "INSERT INTO v (x) VALUES (1)").ok());
  ASSERT_TRUE(ExecCommitted(*db, "DELETE FROM v").ok());
  core::Status vacuumed = db->Maintain("VACUUM (SKIP_LOCKED) v");
  EXPECT_TRUE(vacuumed.ok()) << vacuumed.ToString();
  EXPECT_FALSE(db->Maintain("VACUUM no_such_table").ok());
  EXPECT_TRUE(ExecCommitted(*db, "INSERT INTO v (x) VALUES (2)").ok());  // the pool still works
}

}  // namespace
}  // namespace imgpipe::db
