// The one conformance suite every Database backend passes (DESIGN.md).
//
// A backend test instantiates it with a factory returning a fresh, EMPTY database per call (for
// PostgreSQL: a fresh schema or database per call), e.g., inside namespace imgpipe::db:
//
//   IMGPIPE_INSTANTIATE_DATABASE_CONFORMANCE(SqliteMemory, [] { return OpenSqlite(":memory:"); });
//
// Documented behaviour the suite pins down: after a statement fails (constraint violation, bad
// SQL, busy), the whole transaction is rolled back at once; later Exec/Query/Commit on it return
// an error with the same code. Callers that expect a duplicate use INSERT ... ON CONFLICT.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "db/database.h"

namespace imgpipe::db {

struct DatabaseFactory {
  std::string name;
  std::function<core::Result<std::unique_ptr<Database>>()> make;
};
inline void PrintTo(const DatabaseFactory& factory, std::ostream* os) { *os << factory.name; }

class DatabaseConformance : public ::testing::TestWithParam<DatabaseFactory> {
 protected:
  void SetUp() override {
    auto db = GetParam().make();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }
  void TearDown() override { db_.reset(); }

  Database& db() { return *db_; }
  // Runs `sql` in its own committed write transaction; fails the test on error.
  void ExecCommitted(std::string_view sql, std::span<const Value> params = {});
  // SELECT count(*) FROM `table` in a read transaction.
  int64_t Count(std::string_view table);

 private:
  std::unique_ptr<Database> db_;
};

}  // namespace imgpipe::db

// Runs every DatabaseConformance test against the databases `factory` makes. Expand it inside
// namespace imgpipe::db (gtest pastes the suite name, so it cannot be qualified).
#define IMGPIPE_INSTANTIATE_DATABASE_CONFORMANCE(label, factory)                               \
  INSTANTIATE_TEST_SUITE_P(label, DatabaseConformance,                                         \
                           ::testing::Values(::imgpipe::db::DatabaseFactory{#label, factory}), \
                           [](const auto& info) { return info.param.name; })
