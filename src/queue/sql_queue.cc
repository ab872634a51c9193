// SqlQueueService: schema, validation, queues and sends. Receive and acks: sql_queue_receive.cc.
#include <array>
#include <chrono>

#include "core/ids.h"
#include "queue/sql_queue_internal.h"

namespace imgpipe::queue {
namespace internal {
namespace {

using core::Result;
using core::Status;
using db::Value;

// Schema steps: one statement each, applied once (db::Migrate). Append; never edit.
constexpr std::array<std::string_view, 7> kSchema = {
    "CREATE TABLE queue_queues ("
    " name TEXT PRIMARY KEY, visibility_timeout_ms INTEGER NOT NULL,"
    " max_receive_count INTEGER NOT NULL, dedup_window_ms INTEGER NOT NULL,"
    " created_at_ms INTEGER NOT NULL, next_seq INTEGER NOT NULL, sent INTEGER NOT NULL,"
    " received INTEGER NOT NULL, deleted INTEGER NOT NULL)",
    "CREATE TABLE queue_messages ("
    " queue TEXT NOT NULL, seq INTEGER NOT NULL, message_id TEXT NOT NULL,"
    " group_id TEXT NOT NULL, dedup_id TEXT NOT NULL, body BLOB NOT NULL,"
    " sent_at_ms INTEGER NOT NULL, visible_at_ms INTEGER NOT NULL,"
    " receive_count INTEGER NOT NULL, receipt TEXT, dead_reason TEXT NOT NULL,"
    " PRIMARY KEY (queue, seq))",
    // Receive: the groups' messages in order (covering the round-robin ranking) and the leased
    // messages (which block their groups).
    "CREATE INDEX queue_messages_by_group ON queue_messages(queue, group_id, seq)",
    "CREATE INDEX queue_messages_by_visibility ON queue_messages(queue, visible_at_ms)",
    "CREATE INDEX queue_messages_by_receipt ON queue_messages(receipt)",
    "CREATE TABLE queue_dedup ("
    " queue TEXT NOT NULL, dedup_id TEXT NOT NULL, message_id TEXT NOT NULL,"
    " expires_at_ms INTEGER NOT NULL, PRIMARY KEY (queue, dedup_id))",
    "CREATE INDEX queue_dedup_by_expiry ON queue_dedup(expires_at_ms)",
};

constexpr std::chrono::milliseconds kMaxTimeout = std::chrono::hours(12);
constexpr size_t kMaxBatch = 10;

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool ValidIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

uint64_t Notifier::Version(std::string_view queue) {
  std::lock_guard lock(mu_);
  auto it = versions_.find(std::string(queue));
  return it == versions_.end() ? 0 : it->second;
}

void Notifier::Notify(std::string_view queue) {
  {
    std::lock_guard lock(mu_);
    ++versions_[std::string(queue)];
  }
  cv_.notify_all();
}

void Notifier::WaitChange(std::string_view queue, uint64_t seen,
                          std::chrono::steady_clock::time_point until) {
  std::string key(queue);
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, until, [&] {
    auto it = versions_.find(key);
    return (it == versions_.end() ? 0 : it->second) != seen;
  });
}

Status ValidateQueueName(std::string_view name) {
  // ".dlq" queues are addressed directly too (receive from a DLQ), so allow its suffix.
  if (name.empty() || name.size() > 80 + kDlqSuffix.size()) {
    return Status::InvalidArgument("queue name must have 1..80 characters");
  }
  for (char c : name) {
    if (!ValidIdChar(c)) return Status::InvalidArgument("queue name may use [A-Za-z0-9._-] only");
  }
  return Status::Ok();
}

Status ValidateMessage(const OutgoingMessage& message) {
  if (message.group_id.empty() || message.group_id.size() > 128) {
    return Status::InvalidArgument("group id must have 1..128 characters");
  }
  if (message.dedup_id.empty() || message.dedup_id.size() > 128) {
    return Status::InvalidArgument("deduplication id must have 1..128 characters");
  }
  return Status::Ok();
}

Status ValidateTimeout(std::chrono::milliseconds timeout, std::string_view what) {
  if (timeout.count() < 0 || timeout > kMaxTimeout) {
    return Status::InvalidArgument(std::string(what) + " must be within 0..12 h");
  }
  return Status::Ok();
}

Result<QueueRow> LoadQueue(db::Transaction& tx, std::string_view queue, bool lock_for_claim) {
  std::array<Value, 1> params = {std::string(queue)};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows,
      tx.Query(lock_for_claim ? "SELECT visibility_timeout_ms, max_receive_count, dedup_window_ms"
                                " FROM queue_queues WHERE name = ? FOR UPDATE"
                              : "SELECT visibility_timeout_ms, max_receive_count, dedup_window_ms"
                                " FROM queue_queues WHERE name = ?",
               params));
  if (rows.empty()) return Status::NotFound("no queue " + std::string(queue));
  return QueueRow{rows[0].Int(0), rows[0].Int(1), rows[0].Int(2)};
}

Result<int64_t> NextSeq(db::Transaction& tx, std::string_view queue, int64_t sent) {
  std::array<Value, 2> params = {sent, std::string(queue)};
  IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx.Query("UPDATE queue_queues SET next_seq = next_seq + 1,"
                                               " sent = sent + ? WHERE name = ? RETURNING next_seq",
                                               params));
  if (rows.empty()) return Status::NotFound("no queue " + std::string(queue));
  return rows[0].Int(0);
}

Message MessageFromRow(const db::Row& row, size_t first) {
  Message m;
  m.message_id = row.Text(first);
  m.receipt = row.Text(first + 1);
  m.body = row.Text(first + 2);
  m.group_id = row.Text(first + 3);
  m.dedup_id = row.Text(first + 4);
  m.receive_count = static_cast<int>(row.Int(first + 5));
  m.sent_at_ms = row.Int(first + 6);
  m.dead_letter_reason = row.Text(first + 7);
  return m;
}

SqlQueueService::SqlQueueService(db::Database& db, const ServiceOptions& options)
    : db_(db), now_ms_(options.now_ms ? options.now_ms : SystemNowMs) {}

Status SqlQueueService::EnsureQueue(std::string_view name, const QueueOptions& options) {
  if (name.empty() || name.size() > 80) {
    return Status::InvalidArgument("queue name must have 1..80 characters");
  }
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(name));
  IMGPIPE_RETURN_IF_ERROR(ValidateTimeout(options.visibility_timeout, "visibility timeout"));
  if (options.max_receive_count < 1 || options.max_receive_count > 1000) {
    return Status::InvalidArgument("max_receive_count must be within 1..1000");
  }
  if (options.dedup_window.count() < 0 || options.dedup_window > std::chrono::hours(24)) {
    return Status::InvalidArgument("dedup window must be within 0..24 h");
  }
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kWrite));
  int64_t now = now_ms_();
  std::string dlq = std::string(name) + std::string(kDlqSuffix);
  // The queue's options are updated; its DLQ keeps its own once created.
  for (const auto& [queue, update] : {std::pair{std::string(name), true}, std::pair{dlq, false}}) {
    std::array<Value, 5> params = {queue, int64_t{options.visibility_timeout.count()},
                                   int64_t{options.max_receive_count},
                                   int64_t{options.dedup_window.count()}, now};
    std::string sql =
        "INSERT INTO queue_queues (name, visibility_timeout_ms, max_receive_count,"
        " dedup_window_ms, created_at_ms, next_seq, sent, received, deleted)"
        " VALUES (?, ?, ?, ?, ?, 0, 0, 0, 0) ON CONFLICT (name) DO ";
    sql += update ? "UPDATE SET visibility_timeout_ms = excluded.visibility_timeout_ms,"
                    " max_receive_count = excluded.max_receive_count,"
                    " dedup_window_ms = excluded.dedup_window_ms"
                  : "NOTHING";
    IMGPIPE_RETURN_IF_ERROR(tx->Exec(sql, params).status());
  }
  return tx->Commit();
}

Result<std::vector<std::string>> SqlQueueService::ListQueues() {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx->Query("SELECT name FROM queue_queues ORDER BY name"));
  std::vector<std::string> names;
  for (const auto& row : rows) names.push_back(row.Text(0));
  return names;
}

Result<SendResult> SqlQueueService::SendLocked(db::Transaction& tx, std::string_view queue,
                                               const QueueRow& row, const OutgoingMessage& message,
                                               int64_t now) {
  std::string q(queue);
  if (row.dedup_window_ms > 0) {
    std::array<Value, 3> params = {q, message.dedup_id, now};
    IMGPIPE_ASSIGN_OR_RETURN(auto rows,
                             tx.Query("SELECT message_id FROM queue_dedup WHERE"
                                      " queue = ? AND dedup_id = ? AND expires_at_ms > ?",
                                      params));
    if (!rows.empty()) return SendResult{rows[0].Text(0), true};
  }
  IMGPIPE_ASSIGN_OR_RETURN(int64_t seq, NextSeq(tx, queue, 1));
  SendResult result{core::NewUuidV7(), false};
  std::array<Value, 8> params = {
      q,   seq, result.message_id, message.group_id, message.dedup_id, db::Blob{message.body},
      now, now};
  IMGPIPE_RETURN_IF_ERROR(
      tx.Exec("INSERT INTO queue_messages (queue, seq, message_id, group_id, dedup_id, body,"
              " sent_at_ms, visible_at_ms, receive_count, receipt, dead_reason)"
              " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, '')",
              params)
          .status());
  if (row.dedup_window_ms > 0) {
    std::array<Value, 4> dedup = {q, message.dedup_id, result.message_id,
                                  now + row.dedup_window_ms};
    IMGPIPE_RETURN_IF_ERROR(
        tx.Exec("INSERT INTO queue_dedup (queue, dedup_id, message_id, expires_at_ms)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (queue, dedup_id) DO UPDATE SET"
                " message_id = excluded.message_id, expires_at_ms = excluded.expires_at_ms",
                dedup)
            .status());
  }
  // Expired dedup entries go now and then, a bounded few per send (cheap via the expiry index).
  if (seq % 64 == 0) {
    std::array<Value, 1> expiry = {now};
    IMGPIPE_RETURN_IF_ERROR(
        tx.Exec("DELETE FROM queue_dedup WHERE expires_at_ms IN (SELECT expires_at_ms FROM"
                " queue_dedup WHERE expires_at_ms <= ? ORDER BY expires_at_ms LIMIT 256)",
                expiry)
            .status());
  }
  return result;
}

// Group commit: concurrent sends queue here; one caller at a time leads and commits everyone's
// queued sends in one transaction (one fsync), while the others wait for their result.
Result<SendResult> SqlQueueService::Send(std::string_view queue, const OutgoingMessage& message) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  IMGPIPE_RETURN_IF_ERROR(ValidateMessage(message));
  PendingSend me{queue, &message, std::nullopt};
  std::unique_lock lock(send_mu_);
  send_queue_.push_back(&me);
  while (!me.result && send_leader_active_) send_cv_.wait(lock);
  if (me.result) return std::move(*me.result);
  send_leader_active_ = true;
  std::vector<PendingSend*> batch;
  batch.swap(send_queue_);
  lock.unlock();
  std::vector<Result<SendResult>> results = CommitSends(batch);
  // Handed over under the lock: a waiter may wake (spuriously) and look at its result any time.
  lock.lock();
  for (size_t i = 0; i < batch.size(); ++i) batch[i]->result = std::move(results[i]);
  send_leader_active_ = false;
  send_cv_.notify_all();
  return std::move(*me.result);
}

std::vector<Result<SendResult>> SqlQueueService::CommitSends(
    const std::vector<PendingSend*>& batch) {
  std::vector<Result<SendResult>> results;
  if (batch.size() > 1) {
    auto tx = db_.Begin(db::TxMode::kWrite);
    bool failed = !tx.ok();
    int64_t now = now_ms_();
    for (size_t i = 0; i < batch.size() && !failed; ++i) {
      auto row = LoadQueue(**tx, batch[i]->queue);
      if (!row.ok() && row.status().code() == core::StatusCode::kNotFound) {
        results.emplace_back(row.status());  // a plain lookup: the transaction goes on
        continue;
      }
      Result<SendResult> sent =
          row.ok() ? SendLocked(**tx, batch[i]->queue, *row, *batch[i]->message, now)
                   : Result<SendResult>(row.status());
      failed = !sent.ok();
      results.push_back(std::move(sent));
    }
    if (!failed && (*tx)->Commit().ok()) {
      for (size_t i = 0; i < batch.size(); ++i) {
        if (results[i].ok()) notifier_.Notify(batch[i]->queue);
      }
      return results;
    }
    results.clear();  // one send's error must not fail the others: one transaction each
  }
  for (PendingSend* p : batch) {
    auto sent = SendBatch(p->queue, std::span(p->message, 1));
    results.push_back(sent.ok() ? Result<SendResult>(std::move(sent->front()))
                                : Result<SendResult>(sent.status()));
  }
  return results;
}

Result<std::vector<SendResult>> SqlQueueService::SendBatch(
    std::string_view queue, std::span<const OutgoingMessage> messages) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  if (messages.empty() || messages.size() > kMaxBatch) {
    return Status::InvalidArgument("a batch has 1..10 messages");
  }
  for (const auto& m : messages) IMGPIPE_RETURN_IF_ERROR(ValidateMessage(m));
  std::vector<SendResult> results;
  {
    IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kWrite));
    IMGPIPE_ASSIGN_OR_RETURN(QueueRow row, LoadQueue(*tx, queue));
    int64_t now = now_ms_();
    for (const auto& m : messages) {
      IMGPIPE_ASSIGN_OR_RETURN(SendResult r, SendLocked(*tx, queue, row, m, now));
      results.push_back(std::move(r));
    }
    IMGPIPE_RETURN_IF_ERROR(tx->Commit());
  }
  notifier_.Notify(queue);
  return results;
}

Result<SendResult> SqlQueueService::SendInTransaction(db::Transaction& tx, std::string_view queue,
                                                      const OutgoingMessage& message) {
  IMGPIPE_RETURN_IF_ERROR(ValidateQueueName(queue));
  IMGPIPE_RETURN_IF_ERROR(ValidateMessage(message));
  IMGPIPE_ASSIGN_OR_RETURN(QueueRow row, LoadQueue(tx, queue));
  return SendLocked(tx, queue, row, message, now_ms_());
}

}  // namespace internal

core::Result<std::unique_ptr<QueueService>> NewSqlQueueService(db::Database& db,
                                                               const ServiceOptions& options) {
  IMGPIPE_RETURN_IF_ERROR(db::Migrate(db, "queue", internal::kSchema));
  return std::unique_ptr<QueueService>(std::make_unique<internal::SqlQueueService>(db, options));
}

}  // namespace imgpipe::queue
