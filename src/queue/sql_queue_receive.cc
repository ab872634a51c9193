// SqlQueueService: receive (claims, dead-lettering, long polling), acks, stats, dead letters.
//
// Claims and acks commit with TxMode::kWriteRelaxed: losing one to a power failure only means the
// message is delivered again, which at-least-once delivery allows.
#include <algorithm>
#include <array>

#include "core/ids.h"
#include "queue/sql_queue_internal.h"

namespace imgpipe::queue::internal {
namespace {

using core::Result;
using core::Status;
using db::Value;
using SteadyClock = std::chrono::steady_clock;

// Receivers re-check this often even without a wake-up, for sends by other processes sharing the
// database (no in-process notification reaches them) and missed NotifyCommitted calls.
constexpr std::chrono::milliseconds kPollTick{1000};
constexpr size_t kMaxBatch = 10;

std::string DlqName(std::string_view queue) { return std::string(queue) + std::string(kDlqSuffix); }

// The deliverable messages: those of groups with nothing in flight, round-robin across groups
// (every group's head first, oldest head first, then every group's second, ...), at most `n`.
// The ranking reads only (seq, group_id) from the covering index; the blocked groups are found
// once through the visibility index (leased messages are few); bodies are read for the winners.
constexpr std::string_view kCandidates =
    "SELECT m.seq, m.message_id, m.receipt, m.body, m.group_id, m.dedup_id, m.receive_count,"
    " m.sent_at_ms, m.dead_reason FROM (SELECT seq, rk FROM (SELECT seq, ROW_NUMBER() OVER"
    " (PARTITION BY group_id ORDER BY seq) AS rk FROM queue_messages WHERE queue = ? AND"
    " group_id NOT IN (SELECT group_id FROM queue_messages WHERE queue = ? AND"
    " visible_at_ms > ?)) w WHERE rk <= ? ORDER BY rk, seq LIMIT ?) c JOIN queue_messages m"
    " ON m.queue = ? AND m.seq = c.seq ORDER BY c.rk, c.seq";

}  // namespace

Result<std::vector<Message>> SqlQueueService::TryReceive(
    std::string_view queue, int max_messages, std::optional<std::chrono::milliseconds> lease,
    int64_t* next_visible_ms) {
  *next_visible_ms = 0;
  std::string q(queue);
  std::string dlq = DlqName(queue);
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kWriteRelaxed));
  IMGPIPE_ASSIGN_OR_RETURN(QueueRow row,
                           LoadQueue(*tx, queue, db_.dialect() == db::Dialect::kPostgres));
  int64_t now = now_ms_();
  int64_t lease_ms = lease ? lease->count() : row.visibility_timeout_ms;
  std::vector<Message> messages;
  // Dead-lettering a group's head may unblock more of the queue: look again (bounded).
  for (int round = 0; round < 4 && std::ssize(messages) < max_messages; ++round) {
    int64_t need = max_messages - std::ssize(messages);
    std::array<Value, 6> params = {q, q, now, need, need, q};
    IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx->Query(kCandidates, params));
    bool moved = false;
    for (const auto& r : rows) {
      int64_t seq = r.Int(0);
      Message m = MessageFromRow(r, 1);
      if (m.receive_count >= row.max_receive_count) {
        IMGPIPE_ASSIGN_OR_RETURN(auto dlq_rows,
                                 tx->Query("UPDATE queue_queues SET next_seq = next_seq + 1,"
                                           " sent = sent + 1 WHERE name = ? RETURNING next_seq",
                                           std::array<Value, 1>{dlq}));
        if (!dlq_rows.empty()) {  // no DLQ (receiving from a DLQ itself): deliver as usual
          std::string reason =
              "received " + std::to_string(m.receive_count) + " times without delete";
          std::array<Value, 6> move = {dlq, dlq_rows[0].Int(0), reason, now, q, seq};
          IMGPIPE_RETURN_IF_ERROR(
              tx->Exec("UPDATE queue_messages SET queue = ?, seq = ?, dead_reason = ?,"
                       " receipt = NULL, visible_at_ms = ? WHERE queue = ? AND seq = ?",
                       move)
                  .status());
          moved = true;
          continue;
        }
      }
      m.receipt = core::RandomUrlSafeToken(16);
      m.receive_count += 1;
      std::array<Value, 4> claim = {now + lease_ms, m.receipt, q, seq};
      IMGPIPE_RETURN_IF_ERROR(
          tx->Exec("UPDATE queue_messages SET visible_at_ms = ?, receive_count = receive_count"
                   " + 1, receipt = ? WHERE queue = ? AND seq = ?",
                   claim)
              .status());
      messages.push_back(std::move(m));
    }
    if (!moved) break;
  }
  if (!messages.empty()) {
    std::array<Value, 2> params = {int64_t{std::ssize(messages)}, q};
    IMGPIPE_RETURN_IF_ERROR(
        tx->Exec("UPDATE queue_queues SET received = received + ? WHERE name = ?", params)
            .status());
  } else {
    std::array<Value, 2> params = {q, now};
    IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx->Query("SELECT MIN(visible_at_ms) FROM queue_messages"
                                                  " WHERE queue = ? AND visible_at_ms > ?",
                                                  params));
    if (!rows.empty() && !rows[0].IsNull(0)) *next_visible_ms = rows[0].Int(0);
  }
  IMGPIPE_RETURN_IF_ERROR(tx->Commit());
  return messages;
}

Result<std::vector<Message>> SqlQueueService::Receive(std::string_view queue,
                                                      const ReceiveOptions& options) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  if (options.max_messages < 1 || options.max_messages > static_cast<int>(kMaxBatch)) {
    return Status::InvalidArgument("max_messages must be within 1..10");
  }
  if (options.wait.count() < 0 || options.wait > std::chrono::seconds(20)) {
    return Status::InvalidArgument("wait must be within 0..20 s");
  }
  if (options.visibility_timeout) {
    IMGPIPE_RETURN_IF_ERROR(ValidateTimeout(*options.visibility_timeout, "visibility timeout"));
  }
  auto deadline = SteadyClock::now() + options.wait;
  for (;;) {
    // Read the version before looking, so a send committing after the look still wakes us.
    uint64_t seen = notifier_.Version(queue);
    int64_t next_visible_ms = 0;
    IMGPIPE_ASSIGN_OR_RETURN(
        auto messages,
        TryReceive(queue, options.max_messages, options.visibility_timeout, &next_visible_ms));
    auto now = SteadyClock::now();
    if (!messages.empty() || now >= deadline) return messages;
    auto until = std::min(deadline, now + kPollTick);
    if (next_visible_ms > 0) {  // a lease expires: wake for it instead of polling
      int64_t in = std::max<int64_t>(1, next_visible_ms - now_ms_());
      until = std::min(until, now + std::chrono::milliseconds(in));
    }
    notifier_.WaitChange(queue, seen, until);
  }
}

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
  std::string q(queue);
  std::vector<Status> statuses;
  int64_t deleted = 0;
  {
    IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kWriteRelaxed));
    IMGPIPE_RETURN_IF_ERROR(LoadQueue(*tx, queue).status());
    for (const auto& receipt : receipts) {
      std::array<Value, 2> params = {q, receipt};
      IMGPIPE_ASSIGN_OR_RETURN(
          int64_t n,
          tx->Exec("DELETE FROM queue_messages WHERE queue = ? AND receipt = ?", params));
      deleted += n;
      statuses.push_back(n > 0 ? Status::Ok()
                               : Status::NotFound("stale or unknown receipt in queue " + q));
    }
    if (deleted > 0) {
      std::array<Value, 2> params = {deleted, q};
      IMGPIPE_RETURN_IF_ERROR(
          tx->Exec("UPDATE queue_queues SET deleted = deleted + ? WHERE name = ?", params)
              .status());
    }
    IMGPIPE_RETURN_IF_ERROR(tx->Commit());
  }
  if (deleted > 0) notifier_.Notify(queue);  // the next message of the group may go now
  return statuses;
}

Status SqlQueueService::ChangeVisibility(std::string_view queue, std::string_view receipt,
                                         std::chrono::milliseconds timeout) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  IMGPIPE_RETURN_IF_ERROR(ValidateTimeout(timeout, "visibility timeout"));
  {
    IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kWriteRelaxed));
    std::array<Value, 3> params = {now_ms_() + timeout.count(), std::string(queue),
                                   std::string(receipt)};
    IMGPIPE_ASSIGN_OR_RETURN(int64_t n, tx->Exec("UPDATE queue_messages SET visible_at_ms = ? WHERE"
                                                 " queue = ? AND receipt = ?",
                                                 params));
    if (n == 0) return Status::NotFound("stale or unknown receipt in queue " + std::string(queue));
    IMGPIPE_RETURN_IF_ERROR(tx->Commit());
  }
  notifier_.Notify(queue);  // a shortened lease may make the message deliverable sooner
  return Status::Ok();
}

Result<QueueStats> SqlQueueService::Stats(std::string_view queue) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  std::string q(queue);
  std::array<Value, 1> name = {q};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto counters,
      tx->Query("SELECT sent, received, deleted FROM queue_queues WHERE name = ?", name));
  if (counters.empty()) return Status::NotFound("no queue " + q);
  QueueStats stats;
  stats.sent = counters[0].Int(0);
  stats.received = counters[0].Int(1);
  stats.deleted = counters[0].Int(2);
  int64_t now = now_ms_();
  std::array<Value, 3> params = {now, now, q};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows, tx->Query("SELECT COALESCE(SUM(CASE WHEN visible_at_ms <= ? THEN 1 ELSE 0 END),"
                           " 0), COALESCE(SUM(CASE WHEN visible_at_ms > ? THEN 1 ELSE 0 END), 0),"
                           " MIN(sent_at_ms) FROM queue_messages WHERE queue = ?",
                           params));
  stats.visible = rows[0].Int(0);
  stats.in_flight = rows[0].Int(1);
  stats.oldest_age_ms = rows[0].IsNull(2) ? 0 : std::max<int64_t>(0, now - rows[0].Int(2));
  std::array<Value, 1> dlq = {DlqName(queue)};
  IMGPIPE_ASSIGN_OR_RETURN(auto dead,
                           tx->Query("SELECT COUNT(*) FROM queue_messages WHERE queue = ?", dlq));
  stats.dead_letters = dead[0].Int(0);
  return stats;
}

Status SqlQueueService::Purge(std::string_view queue) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kWrite));
  IMGPIPE_RETURN_IF_ERROR(LoadQueue(*tx, queue).status());
  std::array<Value, 1> params = {std::string(queue)};
  IMGPIPE_RETURN_IF_ERROR(tx->Exec("DELETE FROM queue_messages WHERE queue = ?", params).status());
  return tx->Commit();
}

Result<std::vector<Message>> SqlQueueService::ListDeadLetters(std::string_view queue, int limit) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  if (limit < 1 || limit > 1000) return Status::InvalidArgument("limit must be within 1..1000");
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  IMGPIPE_RETURN_IF_ERROR(LoadQueue(*tx, queue).status());
  std::array<Value, 2> params = {DlqName(queue), int64_t{limit}};
  IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx->Query("SELECT " + std::string(kMessageColumns) +
                                                    " FROM queue_messages WHERE queue = ?"
                                                    " ORDER BY seq LIMIT ?",
                                                params));
  std::vector<Message> messages;
  for (const auto& row : rows) messages.push_back(MessageFromRow(row));
  return messages;
}

Result<int64_t> SqlQueueService::Redrive(std::string_view queue, int limit) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  if (limit < 1 || limit > 1000) return Status::InvalidArgument("limit must be within 1..1000");
  std::string q(queue);
  int64_t moved = 0;
  {
    IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kWrite));
    IMGPIPE_RETURN_IF_ERROR(LoadQueue(*tx, queue).status());
    std::array<Value, 2> params = {DlqName(queue), int64_t{limit}};
    IMGPIPE_ASSIGN_OR_RETURN(
        auto rows,
        tx->Query("SELECT seq FROM queue_messages WHERE queue = ? ORDER BY seq LIMIT ?", params));
    int64_t now = now_ms_();
    for (const auto& row : rows) {
      // Back at the end of the queue, as if sent now (its sent_at stays the original).
      IMGPIPE_ASSIGN_OR_RETURN(int64_t seq, NextSeq(*tx, queue, 0));
      std::array<Value, 5> move = {q, seq, now, DlqName(queue), row.Int(0)};
      IMGPIPE_RETURN_IF_ERROR(
          tx->Exec("UPDATE queue_messages SET queue = ?, seq = ?, receive_count = 0,"
                   " receipt = NULL, visible_at_ms = ?, dead_reason = '' WHERE queue = ?"
                   " AND seq = ?",
                   move)
              .status());
      ++moved;
    }
    IMGPIPE_RETURN_IF_ERROR(tx->Commit());
  }
  if (moved > 0) notifier_.Notify(queue);
  return moved;
}

}  // namespace imgpipe::queue::internal
