#include "jobs/export_store.h"

#include <algorithm>
#include <array>

namespace imgpipe::jobs::internal {
namespace {

using core::Result;
using core::Status;
using db::Value;

// Schema steps: one statement each, applied once (db::Migrate). Append; never edit. A component
// of its own, so that other changes to the jobs schema never interleave with these steps.
constexpr std::array<std::string_view, 1> kSchema = {
    "CREATE TABLE jobs_exports ("
    " job_id TEXT NOT NULL, destination TEXT NOT NULL, status TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '',"
    " sent INTEGER NOT NULL DEFAULT 0, updated_at_ms INTEGER NOT NULL,"
    " PRIMARY KEY (job_id, destination))",
};

constexpr std::string_view kColumns =
    "job_id, destination, status, attempts, error, sent, updated_at_ms";

ExportRecord FromRow(const db::Row& row) {
  ExportRecord e;
  e.destination = row.Text(1);
  e.status = row.Text(2);
  e.attempts = static_cast<int>(row.Int(3));
  e.error = row.Text(4);
  e.sent = static_cast<int>(row.Int(5));
  e.updated_at_ms = row.Int(6);
  return e;
}

std::string Select(std::string_view where) {
  return "SELECT " + std::string(kColumns) + " FROM jobs_exports WHERE " + std::string(where) +
         " ORDER BY job_id, destination";
}

}  // namespace

Status MigrateExportSchema(db::Database& db) { return db::Migrate(db, "jobs_exports", kSchema); }

Status InsertExports(db::Transaction& tx, std::string_view job_id,
                     const std::vector<std::string>& destinations, int64_t now_ms) {
  for (const std::string& destination : destinations) {
    Value params[] = {std::string(job_id), destination, std::string(kExportWaiting), now_ms};
    IMGPIPE_RETURN_IF_ERROR(tx.Exec("INSERT INTO jobs_exports (job_id, destination, status,"
                                    " updated_at_ms) VALUES (?, ?, ?, ?)",
                                    params)
                                .status());
  }
  return Status::Ok();
}

Result<std::vector<ExportRecord>> ListExports(db::Transaction& tx, std::string_view job_id) {
  Value params[] = {std::string(job_id)};
  IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx.Query(Select("job_id = ?"), params));
  std::vector<ExportRecord> out;
  for (const db::Row& row : rows) out.push_back(FromRow(row));
  return out;
}

Result<std::map<std::string, std::vector<ExportRecord>>> ExportsOf(
    db::Transaction& tx, const std::vector<std::string>& job_ids) {
  std::map<std::string, std::vector<ExportRecord>> out;
  constexpr size_t kChunk = 100;  // bounded parameter lists
  for (size_t i = 0; i < job_ids.size(); i += kChunk) {
    std::vector<Value> params;
    std::string where = "job_id IN (";
    for (size_t j = i; j < std::min(job_ids.size(), i + kChunk); ++j) {
      where += j == i ? "?" : ", ?";
      params.emplace_back(job_ids[j]);
    }
    where += ")";
    IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx.Query(Select(where), params));
    for (const db::Row& row : rows) out[row.Text(0)].push_back(FromRow(row));
  }
  return out;
}

Result<std::optional<ExportRecord>> FindExport(db::Transaction& tx, std::string_view job_id,
                                               std::string_view destination) {
  Value params[] = {std::string(job_id), std::string(destination)};
  IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx.Query(Select("job_id = ? AND destination = ?"), params));
  if (rows.empty()) return std::optional<ExportRecord>();
  return std::optional<ExportRecord>(FromRow(rows[0]));
}

Result<std::vector<std::string>> MoveWaitingExports(db::Transaction& tx, std::string_view job_id,
                                                    std::string_view status, int64_t now_ms) {
  std::vector<std::string> moved;
  {
    Value params[] = {std::string(job_id), std::string(kExportWaiting)};
    IMGPIPE_ASSIGN_OR_RETURN(
        auto rows, tx.Query("SELECT destination FROM jobs_exports WHERE job_id = ? AND status = ?"
                            " ORDER BY destination",
                            params));
    for (const db::Row& row : rows) moved.push_back(row.Text(0));
  }
  if (moved.empty()) return moved;
  Value params[] = {std::string(status), now_ms, std::string(job_id), std::string(kExportWaiting)};
  IMGPIPE_RETURN_IF_ERROR(tx.Exec("UPDATE jobs_exports SET status = ?, updated_at_ms = ?"
                                  " WHERE job_id = ? AND status = ?",
                                  params)
                              .status());
  return moved;
}

Result<bool> UpdateExport(db::Transaction& tx, std::string_view job_id,
                          std::string_view destination, const ExportUpdate& update,
                          int64_t now_ms) {
  Value params[] = {update.status,
                    static_cast<int64_t>(update.attempts),
                    update.error,
                    static_cast<int64_t>(update.sent),
                    now_ms,
                    std::string(job_id),
                    std::string(destination)};
  IMGPIPE_ASSIGN_OR_RETURN(
      int64_t changed,
      tx.Exec("UPDATE jobs_exports SET status = ?, attempts = ?, error = ?, sent = ?,"
              " updated_at_ms = ? WHERE job_id = ? AND destination = ?"
              " AND status NOT IN ('sent', 'failed', 'skipped')",
              params));
  return changed == 1;
}

}  // namespace imgpipe::jobs::internal
