// SqlQueueService: acks, visibility changes, stats, purge and dead letters.
//
// Acks and visibility changes commit with TxMode::kWriteRelaxed: losing one to a power failure
// only means the message is delivered again, which at-least-once delivery allows.
#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "queue/sql_queue_internal.h"

namespace imgpipe::queue::internal {
namespace {

using core::Result;
using core::Status;
using db::Value;

Status StaleReceipt(std::string_view queue) {
  return Status::NotFound("stale or unknown receipt in queue " + std::string(queue));
}

}  // namespace

Status SqlQueueService::Delete(std::string_view queue, std::string_view receipt) {
  IMGPIPE_ASSIGN_OR_RETURN(auto statuses, DeleteBatch(queue, std::array{std::string(receipt)}));
  return statuses[0];
}

Result<std::vector<Status>> SqlQueueService::DeleteBatch(std::string_view queue,
                                                         std::span<const std::string> receipts) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  if (receipts.empty() || receipts.size() > kMaxBatch) {
    return Status::InvalidArgument("a batch has 1..10 receipts");
  }
  std::vector<Status> statuses;
  bool unblocked = false;  // a group with more messages lost its in-flight head
  IMGPIPE_RETURN_IF_ERROR(db_.Write(/*durable=*/false, [&](db::Transaction& tx) -> Status {
    IMGPIPE_ASSIGN_OR_RETURN(unblocked, DeleteIn(tx, queue, receipts, &statuses));
    return Status::Ok();
  }));
  if (unblocked) Wake(queue);  // the next message of the group may go now
  CountWrites(std::ssize(receipts));
  return statuses;
}

Status SqlQueueService::DeleteInTransaction(db::Transaction& tx, std::string_view queue,
                                            std::string_view receipt) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  std::vector<Status> statuses;
  IMGPIPE_RETURN_IF_ERROR(
      DeleteIn(tx, queue, std::array{std::string(receipt)}, &statuses).status());
  CountWrites(1);
  return statuses[0];
}

Result<bool> SqlQueueService::DeleteIn(db::Transaction& tx, std::string_view queue,
                                       std::span<const std::string> receipts,
                                       std::vector<Status>* statuses_out) {
  std::vector<Status>& statuses = *statuses_out;
  statuses.assign(receipts.size(), Status::Ok());
  IMGPIPE_ASSIGN_OR_RETURN(QueueRow row, Queue(tx, queue));
  // Receipts by claim token (one token per Receive call): one statement per token.
  std::map<std::string, std::vector<std::pair<int64_t, size_t>>> by_token;
  for (size_t i = 0; i < receipts.size(); ++i) {
    int64_t seq = 0;
    std::string token;
    if (ParseReceipt(receipts[i], &seq, &token)) {
      by_token[token].emplace_back(seq, i);
    } else {
      statuses[i] = StaleReceipt(queue);
    }
  }
  auto params_for = [&](const std::string& token, const auto& entries) {
    std::vector<Value> params;
    params.reserve(entries.size() + 2);
    params.emplace_back(row.id);
    params.emplace_back(std::string(token));
    for (const auto& [seq, i] : entries) params.emplace_back(seq);
    return params;
  };
  if (dialect_ == db::Dialect::kPostgres) {
    // Lock the groups first (name order), so that RefreshGroups sees every committed send.
    std::set<std::string> groups;
    for (const auto& [token, entries] : by_token) {
      IMGPIPE_ASSIGN_OR_RETURN(auto rows,
                               tx.Query("SELECT group_id FROM queue_messages WHERE queue_id = ? AND"
                                        " receipt = ? AND seq IN (" +
                                            Placeholders(entries.size()) + ")",
                                        params_for(token, entries)));
      for (const auto& r : rows) groups.insert(r.Text(0));
    }
    std::vector<std::string> sorted(groups.begin(), groups.end());
    IMGPIPE_RETURN_IF_ERROR(LockGroups(tx, dialect_, row.id, sorted));
  }
  std::set<int64_t> gone;
  std::map<std::string, std::vector<LeftMessage>> left;  // per group
  std::map<std::string, GroupChain> chains;              // SQLite: their group rows
  for (const auto& [token, entries] : by_token) {
    std::vector<Value> params = params_for(token, entries);
    std::vector<db::Row> rows;
    if (dialect_ == db::Dialect::kPostgres) {
      // One round trip: the counters ride along (the groups are locked already).
      Append(params, row.id, CounterShard(dialect_));
      IMGPIPE_ASSIGN_OR_RETURN(
          rows,
          tx.Query("WITH d AS (DELETE FROM queue_messages WHERE queue_id = ? AND receipt = ? AND"
                   " seq IN (" +
                       Placeholders(entries.size()) +
                       ") RETURNING seq, group_id, next_seq), c AS (INSERT INTO queue_counters"
                       " (queue_id, shard, sent, received, deleted) SELECT ?, ?, 0, 0, COUNT(*)"
                       " FROM d HAVING COUNT(*) > 0 ON CONFLICT (queue_id, shard) DO UPDATE SET"
                       " deleted = queue_counters.deleted + excluded.deleted) SELECT seq,"
                       " group_id, next_seq FROM d",
                   params));
    } else {
      // SQLite: read (with the group rows), then delete without RETURNING, which costs more
      // than the read (it gathers its rows in a temporary table first).
      IMGPIPE_ASSIGN_OR_RETURN(
          rows, tx.Query("SELECT m.seq, m.group_id, m.next_seq, g.head_seq, g.tail_seq,"
                         " g.claim_end_seq FROM queue_messages m JOIN queue_groups g ON"
                         " g.queue_id = m.queue_id AND g.group_id = m.group_id WHERE"
                         " m.queue_id = ? AND m.receipt = ? AND m.seq IN (" +
                             Placeholders(entries.size()) + ")",
                         params));
      for (const auto& r : rows) {
        chains[r.Text(1)] = GroupChain{IntOrZero(r, 3), IntOrZero(r, 4), r.Int(5)};
      }
      if (!rows.empty()) {
        std::vector<Value> seqs;
        Append(seqs, row.id);
        for (const auto& r : rows) seqs.emplace_back(r.Int(0));
        IMGPIPE_RETURN_IF_ERROR(
            tx.Exec("DELETE FROM queue_messages WHERE queue_id = ? AND seq IN (" +
                        Placeholders(rows.size()) + ")",
                    seqs)
                .status());
      }
    }
    std::set<int64_t> deleted_here;  // by this token (another token may name the same seq)
    for (const auto& r : rows) {
      deleted_here.insert(r.Int(0));
      if (gone.insert(r.Int(0)).second) {
        left[r.Text(1)].push_back({r.Int(0), IntOrZero(r, 2)});
      }
    }
    for (const auto& [seq, i] : entries) {
      if (!deleted_here.contains(seq)) statuses[i] = StaleReceipt(queue);
    }
  }
  const int64_t deleted = std::ssize(gone);
  IMGPIPE_ASSIGN_OR_RETURN(int64_t live,
                           RemoveFromGroups(tx, dialect_, row.id, left, now_ms_(), &chains));
  if (deleted > 0 && dialect_ != db::Dialect::kPostgres) {  // PostgreSQL: with the DELETE
    IMGPIPE_RETURN_IF_ERROR(BumpCounters(tx, dialect_, row.id, 0, 0, deleted));
  }
  return live > 0;
}

Status SqlQueueService::ChangeVisibility(std::string_view queue, std::string_view receipt,
                                         std::chrono::milliseconds timeout) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  IMGPIPE_RETURN_IF_ERROR(ValidateTimeout(timeout, "visibility timeout"));
  int64_t seq = 0;
  std::string token;
  if (!ParseReceipt(receipt, &seq, &token)) return StaleReceipt(queue);
  IMGPIPE_RETURN_IF_ERROR(db_.Write(/*durable=*/false, [&](db::Transaction& tx) -> Status {
    IMGPIPE_ASSIGN_OR_RETURN(QueueRow row, Queue(tx, queue));
    std::array<Value, 3> key = {row.id, seq, token};
    IMGPIPE_ASSIGN_OR_RETURN(
        auto rows, tx.Query("SELECT group_id FROM queue_messages WHERE queue_id = ? AND seq = ?"
                            " AND receipt = ?",
                            key));
    if (rows.empty()) return StaleReceipt(queue);
    std::array<std::string, 1> group = {rows[0].Text(0)};
    IMGPIPE_RETURN_IF_ERROR(LockGroups(tx, dialect_, row.id, group));
    int64_t now = now_ms_();
    std::array<Value, 4> params = {now + timeout.count(), row.id, seq, token};
    IMGPIPE_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE queue_messages SET visible_at_ms = ? WHERE"
                                                " queue_id = ? AND seq = ? AND receipt = ?",
                                                params));
    if (n == 0) return StaleReceipt(queue);
    return RefreshLeases(tx, dialect_, row.id, group, now);
  }));
  Wake(queue);  // a shortened lease may make the message deliverable sooner
  return Status::Ok();
}

Result<QueueStats> SqlQueueService::Stats(std::string_view queue) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  IMGPIPE_ASSIGN_OR_RETURN(QueueRow row, LoadQueue(*tx, queue));
  QueueStats stats;
  std::array<Value, 1> id = {row.id};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto counters, tx->Query("SELECT COALESCE(SUM(sent), 0), COALESCE(SUM(received), 0),"
                               " COALESCE(SUM(deleted), 0) FROM queue_counters WHERE queue_id = ?",
                               id));
  stats.sent = counters[0].Int(0);
  stats.received = counters[0].Int(1);
  stats.deleted = counters[0].Int(2);
  int64_t now = now_ms_();
  std::array<Value, 2> params = {now, row.id};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows,
      tx->Query("SELECT COUNT(*), COALESCE(SUM(CASE WHEN visible_at_ms > ? THEN 1 ELSE 0 END), 0),"
                " MIN(sent_at_ms) FROM queue_messages WHERE queue_id = ?",
                params));
  stats.in_flight = rows[0].Int(1);
  stats.visible = rows[0].Int(0) - stats.in_flight;
  stats.oldest_age_ms = rows[0].IsNull(2) ? 0 : std::max<int64_t>(0, now - rows[0].Int(2));
  auto dlq = LoadQueue(*tx, DlqName(queue));
  if (dlq.ok()) {
    std::array<Value, 1> dlq_id = {dlq->id};
    IMGPIPE_ASSIGN_OR_RETURN(
        auto dead, tx->Query("SELECT COUNT(*) FROM queue_messages WHERE queue_id = ?", dlq_id));
    stats.dead_letters = dead[0].Int(0);
  }
  return stats;
}

Status SqlQueueService::Purge(std::string_view queue) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kWrite));
  IMGPIPE_ASSIGN_OR_RETURN(QueueRow row, LoadQueue(*tx, queue));
  std::array<Value, 1> id = {row.id};
  IMGPIPE_RETURN_IF_ERROR(tx->Exec("DELETE FROM queue_groups WHERE queue_id = ?", id).status());
  IMGPIPE_RETURN_IF_ERROR(tx->Exec("DELETE FROM queue_messages WHERE queue_id = ?", id).status());
  return tx->Commit();
}

Result<std::vector<Message>> SqlQueueService::ListDeadLetters(std::string_view queue, int limit) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  if (limit < 1 || limit > 1000) return Status::InvalidArgument("limit must be within 1..1000");
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  IMGPIPE_RETURN_IF_ERROR(LoadQueue(*tx, queue).status());
  IMGPIPE_ASSIGN_OR_RETURN(QueueRow dlq, LoadQueue(*tx, DlqName(queue)));
  std::array<Value, 2> params = {dlq.id, int64_t{limit}};
  IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx->Query("SELECT " + std::string(kMessageColumns) +
                                                    " FROM queue_messages WHERE queue_id = ?"
                                                    " ORDER BY seq LIMIT ?",
                                                params));
  std::vector<Message> messages;
  for (const auto& row : rows) messages.push_back(MessageFromRow(row));
  return messages;
}

Result<int64_t> SqlQueueService::Redrive(std::string_view queue, int limit) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  if (limit < 1 || limit > 1000) return Status::InvalidArgument("limit must be within 1..1000");
  int64_t moved = 0;
  {
    IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kWrite));
    IMGPIPE_ASSIGN_OR_RETURN(QueueRow row, LoadQueue(*tx, queue));
    IMGPIPE_ASSIGN_OR_RETURN(QueueRow dlq, LoadQueue(*tx, DlqName(queue)));
    std::array<Value, 2> params = {dlq.id, int64_t{limit}};
    IMGPIPE_ASSIGN_OR_RETURN(auto rows,
                             tx->Query("SELECT seq, group_id, next_seq FROM queue_messages WHERE"
                                       " queue_id = ? ORDER BY seq LIMIT ?",
                                       params));
    if (rows.empty()) return int64_t{0};
    std::set<std::string> groups;
    for (const auto& r : rows) groups.insert(r.Text(1));
    std::vector<std::string> sorted(groups.begin(), groups.end());
    IMGPIPE_RETURN_IF_ERROR(LockGroups(*tx, dialect_, dlq.id, sorted));
    IMGPIPE_ASSIGN_OR_RETURN(auto seqs, AllocateSeqs(*tx, dialect_, std::ssize(rows)));
    int64_t now = now_ms_();
    std::map<std::string, std::vector<int64_t>> added;     // per group: new seqs in `queue`
    std::map<std::string, std::vector<LeftMessage>> left;  // per group: what left the DLQ
    for (size_t i = 0; i < rows.size(); ++i) {
      // Back at the end of the queue, as if sent now (its sent_at stays the original).
      std::array<Value, 5> move = {row.id, seqs[i], now, dlq.id, rows[i].Int(0)};
      IMGPIPE_RETURN_IF_ERROR(
          tx->Exec("UPDATE queue_messages SET queue_id = ?, seq = ?, receive_count = 0,"
                   " receipt = NULL, visible_at_ms = ?, dead_reason = '', next_seq = NULL"
                   " WHERE queue_id = ? AND seq = ?",
                   move)
              .status());
      added[rows[i].Text(1)].push_back(seqs[i]);
      left[rows[i].Text(1)].push_back({rows[i].Int(0), IntOrZero(rows[i], 2)});
      ++moved;
    }
    IMGPIPE_RETURN_IF_ERROR(RemoveFromGroups(*tx, dialect_, dlq.id, left, now).status());
    IMGPIPE_RETURN_IF_ERROR(AddToGroups(*tx, dialect_, row.id, added));
    IMGPIPE_RETURN_IF_ERROR(tx->Commit());
  }
  Wake(queue, static_cast<int>(moved));
  return moved;
}

}  // namespace imgpipe::queue::internal
