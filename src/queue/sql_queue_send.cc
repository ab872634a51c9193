// SqlQueueService: sends (portable SQL for SQLite, one statement per batch on PostgreSQL).
#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "core/ids.h"
#include "queue/sql_queue_internal.h"

namespace imgpipe::queue::internal {

using core::Result;
using core::Status;
using db::Value;

Status SqlQueueService::SweepDedup(db::Transaction& tx, int64_t now, int64_t sent) {
  // Expired dedup entries go now and then: a bounded few (cheap via the expiry index) about
  // every 64 messages this thread sends.
  thread_local int64_t since_sweep = 0;
  since_sweep += sent;
  if (since_sweep < 64) return Status::Ok();
  since_sweep = 0;
  std::array<Value, 1> expiry = {now};
  return tx
      .Exec(
          "DELETE FROM queue_dedup WHERE expires_at_ms IN (SELECT expires_at_ms FROM"
          " queue_dedup WHERE expires_at_ms <= ? ORDER BY expires_at_ms LIMIT 256)",
          expiry)
      .status();
}

// One statement (data-modifying CTEs): claim the dedup ids, number the messages from the
// SEQUENCE in send order, insert them, create or lower their groups' rows (name order) and count
// them. Seven round trips become one. Lock order, as in every transaction: group rows (by name),
// then the counter row; PostgreSQL runs unreferenced CTEs in no promised order, so `c` reads
// `g`'s output, which makes `g` finish first (else a send holding a counter row could wait for
// a group row whose holder waits for that counter row: a deadlock, seen in the benchmark).
Result<std::set<std::string>> SqlQueueService::InsertPostgres(
    db::Transaction& tx, const QueueRow& row, std::span<const OutgoingMessage> messages,
    const std::vector<size_t>& fresh, const std::vector<SendResult>& results, int64_t now) {
  const bool dedup = row.dedup_window_ms > 0;
  std::string sql = "WITH v (ord, message_id, group_id, dedup_id, body) AS (VALUES ";
  std::vector<Value> params;
  for (size_t k = 0; k < fresh.size(); ++k) {
    const OutgoingMessage& m = messages[fresh[k]];
    sql += k == 0 ? "" : ", ";
    sql += "(?::int8, ?::text, ?::text, ?::text, ?::bytea)";
    Append(params, static_cast<int64_t>(k), results[fresh[k]].message_id, m.group_id, m.dedup_id,
           db::Blob{m.body});
  }
  sql +=
      "), s AS (SELECT ord, nextval('queue_message_seq') AS seq FROM (SELECT ord FROM v ORDER BY"
      " ord) o)";
  if (dedup) {
    sql +=
        ", d AS (INSERT INTO queue_dedup (queue_id, dedup_id, message_id, expires_at_ms) SELECT"
        " ?, dedup_id, message_id, ? FROM v ON CONFLICT (queue_id, dedup_id) DO UPDATE SET"
        " message_id = excluded.message_id, expires_at_ms = excluded.expires_at_ms WHERE"
        " queue_dedup.expires_at_ms <= ? RETURNING dedup_id)";
    Append(params, row.id, now + row.dedup_window_ms, now);
  }
  sql +=
      ", m AS (INSERT INTO queue_messages (queue_id, seq, message_id, group_id, dedup_id, body,"
      " sent_at_ms, visible_at_ms, receive_count, receipt, dead_reason) SELECT ?, s.seq,"
      " v.message_id, v.group_id, v.dedup_id, v.body, ?, ?, 0, NULL, '' FROM v JOIN s ON"
      " s.ord = v.ord";
  Append(params, row.id, now, now);
  if (dedup) sql += " WHERE v.dedup_id IN (SELECT dedup_id FROM d)";
  sql +=
      " RETURNING seq, group_id, dedup_id), g AS (INSERT INTO queue_groups (queue_id, group_id,"
      " head_seq, inflight_until_ms, claim_end_seq) SELECT ?, group_id, MIN(seq), 0, 0 FROM m"
      " GROUP BY group_id ORDER BY group_id ON CONFLICT (queue_id, group_id) DO UPDATE SET"
      " head_seq = excluded.head_seq WHERE excluded.head_seq < queue_groups.head_seq RETURNING"
      " group_id), c AS (INSERT INTO queue_counters (queue_id, shard, sent, received, deleted)"
      " SELECT ?, ?, (SELECT COUNT(*) FROM m), 0, 0 WHERE (SELECT COUNT(*) FROM g) >= 0 AND"
      " (SELECT COUNT(*) FROM m) > 0 ON CONFLICT (queue_id, shard) DO UPDATE SET"
      " sent = queue_counters.sent + excluded.sent) SELECT dedup_id FROM m";
  Append(params, row.id, row.id, CounterShard(dialect_));
  IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx.Query(sql, params));
  std::set<std::string> inserted;
  for (const auto& r : rows) inserted.insert(r.Text(0));
  return inserted;
}

Result<std::vector<SendResult>> SqlQueueService::SendLocked(
    db::Transaction& tx, std::string_view queue, std::span<const OutgoingMessage> messages,
    int64_t now) {
  IMGPIPE_ASSIGN_OR_RETURN(QueueRow row, Queue(tx, queue));
  std::vector<SendResult> results(messages.size());
  // The first message of each dedup id in this batch; later ones are its duplicates.
  std::map<std::string_view, size_t> first_of;
  std::vector<size_t> fresh;  // indexes of the messages to insert
  for (size_t i = 0; i < messages.size(); ++i) {
    auto [it, inserted] = first_of.emplace(messages[i].dedup_id, i);
    if (!inserted && row.dedup_window_ms > 0) continue;
    results[i].message_id = core::NewUuidV7();
    fresh.push_back(i);
  }
  // Answers the messages whose dedup id an earlier send holds (not in `won`) with that send's
  // message id, drops them from `fresh`, and answers in-batch repeats with their first's result.
  auto resolve_duplicates = [&](const std::set<std::string>& won) -> Status {
    if (row.dedup_window_ms <= 0) return Status::Ok();
    if (won.size() < fresh.size()) {
      std::vector<Value> key;
      Append(key, row.id);
      for (size_t i : fresh) {
        if (!won.contains(messages[i].dedup_id)) key.push_back(messages[i].dedup_id);
      }
      IMGPIPE_ASSIGN_OR_RETURN(
          auto firsts, tx.Query("SELECT dedup_id, message_id FROM queue_dedup WHERE queue_id = ?"
                                " AND dedup_id IN (" +
                                    Placeholders(key.size() - 1) + ")",
                                key));
      std::map<std::string, std::string> first_ids;
      for (const auto& r : firsts) first_ids[r.Text(0)] = r.Text(1);
      std::erase_if(fresh, [&](size_t i) {
        if (won.contains(messages[i].dedup_id)) return false;
        results[i] = SendResult{first_ids[messages[i].dedup_id], true};
        return true;
      });
    }
    for (size_t i = 0; i < messages.size(); ++i) {  // in-batch duplicates
      size_t first = first_of[messages[i].dedup_id];
      if (first != i) results[i] = SendResult{results[first].message_id, true};
    }
    return Status::Ok();
  };
  if (dialect_ == db::Dialect::kPostgres) {
    IMGPIPE_ASSIGN_OR_RETURN(auto won, InsertPostgres(tx, row, messages, fresh, results, now));
    IMGPIPE_RETURN_IF_ERROR(resolve_duplicates(won));
    IMGPIPE_RETURN_IF_ERROR(SweepDedup(tx, now, std::ssize(fresh)));
    return results;
  }
  if (row.dedup_window_ms > 0 && !fresh.empty()) {
    // Claims each dedup id unless a live entry holds it. SQLite serialises writers, so the ids
    // read as held here stay held until the insert (cheaper than the insert's RETURNING).
    std::vector<Value> key;
    Append(key, row.id, now);
    for (size_t i : fresh) key.emplace_back(messages[i].dedup_id);
    IMGPIPE_ASSIGN_OR_RETURN(auto held,
                             tx.Query("SELECT dedup_id FROM queue_dedup WHERE queue_id = ? AND"
                                      " expires_at_ms > ? AND dedup_id IN (" +
                                          Placeholders(fresh.size()) + ")",
                                      key));
    std::set<std::string> taken;
    for (const auto& r : held) taken.insert(r.Text(0));
    std::set<std::string> won;
    std::string sql =
        "INSERT INTO queue_dedup (queue_id, dedup_id, message_id, expires_at_ms) VALUES ";
    std::vector<Value> params;
    for (size_t i : fresh) {
      if (taken.contains(messages[i].dedup_id)) continue;
      won.insert(messages[i].dedup_id);
      sql += params.empty() ? "(?, ?, ?, ?)" : ", (?, ?, ?, ?)";
      Append(params, row.id, messages[i].dedup_id, results[i].message_id,
             now + row.dedup_window_ms);
    }
    if (!params.empty()) {
      // An expired entry for the id is taken over.
      sql +=
          " ON CONFLICT (queue_id, dedup_id) DO UPDATE SET message_id = excluded.message_id,"
          " expires_at_ms = excluded.expires_at_ms";
      IMGPIPE_RETURN_IF_ERROR(tx.Exec(sql, params).status());
    }
    IMGPIPE_RETURN_IF_ERROR(resolve_duplicates(won));
  }
  if (fresh.empty()) return results;
  IMGPIPE_ASSIGN_OR_RETURN(auto seqs, AllocateSeqs(tx, dialect_, std::ssize(fresh)));
  std::string sql =
      "INSERT INTO queue_messages (queue_id, seq, message_id, group_id, dedup_id, body,"
      " sent_at_ms, visible_at_ms, receive_count, receipt, dead_reason) VALUES ";
  std::vector<Value> params;
  std::map<std::string, std::vector<int64_t>> added;  // each group's new seqs, ascending
  for (size_t k = 0; k < fresh.size(); ++k) {
    const OutgoingMessage& m = messages[fresh[k]];
    sql += k == 0 ? "(?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, '')"
                  : ", (?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, '')";
    Append(params, row.id, seqs[k], results[fresh[k]].message_id, m.group_id, m.dedup_id,
           db::Blob{m.body}, now, now);
    added[m.group_id].push_back(seqs[k]);
  }
  IMGPIPE_RETURN_IF_ERROR(tx.Exec(sql, params).status());
  IMGPIPE_RETURN_IF_ERROR(AddToGroups(tx, dialect_, row.id, added));
  IMGPIPE_RETURN_IF_ERROR(BumpCounters(tx, dialect_, row.id, std::ssize(fresh), 0, 0));
  IMGPIPE_RETURN_IF_ERROR(SweepDedup(tx, now, std::ssize(fresh)));
  return results;
}

Result<SendResult> SqlQueueService::Send(std::string_view queue, const OutgoingMessage& message) {
  IMGPIPE_ASSIGN_OR_RETURN(auto results, SendBatch(queue, std::span(&message, 1)));
  return std::move(results.front());
}

Result<std::vector<SendResult>> SqlQueueService::SendBatch(
    std::string_view queue, std::span<const OutgoingMessage> messages) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  if (messages.empty() || messages.size() > kMaxBatch) {
    return Status::InvalidArgument("a batch has 1..10 messages");
  }
  for (const auto& m : messages) IMGPIPE_RETURN_IF_ERROR(ValidateMessage(m));
  std::vector<SendResult> results;
  IMGPIPE_RETURN_IF_ERROR(db_.Write(/*durable=*/true, [&](db::Transaction& tx) -> Status {
    IMGPIPE_ASSIGN_OR_RETURN(results, SendLocked(tx, queue, messages, now_ms_()));
    return Status::Ok();
  }));
  Wake(queue, static_cast<int>(messages.size()));
  CountWrites(std::ssize(messages));
  return results;
}

Result<SendResult> SqlQueueService::SendInTransaction(db::Transaction& tx, std::string_view queue,
                                                      const OutgoingMessage& message) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  IMGPIPE_RETURN_IF_ERROR(ValidateMessage(message));
  IMGPIPE_ASSIGN_OR_RETURN(auto results, SendLocked(tx, queue, std::span(&message, 1), now_ms_()));
  return std::move(results.front());
}

}  // namespace imgpipe::queue::internal
