// One SQLite connection with its cache of prepared statements. Internal to src/db.
//
// Thread-safety: none. The connection is opened with SQLITE_OPEN_NOMUTEX; the pool hands it to
// one transaction (one thread) at a time.
#pragma once

#include <sqlite3.h>

#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "db/database.h"

namespace imgpipe::db::sqlite {

// Maps a SQLite result code to a Status (unique/primary key -> AlreadyExists, busy/locked ->
// Unavailable, anything else -> Internal), with the connection's error message.
core::Status SqliteStatus(sqlite3* db, int rc, std::string_view context);

class Connection {
 public:
  // Opens the database file `filename` and applies the per-connection settings: busy timeout,
  // synchronous, foreign keys. Journal mode is the caller's business (it is persistent).
  static core::Result<std::unique_ptr<Connection>> Open(const std::string& filename,
                                                        const SqliteOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement, returning the number of rows it changed (0 for DDL and queries).
  core::Result<int64_t> Exec(std::string_view sql, std::span<const Value> params);
  core::Result<std::vector<Row>> Query(std::string_view sql, std::span<const Value> params);
  // Runs a parameterless statement without caching it (BEGIN, COMMIT, PRAGMA ...).
  core::Status ExecOnce(const char* sql);
  // Sets PRAGMA synchronous to FULL or NORMAL, unless it is already.
  core::Status SetSynchronousFull(bool full);
  // True while a transaction is open on this connection.
  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }
  sqlite3* handle() const { return db_; }

 private:
  Connection(sqlite3* db, bool synchronous_full) : db_(db), synchronous_full_(synchronous_full) {}

  // Returns a cached statement for `sql` (preparing it on a miss), reset and with `params`
  // bound. Statements that hold no SQL (only comments/whitespace) yield nullptr.
  core::Result<sqlite3_stmt*> PrepareAndBind(std::string_view sql, std::span<const Value> params);

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct CacheEntry {
    sqlite3_stmt* stmt;
    std::list<std::string>::iterator lru_pos;
  };
  // Bounded LRU: callers that build SQL dynamically (search filters) must not grow it forever.
  static constexpr size_t kMaxCachedStatements = 256;

  sqlite3* db_;
  bool synchronous_full_;
  std::unordered_map<std::string, CacheEntry, StringHash, std::equal_to<>> cache_;
  std::list<std::string> lru_;  // most recently used first
};

}  // namespace imgpipe::db::sqlite
