#include "db/sqlite/sqlite_connection.h"

namespace imgpipe::db::sqlite {

core::Status SqliteStatus(sqlite3* db, int rc, std::string_view context) {
  std::string message = std::string(context) + ": " +
                        (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)) + " (" +
                        std::to_string(rc) + ")";
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return core::Status::AlreadyExists(std::move(message));
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return core::Status::Unavailable(std::move(message));
    default:
      return core::Status::Internal(std::move(message));
  }
}

core::Result<std::unique_ptr<Connection>> Connection::Open(const std::string& filename,
                                                           const SqliteOptions& options) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(filename.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    core::Status status = SqliteStatus(db, rc, "opening SQLite database " + filename);
    sqlite3_close_v2(db);
    return core::Status::Unavailable(status.message());
  }
  sqlite3_extended_result_codes(db, 1);
  std::unique_ptr<Connection> conn(new Connection(db, options.synchronous_full));
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  IMGPIPE_RETURN_IF_ERROR(conn->ExecOnce(options.synchronous_full ? "PRAGMA synchronous=FULL"
                                                                  : "PRAGMA synchronous=NORMAL"));
  IMGPIPE_RETURN_IF_ERROR(conn->ExecOnce("PRAGMA foreign_keys=ON"));
  IMGPIPE_RETURN_IF_ERROR(conn->ExecOnce("PRAGMA mmap_size=268435456"));
  return conn;
}

Connection::~Connection() {
  for (auto& [sql, entry] : cache_) sqlite3_finalize(entry.stmt);
  sqlite3_close_v2(db_);
}

core::Status Connection::SetSynchronousFull(bool full) {
  if (full == synchronous_full_) return core::Status::Ok();
  IMGPIPE_RETURN_IF_ERROR(ExecOnce(full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  synchronous_full_ = full;
  return core::Status::Ok();
}

core::Status Connection::ExecOnce(const char* sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  sqlite3_free(error);  // sqlite3_errmsg still holds it
  if (rc != SQLITE_OK) return SqliteStatus(db_, rc, sql);
  return core::Status::Ok();
}

namespace {

int Bind(sqlite3_stmt* stmt, int index, const Value& value) {
  struct Binder {
    sqlite3_stmt* stmt;
    int i;
    int operator()(const Null&) const { return sqlite3_bind_null(stmt, i); }
    int operator()(int64_t v) const { return sqlite3_bind_int64(stmt, i, v); }
    int operator()(double v) const { return sqlite3_bind_double(stmt, i, v); }
    // SQLITE_STATIC: the caller's params outlive the step; bindings are cleared before return.
    int operator()(const std::string& v) const {
      return sqlite3_bind_text64(stmt, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
    }
    int operator()(const Blob& v) const {
      // A zero-length blob, not NULL (bind_blob with a null pointer would bind NULL).
      if (v.bytes.empty()) return sqlite3_bind_zeroblob(stmt, i, 0);
      return sqlite3_bind_blob64(stmt, i, v.bytes.data(), v.bytes.size(), SQLITE_STATIC);
    }
  };
  return std::visit(Binder{stmt, index}, value);
}

Value ColumnValue(sqlite3_stmt* stmt, int i) {
  switch (sqlite3_column_type(stmt, i)) {
    case SQLITE_INTEGER:
      return sqlite3_column_int64(stmt, i);
    case SQLITE_FLOAT:
      return sqlite3_column_double(stmt, i);
    case SQLITE_TEXT: {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
      return std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt, i)));
    }
    case SQLITE_BLOB: {
      const auto* bytes = static_cast<const char*>(sqlite3_column_blob(stmt, i));
      size_t size = static_cast<size_t>(sqlite3_column_bytes(stmt, i));
      return Blob{bytes != nullptr ? std::string(bytes, size) : std::string()};
    }
    default:
      return Null{};
  }
}

// Resets a statement and drops its bindings when the call using it ends, so no cached statement
// keeps a read cursor (which would block checkpoints and DROP TABLE) or points at caller memory.
class StatementUse {
 public:
  explicit StatementUse(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StatementUse() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

}  // namespace

core::Result<sqlite3_stmt*> Connection::PrepareAndBind(std::string_view sql,
                                                       std::span<const Value> params) {
  sqlite3_stmt* stmt = nullptr;
  if (auto it = cache_.find(sql); it != cache_.end()) {
    stmt = it->second.stmt;
    lru_.splice(lru_.begin(), lru_, it->second.lru_pos);
  } else {
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) return SqliteStatus(db_, rc, "preparing \"" + std::string(sql) + "\"");
    std::string_view rest(tail, sql.data() + sql.size() - tail);
    if (rest.find_first_not_of(" \t\r\n;") != std::string_view::npos) {
      sqlite3_finalize(stmt);
      return core::Status::Internal("more than one SQL statement in \"" + std::string(sql) + "\"");
    }
    if (stmt == nullptr) return stmt;  // empty statement
    if (cache_.size() >= kMaxCachedStatements) {
      auto victim = cache_.find(lru_.back());
      sqlite3_finalize(victim->second.stmt);
      cache_.erase(victim);
      lru_.pop_back();
    }
    lru_.emplace_front(sql);
    cache_.emplace(std::string(sql), CacheEntry{stmt, lru_.begin()});
  }

  int expected = sqlite3_bind_parameter_count(stmt);
  if (expected != static_cast<int>(params.size())) {
    return core::Status::Internal("\"" + std::string(sql) + "\" takes " + std::to_string(expected) +
                                  " parameters, got " + std::to_string(params.size()));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    int rc = Bind(stmt, static_cast<int>(i + 1), params[i]);
    if (rc != SQLITE_OK) {
      sqlite3_clear_bindings(stmt);
      return SqliteStatus(db_, rc, "binding parameter " + std::to_string(i + 1));
    }
  }
  return stmt;
}

core::Result<int64_t> Connection::Exec(std::string_view sql, std::span<const Value> params) {
  IMGPIPE_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, PrepareAndBind(sql, params));
  if (stmt == nullptr) return int64_t{0};
  StatementUse use(stmt);
  // sqlite3_changes64 keeps the count of the last INSERT/UPDATE/DELETE across DDL and queries;
  // the total tells whether THIS statement changed anything.
  int64_t total_before = sqlite3_total_changes64(db_);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) return SqliteStatus(db_, rc, "executing \"" + std::string(sql) + "\"");
  if (sqlite3_total_changes64(db_) == total_before) return int64_t{0};
  return static_cast<int64_t>(sqlite3_changes64(db_));
}

core::Result<std::vector<Row>> Connection::Query(std::string_view sql,
                                                 std::span<const Value> params) {
  IMGPIPE_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, PrepareAndBind(sql, params));
  std::vector<Row> rows;
  if (stmt == nullptr) return rows;
  StatementUse use(stmt);
  int columns = sqlite3_column_count(stmt);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    std::vector<Value> cells;
    cells.reserve(static_cast<size_t>(columns));
    for (int i = 0; i < columns; ++i) cells.push_back(ColumnValue(stmt, i));
    rows.emplace_back(std::move(cells));
  }
  if (rc != SQLITE_DONE) return SqliteStatus(db_, rc, "querying \"" + std::string(sql) + "\"");
  return rows;
}

}  // namespace imgpipe::db::sqlite
