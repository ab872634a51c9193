#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "core/temp_dir.h"
#include "db/database_conformance.h"

namespace imgpipe::db {
namespace {

namespace stdfs = std::filesystem;
using core::StatusCode;

// Temp folders named for this suite.
class TempDir : public core::TempDir {
 public:
  TempDir() : core::TempDir("db") {}
};

// A file database that owns (and removes) its temp folder, for the conformance suite.
class TempFileDatabase final : public Database {
 public:
  static core::Result<std::unique_ptr<Database>> Open() {
    auto self = std::make_unique<TempFileDatabase>();
    IMGPIPE_ASSIGN_OR_RETURN(self->inner_, OpenSqlite(self->dir_.path() + "/test.db"));
    return std::unique_ptr<Database>(std::move(self));
  }
  ~TempFileDatabase() override { inner_.reset(); }  // before dir_ goes
  core::Result<std::unique_ptr<Transaction>> Begin(TxMode mode) override {
    return inner_->Begin(mode);
  }
  Dialect dialect() const override { return inner_->dialect(); }
  std::string Describe() const override { return inner_->Describe(); }

 private:
  TempDir dir_;
  std::unique_ptr<Database> inner_;
};

IMGPIPE_INSTANTIATE_DATABASE_CONFORMANCE(SqliteFile, [] { return TempFileDatabase::Open(); });
IMGPIPE_INSTANTIATE_DATABASE_CONFORMANCE(SqliteMemory, [] { return OpenSqlite(":memory:"); });

std::unique_ptr<Database> MustOpen(const std::string& path, const SqliteOptions& options = {}) {
  auto db = OpenSqlite(path, options);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(db).value() : nullptr;
}

std::string QueryText(Database& db, std::string_view sql) {
  auto tx = db.Begin(TxMode::kRead);
  if (!tx.ok()) return "begin failed: " + tx.status().ToString();
  auto rows = (*tx)->Query(sql);
  if (!rows.ok()) return "query failed: " + rows.status().ToString();
  return rows->empty() ? "" : rows->front().Text(0);
}

core::Status ExecCommitted(Database& db, std::string_view sql) {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db.Begin(TxMode::kWrite));
  IMGPIPE_RETURN_IF_ERROR(tx->Exec(sql).status());
  return tx->Commit();
}

TEST(SqliteDatabaseTest, DataSurvivesReopenAndUsesWal) {
  TempDir dir;
  std::string path = dir.path() + "/meta.db";
  {
    auto db = MustOpen(path);
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(db->Describe(), "sqlite:" + path);
    EXPECT_EQ(db->dialect(), Dialect::kSqlite);
    ASSERT_TRUE(ExecCommitted(*db, "CREATE TABLE t (x TEXT)").ok());
    ASSERT_TRUE(ExecCommitted(*db, "INSERT INTO t (x) VALUES ('kept')").ok());
  }
  auto db = MustOpen(path);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(QueryText(*db, "SELECT x FROM t"), "kept");
  EXPECT_EQ(QueryText(*db, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(QueryText(*db, "PRAGMA synchronous"), "2");  // FULL
  EXPECT_EQ(QueryText(*db, "PRAGMA foreign_keys"), "1");
}

TEST(SqliteDatabaseTest, SynchronousNormalWhenAsked) {
  TempDir dir;
  SqliteOptions options;
  options.synchronous_full = false;
  auto db = MustOpen(dir.path() + "/n.db", options);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(QueryText(*db, "PRAGMA synchronous"), "1");  // NORMAL
}

// A relaxed write runs with synchronous=NORMAL; the next durable write on the same connection
// (pool of one) runs with synchronous=FULL again.
TEST(SqliteDatabaseTest, RelaxedWriteLowersSynchronousForItsTransactionOnly) {
  TempDir dir;
  SqliteOptions options;
  options.pool_size = 1;
  auto db = MustOpen(dir.path() + "/r.db", options);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(ExecCommitted(*db, "CREATE TABLE t (x INTEGER)").ok());
  auto synchronous_in = [&](TxMode mode) {
    auto tx = db->Begin(mode);
    EXPECT_TRUE(tx.ok()) << tx.status().ToString();
    if (!tx.ok()) return std::string();
    auto sync = (*tx)->Query("PRAGMA synchronous");
    EXPECT_TRUE(sync.ok()) << sync.status().ToString();
    return sync.ok() ? sync->front().Text(0) : std::string();
  };
  {
    auto tx = db->Begin(TxMode::kWriteRelaxed);
    ASSERT_TRUE(tx.ok()) << tx.status().ToString();
    auto sync = (*tx)->Query("PRAGMA synchronous");
    ASSERT_TRUE(sync.ok()) << sync.status().ToString();
    EXPECT_EQ(sync->front().Text(0), "1");  // NORMAL
    ASSERT_TRUE((*tx)->Exec("INSERT INTO t (x) VALUES (7)").ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  EXPECT_EQ(synchronous_in(TxMode::kWrite), "2");  // FULL again
  EXPECT_EQ(QueryText(*db, "SELECT x FROM t"), "7");
  {
    auto tx = db->Begin(TxMode::kWriteRelaxed);  // rolled back, not committed
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE((*tx)->Exec("INSERT INTO t (x) VALUES (8)").ok());
  }
  EXPECT_EQ(synchronous_in(TxMode::kWrite), "2");
  EXPECT_EQ(synchronous_in(TxMode::kWriteRelaxed), "1");
  EXPECT_EQ(QueryText(*db, "SELECT count(*) FROM t"), "1");
}

TEST(SqliteDatabaseTest, UnwritablePathIsUnavailable) {
  TempDir dir;
  std::string file = dir.path() + "/a-file";
  std::ofstream(file) << "x";
  std::string path = file + "/meta.db";  // a directory component that is a file
  auto db = OpenSqlite(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(db.status().message().find(path), std::string::npos) << db.status().message();
}

TEST(SqliteDatabaseTest, BadOptionsAreInvalid) {
  SqliteOptions options;
  options.pool_size = 0;
  EXPECT_EQ(OpenSqlite(":memory:", options).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenSqlite("").status().code(), StatusCode::kInvalidArgument);
}

TEST(SqliteDatabaseTest, MemoryDatabasesArePrivate) {
  auto a = MustOpen(":memory:");
  auto b = MustOpen(":memory:");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(ExecCommitted(*a, "CREATE TABLE only_in_a (x INTEGER)").ok());
  EXPECT_TRUE(ExecCommitted(*a, "INSERT INTO only_in_a VALUES (1)").ok());
  EXPECT_EQ(ExecCommitted(*b, "INSERT INTO only_in_a VALUES (1)").code(), StatusCode::kInternal);
}

TEST(SqliteDatabaseTest, ForeignKeysAreEnforced) {
  auto db = MustOpen(":memory:");
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(ExecCommitted(*db, "CREATE TABLE p (id INTEGER PRIMARY KEY)").ok());
  ASSERT_TRUE(ExecCommitted(*db, "CREATE TABLE c (p INTEGER REFERENCES p (id))").ok());
  EXPECT_FALSE(ExecCommitted(*db, "INSERT INTO c (p) VALUES (42)").ok());
}

TEST(SqliteDatabaseTest, ExhaustedPoolIsUnavailable) {
  SqliteOptions options;
  options.pool_size = 1;
  options.busy_timeout_ms = 50;
  auto db = MustOpen(":memory:", options);
  ASSERT_NE(db, nullptr);
  auto held = db->Begin(TxMode::kRead);
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(db->Begin(TxMode::kRead).status().code(), StatusCode::kUnavailable);
  held->reset();  // returns the connection
  EXPECT_TRUE(db->Begin(TxMode::kRead).ok());
}

TEST(SqliteDatabaseTest, MultipleStatementsAreRejected) {
  auto db = MustOpen(":memory:");
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(ExecCommitted(*db, "CREATE TABLE a (x INTEGER); CREATE TABLE b (x INTEGER)").code(),
            StatusCode::kInternal);
  EXPECT_TRUE(ExecCommitted(*db, "CREATE TABLE a (x INTEGER);").ok());  // a trailing ';' is fine
}

// More distinct statements than the per-connection cache holds: eviction keeps results right.
TEST(SqliteDatabaseTest, StatementCacheEviction) {
  SqliteOptions options;
  options.pool_size = 1;
  auto db = MustOpen(":memory:", options);
  ASSERT_NE(db, nullptr);
  auto tx = db->Begin(TxMode::kRead);
  ASSERT_TRUE(tx.ok());
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 600; ++i) {
      auto rows =
          (*tx)->Query("SELECT " + std::to_string(i) + " + ?", std::vector<Value>{int64_t{round}});
      ASSERT_TRUE(rows.ok()) << rows.status().ToString();
      ASSERT_EQ(rows->front().Int(0), i + round);
    }
  }
}

// Two Database objects on one file (as two processes would be): writers and migrators on both
// coordinate through SQLite's own locking and busy timeout.
TEST(SqliteDatabaseTest, TwoDatabasesOnOneFile) {
  TempDir dir;
  std::string path = dir.path() + "/shared.db";
  auto a = MustOpen(path);
  auto b = MustOpen(path);
  ASSERT_TRUE(a && b);
  const std::string_view steps[] = {
      "CREATE TABLE s (x INTEGER)",
      "INSERT INTO s (x) VALUES (1)",
      "INSERT INTO s (x) VALUES (2)",
  };
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (Database* db : {a.get(), b.get()}) {
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, db, t] {
        if (!Migrate(*db, "shared", steps).ok()) ++errors;
        for (int i = 0; i < 50; ++i) {
          core::Status status = [&]() -> core::Status {
            IMGPIPE_ASSIGN_OR_RETURN(auto tx, db->Begin(TxMode::kWrite));
            const Value params[] = {int64_t{100 + t * 1000 + i}};
            IMGPIPE_RETURN_IF_ERROR(tx->Exec("INSERT INTO s (x) VALUES (?)", params).status());
            return tx->Commit();
          }();
          if (!status.ok()) ++errors;
        }
      });
    }
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(QueryText(*a, "SELECT count(*) FROM s WHERE x < 100"), "2");
  EXPECT_EQ(QueryText(*b, "SELECT count(*) FROM s"), std::to_string(2 + 8 * 50));
}

// Processes sharing a SQLite file have no notification channel; VACUUM INTO is the one
// maintenance statement.
TEST(SqliteDatabaseTest, ListenAndMaintainAreUnavailable) {
  TempDir dir;
  auto db = MustOpen(dir.path() + "/l.db", {});
  ASSERT_NE(db, nullptr);
  auto subscription = db->Listen("queue", [](std::string_view) {});
  EXPECT_EQ(subscription.status().code(), core::StatusCode::kUnavailable);
  EXPECT_EQ(db->Maintain("VACUUM").code(), core::StatusCode::kInvalidArgument);
  EXPECT_EQ(db->Maintain("DELETE FROM t").code(), core::StatusCode::kInvalidArgument);
}

// VACUUM INTO while a writer commits rows in pairs: the copy holds whole transactions only (an
// even count), every row committed before it started, and opens as a database of its own.
TEST(SqliteDatabaseTest, VacuumIntoCopiesACommittedStateWhileWritersGoOn) {
  TempDir dir;
  auto db = MustOpen(dir.path() + "/live.db", {});
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Write(true, [](Transaction& tx) {
                  return tx.Exec("CREATE TABLE t (x INTEGER NOT NULL)").status();
                }).ok());
  auto insert_pair = [&] {
    return db->Write(true, [](Transaction& tx) {
      IMGPIPE_RETURN_IF_ERROR(tx.Exec("INSERT INTO t VALUES (1)").status());
      return tx.Exec("INSERT INTO t VALUES (2)").status();
    });
  };
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(insert_pair().ok());
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  std::thread writer([&] {
    while (!stop) {
      if (!insert_pair().ok()) ++failed;
    }
  });
  const std::string copy = dir.path() + "/copy.db";
  core::Status snapshot = db->Maintain("VACUUM INTO '" + copy + "'");
  stop = true;
  writer.join();
  ASSERT_TRUE(snapshot.ok()) << snapshot.ToString();
  EXPECT_EQ(failed.load(), 0);
  // Into an existing file: refused by SQLite, the file left as it was.
  EXPECT_FALSE(db->Maintain("VACUUM INTO '" + copy + "'").ok());

  auto copied = MustOpen(copy, {});
  ASSERT_NE(copied, nullptr);
  int64_t rows = std::stoll(QueryText(*copied, "SELECT count(*) FROM t"));
  EXPECT_GE(rows, 200);
  EXPECT_EQ(rows % 2, 0) << "a transaction copied in part";
  EXPECT_LE(rows, std::stoll(QueryText(*db, "SELECT count(*) FROM t")));
}

}  // namespace
}  // namespace imgpipe::db
