// The jobs module's SQL: schema and row access for jobs_clients and jobs_jobs. Internal to
// src/jobs; every function runs inside the caller's transaction.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "db/database.h"
#include "jobs/jobs.h"

namespace imgpipe::jobs::internal {

// Applies the jobs schema (db::Migrate component "jobs").
core::Status MigrateSchema(db::Database& db);

core::Status InsertClient(db::Transaction& tx, std::string_view client_id, int64_t now_ms);
core::Result<bool> ClientExists(db::Transaction& tx, std::string_view client_id);

// Inserts `job`; returns false (and inserts nothing) when the client already has a job with
// `idempotency_key`.
core::Result<bool> InsertJob(db::Transaction& tx, const JobRecord& job,
                             const std::optional<std::string>& idempotency_key);
core::Result<std::optional<JobRecord>> FindByIdempotencyKey(db::Transaction& tx,
                                                            std::string_view client_id,
                                                            std::string_view idempotency_key);
core::Result<std::optional<JobRecord>> FindJob(db::Transaction& tx, std::string_view job_id);
// Newest first.
core::Result<std::vector<JobRecord>> ListClientJobs(db::Transaction& tx, std::string_view client_id,
                                                    int limit);

}  // namespace imgpipe::jobs::internal
