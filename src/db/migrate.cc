// Migrate: each step runs in its own write transaction together with the version bump, after
// re-reading the version inside that transaction. The write transaction serialises concurrent
// migrators (SQLite: BEGIN IMMEDIATE takes the database write lock; PostgreSQL: an advisory
// transaction lock), so whoever comes second sees the bumped version and skips the step.
#include <spdlog/spdlog.h>

#include "db/database.h"

namespace imgpipe::db {

namespace {

constexpr std::string_view kCreateSchemaTable =
    "CREATE TABLE IF NOT EXISTS imgpipe_schema ("
    "component TEXT PRIMARY KEY, version INTEGER NOT NULL)";

// Takes the migration lock inside `tx` where the backend needs one beyond the write transaction.
core::Status LockForMigration(Database& db, Transaction& tx) {
  if (db.dialect() == Dialect::kPostgres) {
    // PostgreSQL write transactions do not exclude each other; CREATE TABLE IF NOT EXISTS can
    // even race. An advisory lock held until commit serialises migrators across processes.
    auto locked = tx.Query("SELECT pg_advisory_xact_lock(7426010585)");
    if (!locked.ok()) return locked.status();
  }
  return core::Status::Ok();
}

core::Result<int64_t> CurrentVersion(Transaction& tx, std::string_view component) {
  const Value params[] = {std::string(component)};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows, tx.Query("SELECT version FROM imgpipe_schema WHERE component = ?", params));
  return rows.empty() ? int64_t{0} : rows.front().Int(0);
}

}  // namespace

core::Status Migrate(Database& db, std::string_view component,
                     std::span<const std::string_view> steps) {
  {
    IMGPIPE_ASSIGN_OR_RETURN(auto tx, db.Begin(TxMode::kWrite));
    IMGPIPE_RETURN_IF_ERROR(LockForMigration(db, *tx));
    IMGPIPE_RETURN_IF_ERROR(tx->Exec(kCreateSchemaTable).status());
    IMGPIPE_RETURN_IF_ERROR(tx->Commit());
  }
  const int64_t target = static_cast<int64_t>(steps.size());
  while (true) {
    IMGPIPE_ASSIGN_OR_RETURN(auto tx, db.Begin(TxMode::kWrite));
    IMGPIPE_RETURN_IF_ERROR(LockForMigration(db, *tx));
    IMGPIPE_ASSIGN_OR_RETURN(int64_t version, CurrentVersion(*tx, component));
    if (version > target) {
      // A newer binary migrated this database; carry on and let it be noticed.
      spdlog::warn("schema of {} is at version {}, newer than this binary's {}", component, version,
                   target);
      return core::Status::Ok();
    }
    if (version == target) return core::Status::Ok();
    std::string_view step = steps[static_cast<size_t>(version)];
    auto applied = tx->Exec(step);
    if (!applied.ok()) {
      return applied.status().WithContext("schema step " + std::to_string(version + 1) + " of " +
                                          std::string(component));
    }
    const Value params[] = {std::string(component), version + 1};
    IMGPIPE_RETURN_IF_ERROR(
        tx->Exec("INSERT INTO imgpipe_schema (component, version) VALUES (?, ?) "
                 "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                 params)
            .status());
    IMGPIPE_RETURN_IF_ERROR(tx->Commit());
  }
}

}  // namespace imgpipe::db
