// The jobs module's SQL: schema and row access for jobs_clients and jobs_jobs. Internal to
// src/jobs; every function runs inside the caller's transaction.
#pragma once

#include <functional>
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
// The job's recipients (SubmitRequest::notify_clients).
core::Status InsertRecipients(db::Transaction& tx, std::string_view job_id,
                              const std::vector<std::string>& clients);
core::Result<std::vector<std::string>> ListRecipients(db::Transaction& tx, std::string_view job_id);
core::Result<bool> IsRecipient(db::Transaction& tx, std::string_view job_id,
                               std::string_view client_id);
core::Result<std::optional<JobRecord>> FindByIdempotencyKey(db::Transaction& tx,
                                                            std::string_view client_id,
                                                            std::string_view idempotency_key);
core::Result<std::optional<JobRecord>> FindJob(db::Transaction& tx, std::string_view job_id);
// How many of the client's jobs are queued or running, counting up to `cap` (no further).
core::Result<int64_t> CountActiveJobs(db::Transaction& tx, std::string_view client_id, int64_t cap);
// The client's own and received jobs, newest first; only those with `status` unless it is empty.
core::Result<std::vector<JobRecord>> ListClientJobs(db::Transaction& tx, std::string_view client_id,
                                                    int limit, std::string_view status);

// The worker's transitions (see JobService); each returns whether the row changed.
core::Result<std::optional<JobRecord>> StartRun(db::Transaction& tx, std::string_view job_id,
                                                int attempt, int64_t now_ms);
core::Result<bool> FinishJob(db::Transaction& tx, std::string_view job_id,
                             const JobOutcome& outcome, int64_t now_ms);
core::Result<bool> CancelJob(db::Transaction& tx, std::string_view job_id, int64_t now_ms);
core::Result<bool> SetProgress(db::Transaction& tx, std::string_view job_id, int done, int total,
                               int64_t now_ms);
core::Status RequeueJob(db::Transaction& tx, std::string_view job_id, std::string_view why,
                        int64_t now_ms);
core::Result<std::vector<std::string>> CancelledAmong(db::Transaction& tx,
                                                      const std::vector<std::string>& job_ids);

// A named secret shared by every process on the database: stored once (`make` makes it), then
// read back. Its own transactions.
core::Result<std::string> ServerSecret(db::Database& db, std::string_view name,
                                       const std::function<std::string()>& make);

}  // namespace imgpipe::jobs::internal
