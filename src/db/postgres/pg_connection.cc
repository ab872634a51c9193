// Parameters go as text (int8, float8; text typed by the server) or binary (bytea), results come
// back as text: the text forms of int8/float8/numeric parse exactly, and one format keeps the
// decoding simple. bytea arrives hex-encoded (bytea_output=hex, the default).
#include "db/postgres/pg_connection.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cstring>

#include "core/strings.h"
#include "db/postgres/pg_sql.h"

namespace imgpipe::db::postgres {
namespace {

// Type OIDs from pg_type.h (stable across PostgreSQL versions).
constexpr Oid kBoolOid = 16, kByteaOid = 17, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23,
              kOidOid = 26, kFloat4Oid = 700, kFloat8Oid = 701, kNumericOid = 1700;

std::string DecodeBytea(const char* text, size_t len) {
  std::string out;
  if (len >= 2 && text[0] == '\\' && text[1] == 'x') {
    out.reserve((len - 2) / 2);
    for (size_t i = 2; i + 1 < len; i += 2) {
      out.push_back(
          static_cast<char>(core::HexDigitValue(text[i]) << 4 | core::HexDigitValue(text[i + 1])));
    }
    return out;
  }
  // The old "escape" output format, should a server be configured for it.
  size_t n = 0;
  unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(text), &n);
  if (raw != nullptr) out.assign(reinterpret_cast<char*>(raw), n);
  PQfreemem(raw);
  return out;
}

Value Decode(const PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return Null{};
  const char* text = PQgetvalue(res, row, col);
  const size_t len = static_cast<size_t>(PQgetlength(res, row, col));
  switch (PQftype(res, col)) {
    case kInt8Oid:
    case kInt4Oid:
    case kInt2Oid:
    case kOidOid: {
      int64_t v = 0;
      std::from_chars(text, text + len, v);
      return v;
    }
    case kBoolOid:
      return int64_t{text[0] == 't' ? 1 : 0};
    case kFloat4Oid:
    case kFloat8Oid:
    case kNumericOid: {
      double v = 0;
      std::from_chars(text, text + len, v);  // also takes Infinity and NaN
      return v;
    }
    case kByteaOid:
      return Blob{DecodeBytea(text, len)};
    default:
      return std::string(text, len);
  }
}

std::string FormatDouble(double d) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);  // shortest exact round-trip
  return std::string(buf, ec == std::errc() ? end : buf);
}

// Parameters in libpq's layout; the strings live as long as this object.
struct BoundParams {
  explicit BoundParams(std::span<const Value> params) {
    const size_t n = params.size();
    text.resize(n);
    types.resize(n, 0);
    values.resize(n, nullptr);
    lengths.resize(n, 0);
    formats.resize(n, 0);
    for (size_t i = 0; i < n; ++i) {
      const Value& v = params[i];
      if (const auto* i64 = std::get_if<int64_t>(&v)) {
        text[i] = std::to_string(*i64);
        types[i] = kInt8Oid;
      } else if (const auto* d = std::get_if<double>(&v)) {
        text[i] = FormatDouble(*d);
        types[i] = kFloat8Oid;
      } else if (const auto* s = std::get_if<std::string>(&v)) {
        text[i] = *s;  // type 0: the server infers it (text, date, ...)
      } else if (const auto* b = std::get_if<Blob>(&v)) {
        types[i] = kByteaOid;
        formats[i] = 1;
        values[i] = b->bytes.data();
        lengths[i] = static_cast<int>(b->bytes.size());
        continue;
      } else {
        continue;  // Null: a null pointer
      }
      values[i] = text[i].c_str();
      lengths[i] = static_cast<int>(text[i].size());
    }
  }
  std::vector<std::string> text;
  std::vector<Oid> types;
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
};

void LogNotice(void*, const char* message) { spdlog::debug("postgres: {}", message); }

std::string Trimmed(const char* message) {
  std::string s = message != nullptr ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

core::Status PgStatus(PGconn* conn, const PGresult* result, std::string_view context) {
  std::string message = std::string(context) + ": ";
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  message += Trimmed(result != nullptr && *PQresultErrorMessage(result) != '\0'
                         ? PQresultErrorMessage(result)
                         : PQerrorMessage(conn));
  if (state != nullptr) message += std::string(" (SQLSTATE ") + state + ")";
  const std::string_view code = state != nullptr ? state : "";
  if (code == "23505") return core::Status::AlreadyExists(message);
  if (PQstatus(conn) != CONNECTION_OK || code.starts_with("08") || code == "40001" ||
      code == "40P01" || code == "53300" || code == "57P01" || code == "57P02" || code == "57P03") {
    return core::Status::Unavailable(message);
  }
  return core::Status::Internal(message);
}

core::Result<std::unique_ptr<Connection>> Connection::Open(const std::string& url,
                                                           const PostgresOptions& options) {
  // Keywords before "dbname" are defaults: settings in `url` override them.
  const std::string timeout = std::to_string(options.connect_timeout_s);
  const char* keys[] = {"connect_timeout", "client_encoding", "application_name", "dbname",
                        nullptr};
  const char* values[] = {timeout.c_str(), "UTF8", "imgpipe", url.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr)
    return core::Status::Unavailable("out of memory for a PostgreSQL connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string reason = Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return core::Status::Unavailable(reason);
  }
  PQsetNoticeProcessor(conn, LogNotice, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn, options.cache_statements));
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::InTransaction() const {
  PGTransactionStatusType s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR;
}

core::Status Connection::ExecSimple(const char* sql) {
  ResultPtr res(PQexec(conn_, sql));
  if (res == nullptr || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
    return PgStatus(conn_, res.get(), sql);
  }
  return core::Status::Ok();
}

core::Result<std::string> Connection::Prepared(const std::string& key, const std::string& pg_sql,
                                               std::span<const Oid> types) {
  if (auto it = cache_.find(key); it != cache_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru_pos);
    return it->second.name;
  }
  std::string name = "imgpipe_" + std::to_string(++next_statement_);
  ResultPtr res(
      PQprepare(conn_, name.c_str(), pg_sql.c_str(), static_cast<int>(types.size()), types.data()));
  if (res == nullptr || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
    return PgStatus(conn_, res.get(), "preparing \"" + pg_sql + "\"");
  }
  if (cache_.size() >= kMaxCachedStatements) {
    auto victim = cache_.find(lru_.back());
    // Not transactional, so it is safe inside the caller's transaction.
    ResultPtr dropped(PQexec(conn_, ("DEALLOCATE " + victim->second.name).c_str()));
    cache_.erase(victim);
    lru_.pop_back();
  }
  lru_.push_front(key);
  cache_.emplace(key, CacheEntry{name, lru_.begin()});
  return name;
}

core::Result<Connection::ResultPtr> Connection::Run(std::string_view sql,
                                                    std::span<const Value> params) {
  RewrittenSql rewritten = RewritePlaceholders(sql);
  if (static_cast<size_t>(rewritten.placeholders) != params.size()) {
    return core::Status::Internal("\"" + std::string(sql) + "\" has " +
                                  std::to_string(rewritten.placeholders) + " placeholders but " +
                                  std::to_string(params.size()) + " parameters were bound");
  }
  const std::string pg_sql = TranslateDdl(rewritten.sql);
  BoundParams bound(params);
  const int n = static_cast<int>(params.size());
  ResultPtr res;
  if (cache_enabled_ && IsCacheable(pg_sql)) {
    // The same SQL text may be bound with different types (an int, later a NULL).
    std::string key = pg_sql;
    key.push_back('\0');
    for (Oid type : bound.types) key += std::to_string(type) + ",";
    IMGPIPE_ASSIGN_OR_RETURN(std::string name, Prepared(key, pg_sql, bound.types));
    res.reset(PQexecPrepared(conn_, name.c_str(), n, bound.values.data(), bound.lengths.data(),
                             bound.formats.data(), /*resultFormat=*/0));
  } else {
    res.reset(PQexecParams(conn_, pg_sql.c_str(), n, bound.types.data(), bound.values.data(),
                           bound.lengths.data(), bound.formats.data(), /*resultFormat=*/0));
  }
  ExecStatusType status = res != nullptr ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return PgStatus(conn_, res.get(), "\"" + std::string(sql) + "\"");
  }
  return res;
}

core::Result<int64_t> Connection::Exec(std::string_view sql, std::span<const Value> params) {
  IMGPIPE_ASSIGN_OR_RETURN(ResultPtr res, Run(sql, params));
  // PQcmdTuples also counts the rows a SELECT returned; only data changes count here.
  std::string_view tag = PQcmdStatus(res.get());
  if (!tag.starts_with("INSERT") && !tag.starts_with("UPDATE") && !tag.starts_with("DELETE") &&
      !tag.starts_with("MERGE")) {
    return int64_t{0};
  }
  const char* count = PQcmdTuples(res.get());
  int64_t changed = 0;
  std::from_chars(count, count + std::strlen(count), changed);
  return changed;
}

core::Result<std::vector<Row>> Connection::Query(std::string_view sql,
                                                 std::span<const Value> params) {
  IMGPIPE_ASSIGN_OR_RETURN(ResultPtr res, Run(sql, params));
  const int rows = PQntuples(res.get());
  const int cols = PQnfields(res.get());
  std::vector<Row> out;
  out.reserve(static_cast<size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    std::vector<Value> cells;
    cells.reserve(static_cast<size_t>(cols));
    for (int c = 0; c < cols; ++c) cells.push_back(Decode(res.get(), r, c));
    out.emplace_back(std::move(cells));
  }
  return out;
}

}  // namespace imgpipe::db::postgres
