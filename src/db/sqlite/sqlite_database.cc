// SQLite backend of Database: a fixed pool of connections, WAL mode, one transaction per
// connection at a time.
//
// Write transactions in this process queue on a FIFO gate before BEGIN IMMEDIATE, so they wait on
// a condition variable in arrival order instead of polling SQLite's busy handler; the busy
// timeout then only arbitrates between processes sharing the file.
//
// ":memory:" is a WAL database file in a fresh folder under the temp directory, removed when the
// Database closes, with synchronous=NORMAL (no fsync per commit; nothing needs durability). A true
// in-memory database (shared cache or the memdb VFS) cannot give the pool WAL's concurrency: there
// a reader waits for every open write transaction to finish (shared cache even fails with
// SQLITE_LOCKED, which the busy timeout does not retry), so code tested against it would behave
// unlike production.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <mutex>

#include "db/sqlite/sqlite_connection.h"
#include "db/transaction_base.h"
#include "db/write_combiner.h"

namespace imgpipe::db {

namespace sqlite {
namespace {

using Clock = std::chrono::steady_clock;

// FIFO lock that any thread may release (a Transaction may move between threads). Release hands
// the lock to the longest waiter and wakes that one thread only: with many writers queued, waking
// them all for every commit costs more than the commits.
class WriterGate {
 public:
  bool Acquire(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    if (!held_ && waiting_.empty()) {
      held_ = true;
      return true;
    }
    Waiter me;
    waiting_.push_back(&me);
    if (me.cv.wait_until(lock, deadline, [&] { return me.granted; })) return true;
    std::erase(waiting_, &me);
    return false;
  }
  void Release() {
    std::lock_guard lock(mu_);
    if (waiting_.empty()) {
      held_ = false;
      return;
    }
    Waiter* next = waiting_.front();  // held_ stays true: the lock passes to `next`
    waiting_.pop_front();
    next->granted = true;
    next->cv.notify_one();  // under mu_: `next` cannot return (and free its cv) before we leave
  }

 private:
  struct Waiter {
    std::condition_variable cv;
    bool granted = false;  // GUARDED_BY(mu_)
  };
  std::mutex mu_;
  bool held_ = false;            // GUARDED_BY(mu_)
  std::deque<Waiter*> waiting_;  // GUARDED_BY(mu_)
};

class SqliteDatabase;

class SqliteTransaction final : public TransactionBase {
 public:
  SqliteTransaction(SqliteDatabase* db, std::unique_ptr<Connection> conn, bool write)
      : db_(db), conn_(std::move(conn)), write_(write) {}
  ~SqliteTransaction() override { Release(); }

 protected:
  core::Result<int64_t> RunExec(std::string_view sql, std::span<const Value> params) override {
    return conn_->Exec(sql, params);
  }
  core::Result<std::vector<Row>> RunQuery(std::string_view sql,
                                          std::span<const Value> params) override {
    return conn_->Query(sql, params);
  }
  core::Status RunCommit() override { return conn_->Exec("COMMIT", {}).status(); }
  void Release() override;

 private:
  SqliteDatabase* db_;
  std::unique_ptr<Connection> conn_;
  const bool write_;
};

class SqliteDatabase final : public Database {
 public:
  // `temp_dir`, when not empty, holds the database file and is removed on destruction.
  SqliteDatabase(std::string path, std::string filename, std::string temp_dir,
                 SqliteOptions options)
      : path_(std::move(path)),
        filename_(std::move(filename)),
        temp_dir_(std::move(temp_dir)),
        options_(options),
        combiner_(*this, /*enabled=*/true) {}

  ~SqliteDatabase() override {
    idle_.clear();  // REQUIRES (Database contract): no Transaction outlives us
    if (!temp_dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(temp_dir_, ec);
    }
  }

  // Opens the pool.
  core::Status Init() {
    IMGPIPE_ASSIGN_OR_RETURN(auto first, Connection::Open(filename_, options_));
    auto mode = first->Query("PRAGMA journal_mode=WAL", {});
    if (!mode.ok()) return mode.status();
    std::string got = mode->empty() ? "" : mode->front().Text(0);
    if (got != "wal") {
      spdlog::warn("SQLite database {}: WAL mode unavailable (journal_mode={})", path_, got);
    }
    idle_.push_back(std::move(first));
    for (int i = 1; i < options_.pool_size; ++i) {
      IMGPIPE_ASSIGN_OR_RETURN(auto conn, Connection::Open(filename_, options_));
      idle_.push_back(std::move(conn));
    }
    return core::Status::Ok();
  }

  core::Status Write(bool durable, const std::function<core::Status(Transaction&)>& op) override {
    return combiner_.Run(durable, op);
  }

  core::Result<std::unique_ptr<Transaction>> Begin(TxMode mode) override {
    bool write = mode != TxMode::kRead;
    // synchronous is per connection: a relaxed transaction runs with NORMAL (in WAL mode the
    // commit then writes the WAL without fsync) and ReturnConnection restores FULL.
    bool relax = mode == TxMode::kWriteRelaxed && options_.synchronous_full;
    auto deadline = Clock::now() + std::chrono::milliseconds(options_.busy_timeout_ms);
    if (write && !gate_.Acquire(deadline)) {
      return core::Status::Unavailable("timed out waiting for the write lock of " + path_);
    }
    std::unique_ptr<Connection> conn = Checkout(deadline);
    if (conn == nullptr) {
      if (write) gate_.Release();
      return core::Status::Unavailable("no free connection to " + path_ + " (pool of " +
                                       std::to_string(options_.pool_size) + ")");
    }
    // A connection keeps the mode of its last write; switched only when a write needs the other.
    core::Status status =
        write && options_.synchronous_full ? conn->SetSynchronousFull(!relax) : core::Status::Ok();
    // BEGIN and COMMIT are cached statements: no parse per transaction.
    if (status.ok()) status = conn->Exec(write ? "BEGIN IMMEDIATE" : "BEGIN", {}).status();
    if (!status.ok()) {
      ReturnConnection(std::move(conn), write);
      return status;
    }
    return std::unique_ptr<Transaction>(
        std::make_unique<SqliteTransaction>(this, std::move(conn), write));
  }

  Dialect dialect() const override { return Dialect::kSqlite; }
  std::string Describe() const override { return "sqlite:" + path_; }

  // VACUUM INTO only: a snapshot taken in a read transaction of its own, while writers go on.
  core::Status Maintain(std::string_view statement) override {
    if (!statement.starts_with("VACUUM INTO ")) return Database::Maintain(statement);
    auto deadline = Clock::now() + std::chrono::milliseconds(options_.busy_timeout_ms);
    std::unique_ptr<Connection> conn = Checkout(deadline);
    if (conn == nullptr) {
      return core::Status::Unavailable("no free connection to " + path_ + " (pool of " +
                                       std::to_string(options_.pool_size) + ")");
    }
    core::Status status = conn->ExecOnce(std::string(statement).c_str());
    ReturnConnection(std::move(conn), /*write=*/false);
    return status;
  }

  // Takes back a connection (rolling back anything left open) and the write lock.
  void ReturnConnection(std::unique_ptr<Connection> conn, bool write) {
    if (conn->InTransaction()) (void)conn->ExecOnce("ROLLBACK");
    if (conn->InTransaction()) {
      // Should not happen; a connection stuck in a transaction would poison the pool.
      spdlog::error("SQLite database {}: connection stuck in a transaction; reopening", path_);
      conn.reset();
      auto fresh = Connection::Open(filename_, options_);
      if (fresh.ok()) conn = std::move(fresh).value();
    }
    if (write) gate_.Release();
    if (conn == nullptr) return;
    {
      std::lock_guard lock(mu_);
      idle_.push_back(std::move(conn));
    }
    cv_.notify_one();
  }

 private:
  std::unique_ptr<Connection> Checkout(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_until(lock, deadline, [&] { return !idle_.empty(); })) return nullptr;
    std::unique_ptr<Connection> conn = std::move(idle_.back());
    idle_.pop_back();
    return conn;
  }

  const std::string path_;
  const std::string filename_;
  const std::string temp_dir_;
  const SqliteOptions options_;
  internal::WriteCombiner combiner_;  // Write(): group commit
  WriterGate gate_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;  // GUARDED_BY(mu_)
};

void SqliteTransaction::Release() {
  if (conn_ != nullptr) db_->ReturnConnection(std::move(conn_), write_);
}

}  // namespace
}  // namespace sqlite

core::Result<std::unique_ptr<Database>> OpenSqlite(const std::string& path,
                                                   const SqliteOptions& options) {
  if (path.empty()) return core::Status::InvalidArgument("SQLite database path is empty");
  if (options.pool_size < 1) return core::Status::InvalidArgument("SQLite pool_size must be >= 1");
  std::string filename = path;
  std::string temp_dir;
  SqliteOptions effective = options;
  if (path == ":memory:") {
    std::error_code ec;
    std::string templ = (std::filesystem::temp_directory_path(ec) / "imgpipe-mem-XXXXXX").string();
    if (ec || ::mkdtemp(templ.data()) == nullptr) {
      return core::Status::Unavailable("cannot create a temp folder for a :memory: database");
    }
    temp_dir = templ;
    filename = temp_dir + "/db.sqlite";
    effective.synchronous_full = false;
  }
  auto db = std::make_unique<sqlite::SqliteDatabase>(path, filename, temp_dir, effective);
  core::Status status = db->Init();
  if (!status.ok()) {
    return core::Status::Unavailable("cannot open SQLite database " + path + ": " +
                                     status.message());
  }
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace imgpipe::db
