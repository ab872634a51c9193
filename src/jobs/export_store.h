// The job_exports table (one row per job and export destination): SQL for JobService's export
// side. Internal to src/jobs; every function but MigrateExportSchema runs inside the caller's
// transaction.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "db/database.h"
#include "jobs/jobs.h"
#include "queue/queue.h"

namespace imgpipe::jobs::internal {

// Applies the export schema (db::Migrate component "jobs_exports").
core::Status MigrateExportSchema(db::Database& db);

// One row per destination, status "waiting".
core::Status InsertExports(db::Transaction& tx, std::string_view job_id,
                           const std::vector<std::string>& destinations, int64_t now_ms);
// The job's exports, by destination name.
core::Result<std::vector<ExportRecord>> ListExports(db::Transaction& tx, std::string_view job_id);
// The exports of each of `job_ids` (jobs without any are absent).
core::Result<std::map<std::string, std::vector<ExportRecord>>> ExportsOf(
    db::Transaction& tx, const std::vector<std::string>& job_ids);
core::Result<std::optional<ExportRecord>> FindExport(db::Transaction& tx, std::string_view job_id,
                                                     std::string_view destination);
// Moves the job's "waiting" exports to `status`; returns their destinations.
core::Result<std::vector<std::string>> MoveWaitingExports(db::Transaction& tx,
                                                          std::string_view job_id,
                                                          std::string_view status, int64_t now_ms);
// Applies `update` unless the export is final (sent, failed, skipped); returns whether it did.
core::Result<bool> UpdateExport(db::Transaction& tx, std::string_view job_id,
                                std::string_view destination, const ExportUpdate& update,
                                int64_t now_ms);

}  // namespace imgpipe::jobs::internal

namespace imgpipe::jobs::internal {

// Submit's export check: every name is in `configured`, none twice.
core::Status CheckExportNames(const std::set<std::string>& configured,
                              const std::vector<std::string>& names);
// Finish and Cancel, in their transaction, once `job` is terminal: its waiting exports become
// "queued", each with its message on kExportQueue (succeeded), or "skipped" (otherwise). Returns
// how many were queued.
core::Result<int> SettleExports(db::Transaction& tx, queue::QueueService& queues,
                                const JobRecord& job, int64_t now_ms);

}  // namespace imgpipe::jobs::internal
