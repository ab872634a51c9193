#include "rules/rule_store.h"

#include <array>

namespace imgpipe::rules::internal {
namespace {

using core::Result;
using core::Status;
using db::Value;

// Schema steps: one statement each, applied once (db::Migrate). Append; never edit.
constexpr std::array<std::string_view, 4> kSchema = {
    // A rule as this database knows it: its own client (the owner of its jobs), when an engine
    // first saw it, and how far the engines have looked for complete series.
    "CREATE TABLE rules_rules (name TEXT PRIMARY KEY, client_id TEXT NOT NULL,"
    " first_seen_ms INTEGER NOT NULL, scanned_to_ms INTEGER NOT NULL)",
    "CREATE TABLE rules_subscriptions (rule TEXT NOT NULL, client_id TEXT NOT NULL,"
    " created_at_ms INTEGER NOT NULL, PRIMARY KEY (rule, client_id))",
    // One row per (rule, series) ever fired: the engine's cheap "already done" check.
    "CREATE TABLE rules_firings (rule TEXT NOT NULL, series_id TEXT NOT NULL,"
    " study_id TEXT NOT NULL, job_id TEXT NOT NULL, error TEXT NOT NULL,"
    " fired_at_ms INTEGER NOT NULL, PRIMARY KEY (rule, series_id))",
    "CREATE INDEX rules_firings_by_time ON rules_firings(rule, fired_at_ms)",
};

}  // namespace

Status MigrateSchema(db::Database& db) { return db::Migrate(db, "rules", kSchema); }

Result<std::optional<RuleRow>> FindRule(db::Transaction& tx, std::string_view name) {
  Value params[] = {std::string(name)};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows,
      tx.Query("SELECT client_id, first_seen_ms, scanned_to_ms FROM rules_rules WHERE name = ?",
               params));
  if (rows.empty()) return std::optional<RuleRow>();
  return std::optional<RuleRow>(RuleRow{rows[0].Text(0), rows[0].Int(1), rows[0].Int(2)});
}

Status InsertRule(db::Transaction& tx, std::string_view name, std::string_view client_id,
                  int64_t now_ms) {
  Value params[] = {std::string(name), std::string(client_id), now_ms, now_ms};
  return tx
      .Exec(
          "INSERT INTO rules_rules (name, client_id, first_seen_ms, scanned_to_ms)"
          " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
          params)
      .status();
}

Status AdvanceScan(db::Transaction& tx, std::string_view name, int64_t scanned_to_ms) {
  Value params[] = {scanned_to_ms, std::string(name), scanned_to_ms};
  return tx
      .Exec("UPDATE rules_rules SET scanned_to_ms = ? WHERE name = ? AND scanned_to_ms < ?", params)
      .status();
}

Status InsertSubscription(db::Transaction& tx, std::string_view rule, std::string_view client_id,
                          int64_t now_ms) {
  Value params[] = {std::string(rule), std::string(client_id), now_ms};
  return tx
      .Exec(
          "INSERT INTO rules_subscriptions (rule, client_id, created_at_ms) VALUES (?, ?, ?)"
          " ON CONFLICT (rule, client_id) DO NOTHING",
          params)
      .status();
}

Status DeleteSubscription(db::Transaction& tx, std::string_view rule, std::string_view client_id) {
  Value params[] = {std::string(rule), std::string(client_id)};
  return tx.Exec("DELETE FROM rules_subscriptions WHERE rule = ? AND client_id = ?", params)
      .status();
}

Result<int64_t> CountSubscribers(db::Transaction& tx, std::string_view rule) {
  Value params[] = {std::string(rule)};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows, tx.Query("SELECT COUNT(*) FROM rules_subscriptions WHERE rule = ?", params));
  return rows.empty() ? int64_t{0} : rows[0].Int(0);
}

Result<std::vector<std::string>> Subscribers(db::Transaction& tx, std::string_view rule) {
  Value params[] = {std::string(rule)};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows,
      tx.Query("SELECT client_id FROM rules_subscriptions WHERE rule = ? ORDER BY client_id",
               params));
  std::vector<std::string> out;
  for (const db::Row& r : rows) out.push_back(r.Text(0));
  return out;
}

Result<std::vector<std::string>> SubscribedRules(db::Transaction& tx, std::string_view client_id) {
  Value params[] = {std::string(client_id)};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows,
      tx.Query("SELECT rule FROM rules_subscriptions WHERE client_id = ? ORDER BY rule", params));
  std::vector<std::string> out;
  for (const db::Row& r : rows) out.push_back(r.Text(0));
  return out;
}

Result<bool> HasFired(db::Transaction& tx, std::string_view rule, std::string_view series) {
  Value params[] = {std::string(rule), std::string(series)};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows, tx.Query("SELECT 1 FROM rules_firings WHERE rule = ? AND series_id = ?", params));
  return !rows.empty();
}

Status InsertFiring(db::Transaction& tx, const Firing& f) {
  Value params[] = {f.rule, f.series_id, f.study_id, f.job_id, f.error, f.fired_at_ms};
  return tx
      .Exec(
          "INSERT INTO rules_firings (rule, series_id, study_id, job_id, error, fired_at_ms)"
          " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (rule, series_id) DO NOTHING",
          params)
      .status();
}

Result<std::vector<Firing>> ListFirings(db::Transaction& tx, std::string_view rule, int limit) {
  Value params[] = {std::string(rule), int64_t{limit}};
  IMGPIPE_ASSIGN_OR_RETURN(auto rows,
                           tx.Query("SELECT rule, series_id, study_id, job_id, error, fired_at_ms"
                                    " FROM rules_firings WHERE rule = ?"
                                    " ORDER BY fired_at_ms DESC, series_id LIMIT ?",
                                    params));
  std::vector<Firing> out;
  for (const db::Row& r : rows) {
    out.push_back(Firing{r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Int(5)});
  }
  return out;
}

}  // namespace imgpipe::rules::internal
