// PostgreSQL backend of db::Database (see database.h for the contract every backend keeps).
//
// SQL stays portable: '?' placeholders become $1..$n (a '?' inside a string literal, quoted
// identifier or comment is left alone), and CREATE TABLE / ALTER TABLE statements get a small
// type translation so schema steps written for SQLite run unchanged:
//   INTEGER -> BIGINT (SQLite integers are 64-bit; PostgreSQL's INTEGER is 32-bit),
//   REAL -> DOUBLE PRECISION, BLOB -> BYTEA; a trailing WITHOUT ROWID is dropped.
// Only whole words outside literals are translated, and only in those two statement kinds.
//
// Values: int64 binds as int8, double as float8 (full precision), Blob as bytea, Null as NULL,
// text with its type inferred by the server. Results: int2/int4/int8/oid/bool -> int64,
// float4/float8/numeric -> double, bytea -> Blob, NULL -> Null, anything else -> text.
//
// Errors: unique violation (23505) -> AlreadyExists; a lost or refused connection, serialization
// failure (40001), deadlock (40P01), or a server shutting down -> Unavailable; the rest ->
// Internal. A connection that breaks is dropped from the pool and replaced on demand.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "db/database.h"

namespace imgpipe::db {

struct PostgresOptions {
  int pool_size = 8;               // connections, opened on demand; one transaction each
  int checkout_timeout_ms = 5000;  // Begin waits this long for a free connection
  int connect_timeout_s = 5;       // per connection attempt (libpq connect_timeout)
  bool cache_statements = true;    // prepare DML once per connection, keyed by its SQL text
};

// Opens a pool on `url` (a libpq connection URI or key=value string, e.g.
// "postgresql://user:secret@db.example:5432/imgpipe"). One connection is made up front, so a
// wrong or unreachable URL fails here: InvalidArgument when it does not parse, Unavailable when
// the server cannot be reached or refuses us. Describe() never shows the password.
core::Result<std::unique_ptr<Database>> OpenPostgres(const std::string& url,
                                                     const PostgresOptions& options = {});

}  // namespace imgpipe::db
