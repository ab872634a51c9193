#include "jobs/job_store.h"

#include <array>

namespace imgpipe::jobs::internal {
namespace {

using core::Result;
using core::Status;
using db::Value;

// Schema steps: one statement each, applied once (db::Migrate). Append; never edit.
constexpr std::array<std::string_view, 4> kSchema = {
    "CREATE TABLE jobs_clients (client_id TEXT PRIMARY KEY, created_at_ms INTEGER NOT NULL)",
    "CREATE TABLE jobs_jobs ("
    " job_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, algorithm TEXT NOT NULL,"
    " study_id TEXT NOT NULL, series_id TEXT NOT NULL, image_id TEXT NOT NULL,"
    " scope TEXT NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL,"
    " error TEXT NOT NULL DEFAULT '', idempotency_key TEXT,"
    " created_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL)",
    // NULL keys are distinct (SQLite and PostgreSQL alike): only given keys are unique.
    "CREATE UNIQUE INDEX jobs_jobs_by_idempotency_key ON jobs_jobs(client_id, idempotency_key)",
    // ListJobs: a client's jobs newest first (UUIDv7 ids sort by creation time).
    "CREATE INDEX jobs_jobs_by_client ON jobs_jobs(client_id, job_id)",
};

constexpr std::string_view kJobColumns =
    "job_id, client_id, algorithm, study_id, series_id, image_id, scope, params, status, error,"
    " created_at_ms, updated_at_ms";

JobRecord JobFromRow(const db::Row& row) {
  JobRecord job;
  job.job_id = row.Text(0);
  job.client_id = row.Text(1);
  job.algorithm = row.Text(2);
  job.study_id = row.Text(3);
  job.series_id = row.Text(4);
  job.image_id = row.Text(5);
  job.scope = row.Text(6);
  job.params_json = row.Text(7);
  job.status = row.Text(8);
  job.error = row.Text(9);
  job.created_at_ms = row.Int(10);
  job.updated_at_ms = row.Int(11);
  return job;
}

std::string SelectJobs(std::string_view where) {
  std::string sql = "SELECT ";
  sql += kJobColumns;
  sql += " FROM jobs_jobs WHERE ";
  sql += where;
  return sql;
}

Result<std::optional<JobRecord>> QueryOne(db::Transaction& tx, std::string_view sql,
                                          std::span<const Value> params) {
  IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx.Query(sql, params));
  if (rows.empty()) return std::optional<JobRecord>();
  return std::optional<JobRecord>(JobFromRow(rows[0]));
}

}  // namespace

Status MigrateSchema(db::Database& db) { return db::Migrate(db, "jobs", kSchema); }

Status InsertClient(db::Transaction& tx, std::string_view client_id, int64_t now_ms) {
  Value params[] = {std::string(client_id), now_ms};
  auto changed =
      tx.Exec("INSERT INTO jobs_clients (client_id, created_at_ms) VALUES (?, ?)", params);
  return changed.status();
}

Result<bool> ClientExists(db::Transaction& tx, std::string_view client_id) {
  Value params[] = {std::string(client_id)};
  IMGPIPE_ASSIGN_OR_RETURN(auto rows,
                           tx.Query("SELECT 1 FROM jobs_clients WHERE client_id = ?", params));
  return !rows.empty();
}

Result<bool> InsertJob(db::Transaction& tx, const JobRecord& job,
                       const std::optional<std::string>& idempotency_key) {
  Value key = idempotency_key ? Value(*idempotency_key) : Value(db::Null{});
  Value params[] = {job.job_id,   job.client_id,     job.algorithm,    job.study_id, job.series_id,
                    job.image_id, job.scope,         job.params_json,  job.status,   job.error,
                    key,          job.created_at_ms, job.updated_at_ms};
  IMGPIPE_ASSIGN_OR_RETURN(
      int64_t changed,
      tx.Exec("INSERT INTO jobs_jobs (job_id, client_id, algorithm, study_id, series_id, image_id,"
              " scope, params, status, error, idempotency_key, created_at_ms, updated_at_ms)"
              " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
              " ON CONFLICT (client_id, idempotency_key) DO NOTHING",
              params));
  return changed == 1;
}

Result<std::optional<JobRecord>> FindByIdempotencyKey(db::Transaction& tx,
                                                      std::string_view client_id,
                                                      std::string_view idempotency_key) {
  Value params[] = {std::string(client_id), std::string(idempotency_key)};
  return QueryOne(tx, SelectJobs("client_id = ? AND idempotency_key = ?"), params);
}

Result<std::optional<JobRecord>> FindJob(db::Transaction& tx, std::string_view job_id) {
  Value params[] = {std::string(job_id)};
  return QueryOne(tx, SelectJobs("job_id = ?"), params);
}

Result<std::vector<JobRecord>> ListClientJobs(db::Transaction& tx, std::string_view client_id,
                                              int limit) {
  Value params[] = {std::string(client_id), static_cast<int64_t>(limit)};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows, tx.Query(SelectJobs("client_id = ? ORDER BY job_id DESC LIMIT ?"), params));
  std::vector<JobRecord> jobs;
  jobs.reserve(rows.size());
  for (const auto& row : rows) jobs.push_back(JobFromRow(row));
  return jobs;
}

}  // namespace imgpipe::jobs::internal
