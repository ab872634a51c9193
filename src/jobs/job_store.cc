#include "jobs/job_store.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>

namespace imgpipe::jobs::internal {
namespace {

using core::Result;
using core::Status;
using db::Value;

// Schema steps: one statement each, applied once (db::Migrate). Append; never edit.
constexpr std::array<std::string_view, 16> kSchema = {
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
    // The worker's side (runs, outcomes, progress).
    "ALTER TABLE jobs_jobs ADD COLUMN error_code TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE jobs_jobs ADD COLUMN outputs TEXT NOT NULL DEFAULT '{}'",
    "ALTER TABLE jobs_jobs ADD COLUMN summary TEXT NOT NULL DEFAULT '{}'",
    "ALTER TABLE jobs_jobs ADD COLUMN progress_done INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE jobs_jobs ADD COLUMN progress_total INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE jobs_jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE jobs_jobs ADD COLUMN started_at_ms INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE jobs_jobs ADD COLUMN finished_at_ms INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE jobs_jobs ADD COLUMN duration_ms DOUBLE PRECISION NOT NULL DEFAULT 0",
    // A server secret shared by every process on this database (de-identification run keys).
    "CREATE TABLE jobs_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    // Clients told about a job besides its owner (SubmitRequest::notify_clients).
    "CREATE TABLE jobs_recipients (job_id TEXT NOT NULL, client_id TEXT NOT NULL,"
    " PRIMARY KEY (job_id, client_id))",
    // ListJobs: the jobs a client receives, newest first.
    "CREATE INDEX jobs_recipients_by_client ON jobs_recipients(client_id, job_id)",
};

constexpr std::string_view kJobColumns =
    "job_id, client_id, algorithm, study_id, series_id, image_id, scope, params, status, error,"
    " created_at_ms, updated_at_ms, error_code, outputs, summary, progress_done, progress_total,"
    " attempts, started_at_ms, finished_at_ms, duration_ms";

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
  job.error_code = row.Text(12);
  job.outputs_json = row.Text(13);
  job.summary_json = row.Text(14);
  job.progress_done = static_cast<int>(row.Int(15));
  job.progress_total = static_cast<int>(row.Int(16));
  job.attempts = static_cast<int>(row.Int(17));
  job.started_at_ms = row.Int(18);
  job.finished_at_ms = row.Int(19);
  job.duration_ms = row.Real(20);
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

Status InsertRecipients(db::Transaction& tx, std::string_view job_id,
                        const std::vector<std::string>& clients) {
  for (const std::string& client : clients) {
    Value params[] = {std::string(job_id), client};
    IMGPIPE_RETURN_IF_ERROR(tx.Exec("INSERT INTO jobs_recipients (job_id, client_id) VALUES (?, ?)"
                                    " ON CONFLICT (job_id, client_id) DO NOTHING",
                                    params)
                                .status());
  }
  return Status::Ok();
}

Result<std::vector<std::string>> ListRecipients(db::Transaction& tx, std::string_view job_id) {
  Value params[] = {std::string(job_id)};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows,
      tx.Query("SELECT client_id FROM jobs_recipients WHERE job_id = ? ORDER BY client_id",
               params));
  std::vector<std::string> out;
  out.reserve(rows.size());
  for (const db::Row& r : rows) out.push_back(r.Text(0));
  return out;
}

Result<bool> IsRecipient(db::Transaction& tx, std::string_view job_id, std::string_view client_id) {
  Value params[] = {std::string(job_id), std::string(client_id)};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows,
      tx.Query("SELECT 1 FROM jobs_recipients WHERE job_id = ? AND client_id = ?", params));
  return !rows.empty();
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

Result<int64_t> CountActiveJobs(db::Transaction& tx, std::string_view client_id, int64_t cap) {
  Value params[] = {std::string(client_id), std::string(kStatusQueued), std::string(kStatusRunning),
                    cap};
  IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT COUNT(*) FROM (SELECT 1 FROM jobs_jobs WHERE"
                                               " client_id = ? AND status IN (?, ?) LIMIT ?) a",
                                               params));
  return rows.empty() ? int64_t{0} : rows[0].Int(0);
}

Result<std::vector<JobRecord>> ListClientJobs(db::Transaction& tx, std::string_view client_id,
                                              int limit, std::string_view status) {
  // Two index walks (owned, received), each newest first and cut at `limit`, merged.
  auto query = [&](std::string sql) -> Result<std::vector<db::Row>> {
    std::vector<Value> params;
    params.emplace_back(std::string(client_id));
    if (!status.empty()) {
      sql += " AND j.status = ?";
      params.emplace_back(std::string(status));
    }
    sql += " ORDER BY j.job_id DESC LIMIT ?";
    params.emplace_back(static_cast<int64_t>(limit));
    return tx.Query(sql, params);
  };
  std::string columns;
  for (size_t start = 0; start < kJobColumns.size();) {
    size_t comma = kJobColumns.find(',', start);
    if (comma == std::string_view::npos) comma = kJobColumns.size();
    std::string_view column = kJobColumns.substr(start, comma - start);
    while (!column.empty() && column.front() == ' ') column.remove_prefix(1);
    columns += (columns.empty() ? "j." : ", j.") + std::string(column);
    start = comma + 1;
  }
  IMGPIPE_ASSIGN_OR_RETURN(auto owned,
                           query("SELECT " + columns + " FROM jobs_jobs j WHERE j.client_id = ?"));
  IMGPIPE_ASSIGN_OR_RETURN(auto received,
                           query("SELECT " + columns +
                                 " FROM jobs_recipients r JOIN jobs_jobs j ON j.job_id = r.job_id"
                                 " WHERE r.client_id = ?"));
  std::vector<JobRecord> jobs;
  jobs.reserve(owned.size() + received.size());
  for (const auto& row : owned) jobs.push_back(JobFromRow(row));
  for (const auto& row : received) jobs.push_back(JobFromRow(row));
  std::sort(jobs.begin(), jobs.end(),
            [](const JobRecord& a, const JobRecord& b) { return a.job_id > b.job_id; });
  if (jobs.size() > static_cast<size_t>(limit)) jobs.resize(static_cast<size_t>(limit));
  return jobs;
}

Result<std::optional<JobRecord>> StartRun(db::Transaction& tx, std::string_view job_id, int attempt,
                                          int64_t now_ms) {
  Value params[] = {std::string(kStatusRunning), static_cast<int64_t>(attempt), now_ms, now_ms,
                    std::string(job_id)};
  IMGPIPE_ASSIGN_OR_RETURN(
      int64_t changed,
      tx.Exec("UPDATE jobs_jobs SET status = ?, attempts = ?, updated_at_ms = ?,"
              " started_at_ms = CASE WHEN started_at_ms = 0 THEN ? ELSE started_at_ms END"
              " WHERE job_id = ? AND status IN ('queued', 'running')",
              params));
  if (changed == 0) return std::optional<JobRecord>();
  return FindJob(tx, job_id);
}

Result<bool> FinishJob(db::Transaction& tx, std::string_view job_id, const JobOutcome& outcome,
                       int64_t now_ms) {
  Value params[] = {outcome.status,
                    outcome.error_code,
                    outcome.error_message,
                    boost::json::serialize(outcome.outputs),
                    boost::json::serialize(outcome.summary),
                    outcome.duration_ms,
                    now_ms,
                    now_ms,
                    std::string(job_id)};
  IMGPIPE_ASSIGN_OR_RETURN(
      int64_t changed,
      tx.Exec("UPDATE jobs_jobs SET status = ?, error_code = ?, error = ?, outputs = ?,"
              " summary = ?, duration_ms = ?, finished_at_ms = ?, updated_at_ms = ?"
              " WHERE job_id = ? AND status IN ('queued', 'running')",
              params));
  return changed == 1;
}

Result<bool> CancelJob(db::Transaction& tx, std::string_view job_id, int64_t now_ms) {
  Value params[] = {now_ms, now_ms, std::string(job_id)};
  IMGPIPE_ASSIGN_OR_RETURN(
      int64_t changed,
      tx.Exec("UPDATE jobs_jobs SET status = 'cancelled', error_code = 'cancelled',"
              " error = 'cancelled by the client', finished_at_ms = ?, updated_at_ms = ?"
              " WHERE job_id = ? AND status IN ('queued', 'running')",
              params));
  return changed == 1;
}

Result<bool> SetProgress(db::Transaction& tx, std::string_view job_id, int done, int total,
                         int64_t now_ms) {
  Value params[] = {static_cast<int64_t>(done), static_cast<int64_t>(total), now_ms,
                    std::string(job_id)};
  IMGPIPE_ASSIGN_OR_RETURN(
      int64_t changed,
      tx.Exec("UPDATE jobs_jobs SET progress_done = ?, progress_total = ?, updated_at_ms = ?"
              " WHERE job_id = ? AND status = 'running'",
              params));
  return changed == 1;
}

Status RequeueJob(db::Transaction& tx, std::string_view job_id, std::string_view why,
                  int64_t now_ms) {
  Value params[] = {std::string(why), now_ms, std::string(job_id)};
  return tx
      .Exec(
          "UPDATE jobs_jobs SET status = 'queued', error = ?, updated_at_ms = ?"
          " WHERE job_id = ? AND status = 'running'",
          params)
      .status();
}

Result<std::vector<std::string>> CancelledAmong(db::Transaction& tx,
                                                const std::vector<std::string>& job_ids) {
  std::vector<std::string> out;
  // One statement per chunk of ids (bounded parameter lists).
  constexpr size_t kChunk = 100;
  for (size_t i = 0; i < job_ids.size(); i += kChunk) {
    std::vector<Value> params;
    std::string sql = "SELECT job_id FROM jobs_jobs WHERE status = 'cancelled' AND job_id IN (";
    for (size_t j = i; j < std::min(job_ids.size(), i + kChunk); ++j) {
      sql += j == i ? "?" : ", ?";
      params.emplace_back(job_ids[j]);
    }
    sql += ")";
    IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx.Query(sql, params));
    for (const auto& row : rows) out.push_back(row.Text(0));
  }
  return out;
}

Result<std::string> ServerSecret(db::Database& db, std::string_view name,
                                 const std::function<std::string()>& make) {
  Value params[] = {std::string(name)};
  {
    IMGPIPE_ASSIGN_OR_RETURN(auto tx, db.Begin(db::TxMode::kRead));
    IMGPIPE_ASSIGN_OR_RETURN(auto rows,
                             tx->Query("SELECT value FROM jobs_settings WHERE name = ?", params));
    if (!rows.empty()) return rows[0].Text(0);
  }
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db.Begin(db::TxMode::kWrite));
  Value insert[] = {std::string(name), make()};
  IMGPIPE_RETURN_IF_ERROR(
      tx->Exec(
            "INSERT INTO jobs_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            insert)
          .status());
  // Another process may have won the race: read what was stored.
  IMGPIPE_ASSIGN_OR_RETURN(auto rows,
                           tx->Query("SELECT value FROM jobs_settings WHERE name = ?", params));
  IMGPIPE_RETURN_IF_ERROR(tx->Commit());
  if (rows.empty()) return Status::Internal("server secret not stored");
  return rows[0].Text(0);
}

}  // namespace imgpipe::jobs::internal
