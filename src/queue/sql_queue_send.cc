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
  if (row.dedup_window_ms > 0) {
    // Claims each dedup id unless a live entry holds it: RETURNING names the ones claimed.
    std::string sql =
        "INSERT INTO queue_dedup (queue_id, dedup_id, message_id, expires_at_ms) VALUES ";
    std::vector<Value> params;
    for (size_t i : fresh) {
      sql += params.empty() ? "(?, ?, ?, ?)" : ", (?, ?, ?, ?)";
      Append(params, row.id, messages[i].dedup_id, results[i].message_id,
             now + row.dedup_window_ms);
    }
    sql +=
        " ON CONFLICT (queue_id, dedup_id) DO UPDATE SET message_id = excluded.message_id,"
        " expires_at_ms = excluded.expires_at_ms WHERE queue_dedup.expires_at_ms <= ?"
        " RETURNING dedup_id";
    params.push_back(now);
    IMGPIPE_ASSIGN_OR_RETURN(auto claimed, tx.Query(sql, params));
    std::set<std::string> won;
    for (const auto& r : claimed) won.insert(r.Text(0));
    if (won.size() < fresh.size()) {
      // Duplicates of earlier sends: answer with the first message's id.
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
  }
  if (fresh.empty()) return results;
  IMGPIPE_ASSIGN_OR_RETURN(auto seqs, AllocateSeqs(tx, dialect_, std::ssize(fresh)));
  std::string sql =
      "INSERT INTO queue_messages (queue_id, seq, message_id, group_id, dedup_id, body,"
      " sent_at_ms, visible_at_ms, receive_count, receipt, dead_reason) VALUES ";
  std::vector<Value> params;
  std::map<std::string, int64_t> group_heads;  // each group's first new seq
  for (size_t k = 0; k < fresh.size(); ++k) {
    const OutgoingMessage& m = messages[fresh[k]];
    sql += k == 0 ? "(?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, '')"
                  : ", (?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, '')";
    Append(params, row.id, seqs[k], results[fresh[k]].message_id, m.group_id, m.dedup_id,
           db::Blob{m.body}, now, now);
    group_heads.emplace(m.group_id, seqs[k]);
  }
  IMGPIPE_RETURN_IF_ERROR(tx.Exec(sql, params).status());
  IMGPIPE_RETURN_IF_ERROR(AddToGroups(tx, row.id, group_heads));
  IMGPIPE_RETURN_IF_ERROR(BumpCounters(tx, dialect_, row.id, std::ssize(fresh), 0, 0));
  // Expired dedup entries go now and then, a bounded few (cheap via the expiry index).
  if (seqs.front() % 64 < std::ssize(fresh)) {
    std::array<Value, 1> expiry = {now};
    IMGPIPE_RETURN_IF_ERROR(
        tx.Exec("DELETE FROM queue_dedup WHERE expires_at_ms IN (SELECT expires_at_ms FROM"
                " queue_dedup WHERE expires_at_ms <= ? ORDER BY expires_at_ms LIMIT 256)",
                expiry)
            .status());
  }
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
  IMGPIPE_RETURN_IF_ERROR(combiner_.Run(/*durable=*/true, [&](db::Transaction& tx) -> Status {
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
