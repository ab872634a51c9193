// PostgreSQL backend of Database: a pool of libpq connections opened on demand (up to
// pool_size), one transaction per connection at a time, READ COMMITTED isolation.
//
// Write transactions do not exclude each other here (unlike SQLite's BEGIN IMMEDIATE): row locks
// and unique constraints arbitrate, and callers that need more take an advisory lock (Migrate).
//
// A connection that breaks (server restart, network) is dropped and replaced on demand. Idle
// connections are not probed: Begin retries BEGIN on a fresh connection when a pooled one turns
// out dead, which is safe because nothing ran yet. A break inside a transaction is Unavailable.
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "db/postgres.h"
#include "db/postgres/pg_connection.h"
#include "db/postgres/pg_listener.h"
#include "db/transaction_base.h"

namespace imgpipe::db {

namespace postgres {
namespace {

using Clock = std::chrono::steady_clock;

// TxMode may grow a kWriteRelaxed (a write that skips waiting for the commit's fsync); this
// compiles with and without it.
template <typename Mode>
bool IsRelaxedWrite(Mode mode) {
  if constexpr (requires { Mode::kWriteRelaxed; }) {
    return mode == Mode::kWriteRelaxed;
  } else {
    return false;
  }
}

class PostgresDatabase;

class PostgresTransaction final : public TransactionBase {
 public:
  PostgresTransaction(PostgresDatabase* db, std::unique_ptr<Connection> conn)
      : db_(db), conn_(std::move(conn)) {}
  ~PostgresTransaction() override { Release(); }

 protected:
  core::Result<int64_t> RunExec(std::string_view sql, std::span<const Value> params) override {
    return conn_->Exec(sql, params);
  }
  core::Result<std::vector<Row>> RunQuery(std::string_view sql,
                                          std::span<const Value> params) override {
    return conn_->Query(sql, params);
  }
  core::Status RunCommit() override { return conn_->ExecSimple("COMMIT"); }
  void Release() override;

 private:
  PostgresDatabase* db_;
  std::unique_ptr<Connection> conn_;
};

class PostgresDatabase final : public Database {
 public:
  PostgresDatabase(std::string url, std::string description, PostgresOptions options)
      : url_(std::move(url)), description_(std::move(description)), options_(options) {}

  ~PostgresDatabase() override { idle_.clear(); }  // REQUIRES: no Transaction outlives us

  // Opens the first connection, so that a bad URL or a down server shows at once.
  core::Status Init() {
    IMGPIPE_ASSIGN_OR_RETURN(auto conn, Connection::Open(url_, options_));
    std::lock_guard lock(mu_);
    ++open_;
    idle_.push_back(std::move(conn));
    return core::Status::Ok();
  }

  core::Result<std::unique_ptr<Transaction>> Begin(TxMode mode) override {
    const auto deadline = Clock::now() + std::chrono::milliseconds(options_.checkout_timeout_ms);
    // One round trip: the relaxed mode's SET LOCAL travels with its BEGIN.
    const char* begin = mode == TxMode::kRead ? "BEGIN"
                        : IsRelaxedWrite(mode)
                            ? "BEGIN READ WRITE; SET LOCAL synchronous_commit TO OFF"
                            : "BEGIN READ WRITE";
    core::Status last;
    // Every pooled connection may have died with a server restart; then one more, fresh.
    for (int attempt = 0; attempt <= options_.pool_size; ++attempt) {
      IMGPIPE_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Checkout(deadline));
      last = conn->ExecSimple(begin);
      if (last.ok()) {
        return std::unique_ptr<Transaction>(
            std::make_unique<PostgresTransaction>(this, std::move(conn)));
      }
      const bool broken = conn->broken();
      ReturnConnection(std::move(conn));
      if (!broken) return last;
    }
    return last.WithContext(description_);
  }

  Dialect dialect() const override { return Dialect::kPostgres; }
  std::string Describe() const override { return description_; }
  core::Result<std::unique_ptr<Subscription>> Listen(
      std::string_view channel, std::function<void(std::string_view)> on_notify) override {
    return StartListener(url_, channel, std::move(on_notify));
  }
  core::Status Maintain(std::string_view statement) override {
    const auto deadline = Clock::now() + std::chrono::milliseconds(options_.checkout_timeout_ms);
    IMGPIPE_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Checkout(deadline));
    core::Status status = conn->ExecSimple(std::string(statement).c_str());
    ReturnConnection(std::move(conn));
    return status;
  }

  // Takes a connection back: rolls back what is left open, drops it when broken.
  void ReturnConnection(std::unique_ptr<Connection> conn) {
    if (!conn->broken() && conn->InTransaction()) (void)conn->ExecSimple("ROLLBACK");
    if (conn->broken() || conn->InTransaction()) {
      conn.reset();
      std::lock_guard lock(mu_);
      --open_;
    } else {
      std::lock_guard lock(mu_);
      idle_.push_back(std::move(conn));
    }
    cv_.notify_one();
  }

 private:
  core::Result<std::unique_ptr<Connection>> Checkout(Clock::time_point deadline) {
    {
      std::unique_lock lock(mu_);
      if (!cv_.wait_until(lock, deadline,
                          [&] { return !idle_.empty() || open_ < options_.pool_size; })) {
        return core::Status::Unavailable("no free connection to " + description_ + " (pool of " +
                                         std::to_string(options_.pool_size) + ")");
      }
      if (!idle_.empty()) {
        std::unique_ptr<Connection> conn = std::move(idle_.back());
        idle_.pop_back();
        return conn;
      }
      ++open_;  // reserve the slot, connect outside the lock
    }
    auto conn = Connection::Open(url_, options_);
    if (!conn.ok()) {
      {
        std::lock_guard lock(mu_);
        --open_;
      }
      cv_.notify_one();
      return conn.status().WithContext("connecting to " + description_);
    }
    return conn;
  }

  const std::string url_;  // may hold a password: never log it
  const std::string description_;
  const PostgresOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;  // GUARDED_BY(mu_)
  int open_ = 0;                                   // idle + checked out; GUARDED_BY(mu_)
};

void PostgresTransaction::Release() {
  if (conn_ != nullptr) db_->ReturnConnection(std::move(conn_));
}

// libpq's reason for refusing a connection string, without what it quotes of the string: it
// quotes the offending token ("invalid percent-encoded token: \"s3%zz\"") or, for some errors, the
// whole URL, and either can be the password. The reason stays, the quoted text becomes "...".
std::string WithoutQuotedText(std::string_view reason) {
  std::string out;
  bool quoted = false;
  for (char c : reason) {
    if (c == '"') {
      quoted = !quoted;
      if (quoted) out += "\"...\"";
    } else if (!quoted) {
      out += c;
    }
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// "postgresql://user@host:port/dbname", from the parsed URL, without the password.
core::Result<std::string> Describe(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    std::string reason = error != nullptr ? WithoutQuotedText(error) : "out of memory";
    PQfreemem(error);
    return core::Status::InvalidArgument("bad PostgreSQL URL: " + reason);
  }
  std::string user, host, port, dbname;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    std::string_view key = o->keyword;
    std::string value = o->val != nullptr ? o->val : "";
    if (key == "user") user = value;
    if (key == "host" && !value.empty()) host = value;
    if (key == "hostaddr" && host.empty()) host = value;
    if (key == "port") port = value;
    if (key == "dbname") dbname = value;
  }
  PQconninfoFree(options);
  std::string out = "postgresql://";
  if (!user.empty()) out += user + "@";
  out += host.empty() ? "localhost" : host;
  if (!port.empty()) out += ":" + port;
  out += "/" + dbname;
  return out;
}

}  // namespace
}  // namespace postgres

core::Result<std::unique_ptr<Database>> OpenPostgres(const std::string& url,
                                                     const PostgresOptions& options) {
  if (options.pool_size < 1) {
    return core::Status::InvalidArgument("PostgreSQL pool_size must be >= 1");
  }
  IMGPIPE_ASSIGN_OR_RETURN(std::string description, postgres::Describe(url));
  auto db = std::make_unique<postgres::PostgresDatabase>(url, description, options);
  core::Status status = db->Init();
  if (!status.ok()) {
    return core::Status(status.code(),
                        "cannot connect to PostgreSQL " + description + ": " + status.message());
  }
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace imgpipe::db
