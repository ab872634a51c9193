// The SQL QueueService (internal to src/queue): schema, validation and the in-process wake-up.
//
// Tables (portable SQL, db::Migrate component "queue"):
// - queue_queues: one row per queue (options, next_seq, counters). next_seq is bumped with
//   UPDATE ... RETURNING inside the sending transaction, so seqs are the send order per queue.
// - queue_messages: (queue, seq) primary key. visible_at_ms > now means in flight (delivered and
//   leased); receipt is the current holder's handle. A dead letter lives in "{queue}.dlq" with
//   dead_reason set. Moving a message (to the DLQ, redrive) rewrites queue and seq in place.
// - queue_dedup: (queue, dedup_id) -> first message id, until expires_at_ms.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "queue/queue.h"

namespace imgpipe::queue::internal {

inline constexpr std::string_view kDlqSuffix = ".dlq";

// Wakes long-polling receivers of one queue: a version per queue, bumped by Notify.
class Notifier {
 public:
  uint64_t Version(std::string_view queue);
  void Notify(std::string_view queue);
  // Waits until the version of `queue` differs from `seen` or `until` passes.
  void WaitChange(std::string_view queue, uint64_t seen,
                  std::chrono::steady_clock::time_point until);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, uint64_t> versions_;  // GUARDED_BY(mu_)
};

// The options and identity of a queue, as read inside a transaction.
struct QueueRow {
  int64_t visibility_timeout_ms = 0;
  int64_t max_receive_count = 0;
  int64_t dedup_window_ms = 0;
};

core::Status ValidateQueueName(std::string_view name);
core::Status ValidateMessage(const OutgoingMessage& message);
core::Status ValidateTimeout(std::chrono::milliseconds timeout, std::string_view what);
// Reads the queue's options; NotFound when the queue does not exist.
// `lock_for_claim` (PostgreSQL only: SQLite has no FOR UPDATE and serialises every write
// transaction anyway) takes the queue row's lock, so that claims on one queue from any number of
// processes take turns: two receivers never pick the same group head. Per-group claims with
// SKIP LOCKED, which let claims on different groups overlap, are the next step.
core::Result<QueueRow> LoadQueue(db::Transaction& tx, std::string_view queue,
                                 bool lock_for_claim = false);
// Bumps and returns the queue's next seq (adding `sent` to its sent counter); NotFound when the
// queue does not exist.
core::Result<int64_t> NextSeq(db::Transaction& tx, std::string_view queue, int64_t sent);
// Columns read into a Message, in MessageFromRow's order.
inline constexpr std::string_view kMessageColumns =
    "message_id, receipt, body, group_id, dedup_id, receive_count, sent_at_ms, dead_reason";
Message MessageFromRow(const db::Row& row, size_t first = 0);

class SqlQueueService final : public QueueService {
 public:
  SqlQueueService(db::Database& db, const ServiceOptions& options);

  core::Status EnsureQueue(std::string_view name, const QueueOptions& options) override;
  core::Result<std::vector<std::string>> ListQueues() override;
  core::Result<SendResult> Send(std::string_view queue, const OutgoingMessage& message) override;
  core::Result<std::vector<SendResult>> SendBatch(
      std::string_view queue, std::span<const OutgoingMessage> messages) override;
  core::Result<SendResult> SendInTransaction(db::Transaction& tx, std::string_view queue,
                                             const OutgoingMessage& message) override;
  void NotifyCommitted(std::string_view queue) override { notifier_.Notify(queue); }

  core::Result<std::vector<Message>> Receive(std::string_view queue,
                                             const ReceiveOptions& options) override;
  core::Status Delete(std::string_view queue, std::string_view receipt) override;
  core::Result<std::vector<core::Status>> DeleteBatch(
      std::string_view queue, std::span<const std::string> receipts) override;
  core::Status ChangeVisibility(std::string_view queue, std::string_view receipt,
                                std::chrono::milliseconds timeout) override;
  core::Result<QueueStats> Stats(std::string_view queue) override;
  core::Status Purge(std::string_view queue) override;
  core::Result<std::vector<Message>> ListDeadLetters(std::string_view queue, int limit) override;
  core::Result<int64_t> Redrive(std::string_view queue, int limit) override;

 private:
  // One claim attempt in its own transaction. When nothing is deliverable, *next_visible_ms is
  // the earliest lease expiry in the queue (0 if none).
  core::Result<std::vector<Message>> TryReceive(std::string_view queue, int max_messages,
                                                std::optional<std::chrono::milliseconds> lease,
                                                int64_t* next_visible_ms);
  // A Send waiting for the group commit.
  struct PendingSend {
    std::string_view queue;
    const OutgoingMessage* message;
    std::optional<core::Result<SendResult>> result;
  };
  // Commits the sends of `batch` in one transaction (each in its own when that fails).
  std::vector<core::Result<SendResult>> CommitSends(const std::vector<PendingSend*>& batch);
  // Inserts one validated message (dedup check first) in `tx`.
  core::Result<SendResult> SendLocked(db::Transaction& tx, std::string_view queue,
                                      const QueueRow& row, const OutgoingMessage& message,
                                      int64_t now);

  db::Database& db_;
  std::function<int64_t()> now_ms_;
  Notifier notifier_;

  // Group commit of unbatched sends (one synced commit for every send that queued meanwhile).
  std::mutex send_mu_;
  std::condition_variable send_cv_;
  std::vector<PendingSend*> send_queue_;  // GUARDED_BY(send_mu_)
  bool send_leader_active_ = false;       // GUARDED_BY(send_mu_)
};

}  // namespace imgpipe::queue::internal
