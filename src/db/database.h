// Database: the metadata store's seam, a small SQL interface with SQLite (embedded) and
// PostgreSQL (multi-node, a later issue) backends.
//
// Callers write portable SQL: '?' placeholders (the PostgreSQL backend rewrites them to $n),
// INSERT ... ON CONFLICT, no AUTOINCREMENT/SERIAL, TEXT/INTEGER/REAL/BLOB columns, BIGINT-safe
// integers. Every statement runs inside a Transaction, which commits only when Commit() is called
// and rolls back in its destructor otherwise.
//
// Errors: a unique/primary-key violation is AlreadyExists; a busy/locked database that stays busy
// past the busy timeout, or a lost connection, is Unavailable; bad SQL is Internal. A failed
// statement rolls its whole transaction back at once (as PostgreSQL does): later Exec/Query/Commit
// on it fail with the same code. Expect duplicates with INSERT ... ON CONFLICT instead.
//
// Thread-safety: Database is thread-safe (backends keep a pool of connections). A Transaction
// belongs to one thread at a time and must not outlive its Database.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"

namespace imgpipe::db {

struct Null {};
struct Blob {
  std::string bytes;
};
// A bound parameter or a result cell.
using Value = std::variant<Null, int64_t, double, std::string, Blob>;

class Row {
 public:
  explicit Row(std::vector<Value> cells) : cells_(std::move(cells)) {}
  size_t size() const { return cells_.size(); }
  bool IsNull(size_t i) const { return std::holds_alternative<Null>(cells_.at(i)); }
  // Conversions are lenient where SQL is (an integer column read as text, NULL as 0 or "").
  int64_t Int(size_t i) const;
  double Real(size_t i) const;
  std::string Text(size_t i) const;
  const Value& at(size_t i) const { return cells_.at(i); }

 private:
  std::vector<Value> cells_;
};

class Transaction {
 public:
  Transaction() = default;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  virtual ~Transaction() = default;  // rolls back unless committed

  // Runs one statement; returns the number of rows it changed.
  virtual core::Result<int64_t> Exec(std::string_view sql, std::span<const Value> params = {}) = 0;
  virtual core::Result<std::vector<Row>> Query(std::string_view sql,
                                               std::span<const Value> params = {}) = 0;
  // REQUIRES: not yet committed. After a failed Commit the transaction is rolled back.
  virtual core::Status Commit() = 0;
};

// kWriteRelaxed: a write transaction whose commit does not wait for the disk. It survives a crash
// of the process (SQLite: the WAL is written before COMMIT returns) but may be lost on a power
// failure or OS crash. For writes whose loss is harmless, such as queue claims and acks (a lost
// commit only means redelivery). PostgreSQL: synchronous_commit=off for the transaction.
enum class TxMode { kRead, kWrite, kWriteRelaxed };

// Whether `status` reports a transaction the engine rolled back for a deadlock (PostgreSQL
// 40P01) or a serialization failure (40001): nothing of it was applied, and running it again is
// the remedy.
bool IsTransactionConflict(const core::Status& status);
enum class Dialect { kSqlite, kPostgres };

// A subscription made by Database::Listen; notifications stop once it is destroyed (the
// destructor waits for a callback that is running).
class Subscription {
 public:
  virtual ~Subscription() = default;
  // Whether notifications can arrive now (PostgreSQL: the listening connection is up; it
  // reconnects by itself). For readiness checks.
  virtual bool Connected() const { return true; }
};

class Database {
 public:
  Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  virtual ~Database() = default;

  // kWrite and kWriteRelaxed take the write lock up front (SQLite BEGIN IMMEDIATE) so a write
  // never fails half-way with a lock upgrade error.
  virtual core::Result<std::unique_ptr<Transaction>> Begin(TxMode mode) = 0;
  virtual Dialect dialect() const = 0;
  virtual std::string Describe() const = 0;

  // Runs `op` in a write transaction and commits it (durable: TxMode::kWrite, else
  // kWriteRelaxed); returns op's error or the commit's. SQLite: concurrent calls share ONE
  // transaction and commit (group commit, durable when any of them asked): whichever caller
  // arrives first runs every operation queued meanwhile. So `op` may run more than once (when
  // the shared transaction fails, each operation runs again alone, so one caller's error never
  // fails another's work): it must set its outputs from scratch, and do nothing outside the
  // transaction (notify, log the outcome, ... after Write returns). Other engines, where
  // transactions proceed in parallel and the server groups WAL flushes: one transaction each,
  // run again (up to 4 times in all) when the engine aborted it for a deadlock or a
  // serialization failure (IsTransactionConflict).
  virtual core::Status Write(bool durable, const std::function<core::Status(Transaction&)>& op);

  // Notifications between the processes sharing this database, on `channel` (a SQL identifier:
  // [a-z_][a-z0-9_]*). PostgreSQL: LISTEN on a dedicated connection; a transaction of any process
  // sends with `SELECT pg_notify('channel', 'payload')`, delivered after it commits.
  // `on_notify(payload)` runs on the subscription's own thread, one call at a time. Best effort:
  // after the listening connection was lost and re-established, `on_notify("")` says that
  // notifications may have been missed, so callers treat a notification as "look again", never
  // as the data itself. SQLite has no such channel between processes: Unimplemented.
  virtual core::Result<std::unique_ptr<Subscription>> Listen(
      std::string_view channel, std::function<void(std::string_view payload)> on_notify);

  // Runs one parameterless maintenance statement outside any transaction (PostgreSQL: VACUUM,
  // which cannot run inside one). Not for data changes. SQLite: only `VACUUM INTO 'file'` (a
  // consistent copy of the database, taken while writers go on: `imgpipe backup`), else
  // InvalidArgument.
  virtual core::Status Maintain(std::string_view statement);
};

struct SqliteOptions {
  int pool_size = 8;  // connections; each serves one transaction at a time
  int busy_timeout_ms = 5000;
  bool synchronous_full = true;  // fsync at every commit (DESIGN.md "Durable")
};

// Opens (creating if needed) a SQLite database in WAL mode. `path` ":memory:" gives a private
// temporary database shared by the pool (for unit tests): a file under the temp directory,
// removed when the Database closes, so it has the same concurrency as a real one.
core::Result<std::unique_ptr<Database>> OpenSqlite(const std::string& path,
                                                   const SqliteOptions& options = {});

// Applies, in order and once each, the schema steps of `component` that this database has not yet
// seen (a table imgpipe_schema(component, version) records progress). Each step is one
// transaction. Safe to call concurrently from several processes.
core::Status Migrate(Database& db, std::string_view component,
                     std::span<const std::string_view> steps);

}  // namespace imgpipe::db
