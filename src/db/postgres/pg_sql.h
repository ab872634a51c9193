// SQL text rewriting for the PostgreSQL backend: '?' placeholders to $n, and the portable column
// types of CREATE/ALTER TABLE to PostgreSQL's (see db/postgres.h). Internal to src/db.
//
// Both skip string literals ('...', E'...' with backslash escapes), quoted identifiers ("..."),
// dollar-quoted strings ($tag$...$tag$) and comments (-- and nested /* */), assuming
// standard_conforming_strings=on (PostgreSQL's default since 9.1), where '\' is one backslash.
#pragma once

#include <string>
#include <string_view>

namespace imgpipe::db::postgres {

struct RewrittenSql {
  std::string sql;
  int placeholders = 0;  // how many '?' became $1..$n
};

// Replaces each '?' outside literals, identifiers and comments by $1, $2, ... in order.
RewrittenSql RewritePlaceholders(std::string_view sql);

// For CREATE [TEMP|TEMPORARY|UNLOGGED] TABLE and ALTER TABLE statements, replaces the words
// INTEGER, REAL and BLOB (any case, whole words outside literals and quoted identifiers) by
// BIGINT, DOUBLE PRECISION and BYTEA, and drops a CREATE TABLE's trailing WITHOUT ROWID (SQLite's
// clustered table; PostgreSQL tables are heaps). Every other statement is returned unchanged.
std::string TranslateDdl(std::string_view sql);

// True for statements worth preparing once per connection (SELECT, INSERT, UPDATE, DELETE, WITH);
// DDL and one-off commands run unprepared.
bool IsCacheable(std::string_view sql);

}  // namespace imgpipe::db::postgres
