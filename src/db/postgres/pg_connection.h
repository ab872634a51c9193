// One libpq connection with its cache of prepared statements. Internal to src/db.
//
// Thread-safety: none; the pool hands a connection to one transaction (one thread) at a time.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "db/database.h"
#include "db/postgres.h"

namespace imgpipe::db::postgres {

// Maps a failed result (or, when `result` is null, the connection's state) to a Status:
// 23505 -> AlreadyExists; a broken connection, class 08, 40001, 40P01, 53300, 57P01..57P03 ->
// Unavailable; anything else -> Internal. The message carries `context` and the server's text.
core::Status PgStatus(PGconn* conn, const PGresult* result, std::string_view context);

class Connection {
 public:
  // Connects to `url`; Unavailable (with libpq's reason) when that fails.
  static core::Result<std::unique_ptr<Connection>> Open(const std::string& url,
                                                        const PostgresOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement with '?' placeholders; returns the rows INSERT/UPDATE/DELETE/MERGE changed
  // (0 for anything else).
  core::Result<int64_t> Exec(std::string_view sql, std::span<const Value> params);
  core::Result<std::vector<Row>> Query(std::string_view sql, std::span<const Value> params);
  // Runs a parameterless command (BEGIN, COMMIT, SET ...) with the simple protocol.
  core::Status ExecSimple(const char* sql);

  // True once the connection is lost; the pool then drops it.
  bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }
  // True while a transaction (possibly failed) is open.
  bool InTransaction() const;

 private:
  struct ResultDeleter {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

  Connection(PGconn* conn, bool cache) : conn_(conn), cache_enabled_(cache) {}

  // Rewrites, binds and runs `sql`; the result has status COMMAND_OK or TUPLES_OK.
  core::Result<ResultPtr> Run(std::string_view sql, std::span<const Value> params);
  // Returns the name of the prepared statement for (`sql`, parameter types), preparing it on a
  // miss. `key` is the cache key; `pg_sql` the rewritten text.
  core::Result<std::string> Prepared(const std::string& key, const std::string& pg_sql,
                                     std::span<const Oid> types);

  struct CacheEntry {
    std::string name;
    std::list<std::string>::iterator lru_pos;
  };
  // Bounded LRU: callers that build SQL dynamically (search filters) must not grow it forever.
  static constexpr size_t kMaxCachedStatements = 256;

  PGconn* conn_;
  const bool cache_enabled_;
  uint64_t next_statement_ = 0;
  std::unordered_map<std::string, CacheEntry> cache_;
  std::list<std::string> lru_;  // most recently used first
};

}  // namespace imgpipe::db::postgres
