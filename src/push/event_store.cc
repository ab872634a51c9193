// EventStore: push_events rows and per-client sequence counters (push_sequences).
#include <array>
#include <boost/json.hpp>

#include "push/push.h"

namespace imgpipe::push {
namespace {

using core::Result;
using core::Status;
using db::Value;
namespace json = boost::json;

// Schema steps: one statement each, applied once (db::Migrate). Append; never edit.
constexpr std::array<std::string_view, 4> kSchema = {
    // The last sequence number handed out per client; never decreases, so pruned events' numbers
    // are never reused.
    "CREATE TABLE push_sequences (client_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL)",
    "CREATE TABLE push_events ("
    " client_id TEXT NOT NULL, seq INTEGER NOT NULL, job_id TEXT NOT NULL, type TEXT NOT NULL,"
    " dedup_id TEXT NOT NULL, body TEXT NOT NULL, created_at_ms INTEGER NOT NULL,"
    " PRIMARY KEY (client_id, seq))",
    // Append's idempotency: one event per results-queue message.
    "CREATE UNIQUE INDEX push_events_by_dedup ON push_events(dedup_id)",
    // Pruning by age.
    "CREATE INDEX push_events_by_time ON push_events(created_at_ms)",
};

constexpr std::string_view kColumns = "client_id, seq, job_id, type, body, created_at_ms";

Event FromRow(const db::Row& row) {
  Event e;
  e.client_id = row.Text(0);
  e.seq = row.Int(1);
  e.job_id = row.Text(2);
  e.type = row.Text(3);
  e.json = row.Text(4);
  e.created_at_ms = row.Int(5);
  return e;
}

}  // namespace

Result<std::unique_ptr<EventStore>> EventStore::Open(db::Database& db) {
  IMGPIPE_RETURN_IF_ERROR(db::Migrate(db, "push", kSchema));
  return std::unique_ptr<EventStore>(new EventStore(db));
}

Result<Event> EventStore::Append(db::Transaction& tx, std::string_view client_id,
                                 std::string_view dedup_id, std::string_view body, int64_t now_ms,
                                 bool* stored) {
  *stored = false;
  {
    Value params[] = {std::string(dedup_id)};
    IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT " + std::string(kColumns) +
                                                     " FROM push_events WHERE dedup_id = ?",
                                                 params));
    if (!rows.empty()) return FromRow(rows[0]);
  }
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec || !parsed.is_object()) return Status::InvalidArgument("event is not a JSON object");
  json::object& message = parsed.as_object();
  const json::value* type = message.if_contains("type");
  const json::value* job = message.if_contains("job_id");
  if (type == nullptr || !type->is_string() || job == nullptr || !job->is_string()) {
    return Status::InvalidArgument("event has no \"type\" and \"job_id\" strings");
  }
  Event e;
  e.client_id = std::string(client_id);
  e.job_id = std::string(job->as_string());
  e.type = std::string(type->as_string());
  e.created_at_ms = now_ms;
  {
    Value params[] = {e.client_id};
    IMGPIPE_ASSIGN_OR_RETURN(
        auto rows, tx.Query("INSERT INTO push_sequences (client_id, last_seq) VALUES (?, 1)"
                            " ON CONFLICT (client_id) DO UPDATE"
                            " SET last_seq = push_sequences.last_seq + 1 RETURNING last_seq",
                            params));
    if (rows.empty()) return Status::Internal("no sequence number returned");
    e.seq = rows[0].Int(0);
  }
  // "seq" first, as DESIGN.md shows the events.
  json::object out;
  out["type"] = e.type;
  out["seq"] = e.seq;
  for (auto& [key, value] : message) {
    if (key != "type" && key != "seq") out[key] = std::move(value);
  }
  e.json = json::serialize(out);
  Value params[] = {e.client_id,           e.seq,  e.job_id,       e.type,
                    std::string(dedup_id), e.json, e.created_at_ms};
  IMGPIPE_RETURN_IF_ERROR(
      tx.Exec("INSERT INTO push_events (client_id, seq, job_id, type, dedup_id, body,"
              " created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
              params)
          .status());
  *stored = true;
  return e;
}

Result<std::vector<Event>> EventStore::After(std::string_view client_id, int64_t after, int limit) {
  if (limit < 1 || limit > 1000) return Status::InvalidArgument("limit must be within 1..1000");
  if (after < 0) return Status::InvalidArgument("after must be >= 0");
  Value params[] = {std::string(client_id), after, static_cast<int64_t>(limit)};
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  IMGPIPE_ASSIGN_OR_RETURN(auto rows,
                           tx->Query("SELECT " + std::string(kColumns) +
                                         " FROM push_events WHERE client_id = ? AND seq > ?"
                                         " ORDER BY seq LIMIT ?",
                                     params));
  std::vector<Event> events;
  events.reserve(rows.size());
  for (const auto& row : rows) events.push_back(FromRow(row));
  return events;
}

Result<int64_t> EventStore::LastSeq(std::string_view client_id) {
  if (cache_last_seq_) {
    std::lock_guard lock(cache_mu_);
    if (auto it = last_seq_.find(std::string(client_id)); it != last_seq_.end()) return it->second;
  }
  Value params[] = {std::string(client_id)};
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows, tx->Query("SELECT last_seq FROM push_sequences WHERE client_id = ?", params));
  const int64_t last = rows.empty() ? int64_t{0} : rows[0].Int(0);
  if (cache_last_seq_) RememberLastSeq(client_id, last);
  return last;
}

void EventStore::NoteStored(const std::vector<Event>& events) {
  if (!cache_last_seq_) return;
  for (const Event& e : events) RememberLastSeq(e.client_id, e.seq);
}

// Keeps the larger value: a read of the database that raced a commit and its NoteStored never
// lowers what the cache holds (sequence numbers only grow).
void EventStore::RememberLastSeq(std::string_view client_id, int64_t seq) {
  std::lock_guard lock(cache_mu_);
  if (last_seq_.size() >= 100'000) last_seq_.clear();
  auto [it, inserted] = last_seq_.try_emplace(std::string(client_id), seq);
  if (!inserted && it->second < seq) it->second = seq;
}

Result<int64_t> EventStore::PruneBefore(int64_t cutoff_ms) {
  int64_t deleted = 0;
  IMGPIPE_RETURN_IF_ERROR(db_.Write(/*durable=*/false, [&](db::Transaction& tx) -> Status {
    Value params[] = {cutoff_ms};
    IMGPIPE_ASSIGN_OR_RETURN(deleted,
                             tx.Exec("DELETE FROM push_events WHERE created_at_ms < ?", params));
    return Status::Ok();
  }));
  return deleted;
}

std::string EventsJson(const std::vector<Event>& events, int64_t last_seq) {
  // The stored events are JSON already: spliced in, not re-parsed.
  std::string out = "{\"events\":[";
  for (size_t i = 0; i < events.size(); ++i) {
    if (i > 0) out += ',';
    out += events[i].json;
  }
  out += "],\"last_seq\":" + std::to_string(last_seq) + "}";
  return out;
}

}  // namespace imgpipe::push
