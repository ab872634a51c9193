// queue: durable FIFO queues with the seed's semantics (DESIGN.md "Queue semantics"), behind one
// small interface, on the metadata database (SQLite embedded; PostgreSQL multi-node).
//
// Semantics, on every backend (the conformance suite in queue_conformance.h checks each):
// - Named queues; EnsureQueue(name) also creates its dead-letter queue "{name}.dlq".
// - Send: body, group id (the client_id), deduplication id (job id or Idempotency-Key). A send
//   whose dedup id was seen in the queue within the dedup window returns ok with the FIRST
//   message's id (duplicate=true) and enqueues nothing. Durable when Send returns (survives kill
//   -9; SQLite commit with fsync, PostgreSQL commit).
// - Per-group order: messages of one group are delivered in send order, and while one of them is
//   in flight no later message of that group is delivered. Different groups are delivered in
//   parallel, round-robin: one hot group never starves the others.
// - Receive (1..10 messages, optional wait up to 20 s): delivered messages become invisible for the
//   visibility timeout (queue default 30 s, per-receive override, at most 12 h); each delivery gets
//   a fresh receipt handle and increments the receive count. A waiting Receive returns as soon as a
//   message is available (woken by the sender, not by polling), or empty when the wait ends.
// - Delete(receipt) acknowledges; a stale receipt (the message was redelivered since) is NotFound.
//   ChangeVisibility(receipt, t) extends (or shortens) the holder's lease from now.
// - A message received max_receive_count times without delete moves, at its next delivery
//   attempt, to "{name}.dlq" with the reason; dead letters can be listed and re-driven.
// - At-least-once: an ack or claim that had not committed when the process died is undone, so
//   the message is delivered again; a message whose Send returned is never lost.
//
// Thread-safety: a QueueService is thread-safe; share one per process.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "db/database.h"

namespace imgpipe::queue {

struct QueueOptions {
  std::chrono::milliseconds visibility_timeout{30'000};  // 0 .. 12 h
  int max_receive_count = 5;                             // 1 .. 1000
  std::chrono::milliseconds dedup_window{300'000};       // 0 disables deduplication
};

struct OutgoingMessage {
  std::string body;
  std::string group_id;  // required, 1..128 characters
  std::string dedup_id;  // required, 1..128 characters
};

struct SendResult {
  std::string message_id;
  bool duplicate = false;  // true: an earlier send with this dedup id is the message
};

struct Message {
  std::string message_id;
  std::string receipt;  // for Delete / ChangeVisibility; new at every delivery
  std::string body;
  std::string group_id;
  std::string dedup_id;
  int receive_count = 0;
  int64_t sent_at_ms = 0;          // Unix time in ms
  std::string dead_letter_reason;  // set on messages of a ".dlq" queue
};

struct ReceiveOptions {
  int max_messages = 1;                                         // 1..10
  std::chrono::milliseconds wait{0};                            // 0..20 s: long poll
  std::optional<std::chrono::milliseconds> visibility_timeout;  // else the queue's
};

struct QueueStats {
  int64_t visible = 0;        // deliverable now (or blocked only by their group's in-flight head)
  int64_t in_flight = 0;      // delivered, not yet deleted, lease not expired
  int64_t oldest_age_ms = 0;  // age of the oldest message not deleted; 0 when empty
  int64_t dead_letters = 0;   // depth of "{name}.dlq"
  int64_t sent = 0, received = 0, deleted = 0;  // counters since the queue was created
};

class QueueService {
 public:
  QueueService() = default;
  QueueService(const QueueService&) = delete;
  QueueService& operator=(const QueueService&) = delete;
  virtual ~QueueService() = default;

  // Creates the queue and its ".dlq" if missing; updates the options if it exists.
  virtual core::Status EnsureQueue(std::string_view name, const QueueOptions& options) = 0;
  virtual core::Result<std::vector<std::string>> ListQueues() = 0;

  virtual core::Result<SendResult> Send(std::string_view queue, const OutgoingMessage& message) = 0;
  // Up to 10 messages, all or none, in order.
  virtual core::Result<std::vector<SendResult>> SendBatch(
      std::string_view queue, std::span<const OutgoingMessage> messages) = 0;
  // Sends inside the caller's write transaction on the same database, so that a record (a job
  // row) and its message commit together or not at all. Receivers are woken after the caller
  // commits (call NotifyCommitted(queue) then; a missed call only delays wake-up to the next
  // send or poll tick).
  virtual core::Result<SendResult> SendInTransaction(db::Transaction& tx, std::string_view queue,
                                                     const OutgoingMessage& message) = 0;
  virtual void NotifyCommitted(std::string_view queue) = 0;

  virtual core::Result<std::vector<Message>> Receive(std::string_view queue,
                                                     const ReceiveOptions& options) = 0;
  virtual core::Status Delete(std::string_view queue, std::string_view receipt) = 0;
  // Deletes each receipt; the result has one Status per receipt (stale ones NotFound).
  virtual core::Result<std::vector<core::Status>> DeleteBatch(
      std::string_view queue, std::span<const std::string> receipts) = 0;
  // Deletes inside the caller's write transaction on the same database (as SendInTransaction),
  // so that the record of a message's outcome and its ack commit together or not at all.
  // NotFound for a stale receipt, leaving the transaction usable. Call NotifyCommitted(queue)
  // after the commit: the group's next message may be deliverable.
  virtual core::Status DeleteInTransaction(db::Transaction& tx, std::string_view queue,
                                           std::string_view receipt) = 0;
  virtual core::Status ChangeVisibility(std::string_view queue, std::string_view receipt,
                                        std::chrono::milliseconds timeout) = 0;

  virtual core::Result<QueueStats> Stats(std::string_view queue) = 0;
  // Removes every message of the queue (not its dead letters).
  virtual core::Status Purge(std::string_view queue) = 0;

  // Dead letters of `queue` (read from "{queue}.dlq", oldest first) and re-driving them back to
  // `queue` (receive count reset); returns how many moved.
  virtual core::Result<std::vector<Message>> ListDeadLetters(std::string_view queue, int limit) = 0;
  virtual core::Result<int64_t> Redrive(std::string_view queue, int limit) = 0;
};

struct ServiceOptions {
  // Clock, for tests that move time instead of sleeping. Default: the system clock.
  std::function<int64_t()> now_ms;
};

// The SQL implementation over `db` (which must outlive it): SQLite with in-process wake-ups. The
// PostgreSQL flavour (SKIP LOCKED claims, LISTEN/NOTIFY wake-ups) arrives with the PostgreSQL
// database backend. Applies the queue schema (db::Migrate) on creation.
core::Result<std::unique_ptr<QueueService>> NewSqlQueueService(db::Database& db,
                                                               const ServiceOptions& options = {});

}  // namespace imgpipe::queue
