// For tests that run on both engines: the same test source builds a SQLite target and a
// PostgreSQL one (compiled with IMGPIPE_TEST_POSTGRES and linked with imgpipe_db_pgtest).
#pragma once

#include <memory>
#include <string>

#include "db/database.h"
#ifdef IMGPIPE_TEST_POSTGRES
#include "db/postgres/test_support.h"
#endif

namespace imgpipe::db::testing {

// A fresh database: a new PostgreSQL database on the throwaway test server in the PostgreSQL
// build, else SQLite at `dir`/meta.db.
inline core::Result<std::unique_ptr<Database>> OpenTestDatabase(const std::string& dir) {
#ifdef IMGPIPE_TEST_POSTGRES
  (void)dir;
  return postgres::OpenFreshTestDatabase();
#else
  return OpenSqlite(dir + "/meta.db");
#endif
}

}  // namespace imgpipe::db::testing
