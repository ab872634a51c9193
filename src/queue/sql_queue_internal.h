// The SQL QueueService (internal to src/queue): schema, validation, wake-ups and the shared
// statements of its three files (sql_queue.cc: queues and sends; sql_queue_receive.cc: claims
// and long polls; sql_queue_ack.cc: acks, visibility, stats, dead letters).
//
// Tables (portable SQL, db::Migrate component "queue"):
// - queue_queues: one row per queue: integer id, name, options. Never updated by messages, so
//   that senders and receivers on PostgreSQL do not queue up on one row lock.
// - queue_counters: sent/received/deleted per (queue, shard); PostgreSQL spreads updates over a
//   few shards for the same reason; Stats sums them.
// - queue_messages: (queue_id, seq). seq orders messages (a global counter: a row on SQLite, a
//   SEQUENCE on PostgreSQL). visible_at_ms > now means leased (in flight); `receipt` holds the
//   current lease's token. Dead letters live in the "{queue}.dlq" queue with dead_reason set.
// - queue_groups: one row per (queue, group) that has messages: head_seq (its oldest message),
//   inflight_until_ms (its in-flight messages' latest lease end; <= now when none) and
//   claim_end_seq (the last seq of its latest claim: every in-flight message of the group has a
//   seq <= it). Receive reads ready groups oldest head first, so its cost does not grow with the
//   backlog, and a hot group cannot starve the others.
// - queue_dedup: (queue_id, dedup_id) -> first message id, until expires_at_ms.
//
// Invariant (kept by every transaction that touches a group's messages): a group row exists iff
// the group has messages; its head_seq is their minimum seq; inflight_until_ms is at least the
// lease end of each of its in-flight messages (it may only be too large for a moment, which
// delays, never reorders, delivery).
//
// Group chains (SQLite): each message's next_seq is the next message of its group (NULL for the
// last) and queue_groups.tail_seq the group's last message, so a group is read by following
// links from head_seq instead of through an index on (queue_id, group_id, seq). Such an index
// has a page per group: a send or an ack touching ten groups dirtied ten of its pages, and
// writing those pages to the WAL was most of a commit. Links only touch the message rows near
// the two ends of the queue and the (small) group table. A chain runs in ascending seq (new
// messages always get the highest seqs); messages leave it only from its in-flight prefix or,
// on a dead-letter move or a redrive, from a prefix walked by the claim. PostgreSQL, whose
// concurrent senders may commit seqs out of order, keeps the index and leaves both columns
// NULL. The functions below hide the difference.
//
// PostgreSQL concurrency: receivers lock ready group rows FOR UPDATE SKIP LOCKED, so receivers
// in any number of processes claim different groups at once; acks lock the group row before
// re-reading its messages (a fresh snapshot under READ COMMITTED), so a concurrent send's row is
// either seen or re-creates the group row itself.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "queue/queue.h"
#include "queue/remote_notifier.h"
#include "queue/vacuumer.h"

namespace imgpipe::queue::internal {

inline constexpr std::string_view kDlqSuffix = ".dlq";
inline constexpr size_t kMaxBatch = 10;
// The notification channel on PostgreSQL (payload: the queue name; "" = look at every queue).
inline constexpr std::string_view kNotifyChannel = "imgpipe_queue";
inline constexpr std::chrono::milliseconds kQueueCacheTtl{1000};

// Wakes long-polling receivers: a version per queue, bumped by Notify, and a condition variable
// per queue that Notify signals as many times as there is new work for (never every waiter of
// every queue: with many receivers parked, waking them all for each message costs more than the
// messages). A receiver that finds more than it could take passes the baton (Notify(queue, 1)).
class Notifier {
 public:
  uint64_t Version(std::string_view queue);
  // Bumps the version of `queue` and wakes up to `wakeups` of its waiters.
  void Notify(std::string_view queue, int wakeups = 1);
  // Bumps every queue's version and wakes every waiter (after a lost PostgreSQL connection).
  void NotifyAll();
  // Waits until the version of `queue` differs from `seen`, a wake-up comes, or `until` passes.
  void WaitChange(std::string_view queue, uint64_t seen,
                  std::chrono::steady_clock::time_point until);

 private:
  struct Channel {
    std::condition_variable cv;
    uint64_t version = 0;  // GUARDED_BY(mu_)
    int waiters = 0;       // GUARDED_BY(mu_)
  };
  Channel& ChannelOf(std::string_view queue);  // REQUIRES: mu_ held

  std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Channel>> channels_;  // GUARDED_BY(mu_)
  uint64_t epoch_ = 0;  // bumped by NotifyAll; GUARDED_BY(mu_)
};

// A queue's identity and options, as read inside a transaction.
struct QueueRow {
  int64_t id = 0;
  int64_t visibility_timeout_ms = 0;
  int64_t max_receive_count = 0;
  int64_t dedup_window_ms = 0;
};

core::Status ValidateQueueName(std::string_view name);
core::Status ValidateMessage(const OutgoingMessage& message);
core::Status ValidateTimeout(std::chrono::milliseconds timeout, std::string_view what);
std::string DlqName(std::string_view queue);

// Reads the queue's id and options; NotFound when the queue does not exist.
core::Result<QueueRow> LoadQueue(db::Transaction& tx, std::string_view queue);
// Allocates `count` new seqs, ascending (consecutive on SQLite only).
core::Result<std::vector<int64_t>> AllocateSeqs(db::Transaction& tx, db::Dialect dialect,
                                                int64_t count);
// The counter row this thread updates (0 on SQLite; one of a few on PostgreSQL).
int64_t CounterShard(db::Dialect dialect);
// Adds to the queue's counters.
core::Status BumpCounters(db::Transaction& tx, db::Dialect dialect, int64_t queue_id, int64_t sent,
                          int64_t received, int64_t deleted);
// Appends values to a statement's parameters (one by one: GCC 12 warns, wrongly, about
// initializer lists of db::Value).
template <typename... Ts>
void Append(std::vector<db::Value>& params, Ts&&... values) {
  (params.emplace_back(std::forward<Ts>(values)), ...);
}

// An integer column that may be NULL (a seq link or end): 0 for NULL.
inline int64_t IntOrZero(const db::Row& row, size_t i) { return row.IsNull(i) ? 0 : row.Int(i); }

// The verb of an UPDATE that may change several rows. SQLite: "UPDATE OR FAIL". With the default
// (ABORT) such a statement first copies every page it touches to a statement journal, to undo
// itself alone should a constraint stop it half-way; FAIL needs no journal (+3.5% on the batched
// cycle, docs/benchmarks.md "Queues"). The difference is only in what a failed statement leaves,
// and no caller goes on with a transaction after a failed statement: it is rolled back whole.
inline std::string UpdateMany(db::Dialect dialect) {
  return dialect == db::Dialect::kSqlite ? "UPDATE OR FAIL " : "UPDATE ";
}

// "?, ?, ..., ?" (n of them), for IN lists and multi-row VALUES.
std::string Placeholders(size_t n);
// The queue's schema steps for `dialect` (db::Migrate component "queue").
std::vector<std::string_view> Schema(db::Dialect dialect);

// Records that messages now exist in the given groups of queue `queue_id` (send, DLQ move,
// redrive): per group, the new seqs in ascending order, each above every seq already in the
// group. Creates group rows or lowers their heads; on SQLite, links the new messages to the end
// of their chains.
core::Status AddToGroups(db::Transaction& tx, db::Dialect dialect, int64_t queue_id,
                         const std::map<std::string, std::vector<int64_t>>& added);
// A message that left its group (deleted or moved), with the next_seq it had (0 when NULL).
struct LeftMessage {
  int64_t seq = 0;
  int64_t next_seq = 0;
};
// A group row as the chains use it (0 for NULL).
struct GroupChain {
  int64_t head = 0;
  int64_t tail = 0;
  int64_t claim_end = 0;
};
// Updates the group rows (and, on SQLite, the chains) after messages left them: heads, tails and
// lease ends follow; rows of emptied groups go. Returns how many of the groups still have
// messages. `known`: the groups' rows as read in this transaction, when the caller has them
// (SQLite; else they are read here). REQUIRES on PostgreSQL: as RefreshGroups.
core::Result<int64_t> RemoveFromGroups(db::Transaction& tx, db::Dialect dialect, int64_t queue_id,
                                       const std::map<std::string, std::vector<LeftMessage>>& left,
                                       int64_t now,
                                       const std::map<std::string, GroupChain>* known = nullptr);
// Recomputes the groups' lease ends after a visibility change of their in-flight messages.
core::Status RefreshLeases(db::Transaction& tx, db::Dialect dialect, int64_t queue_id,
                           std::span<const std::string> groups, int64_t now);
// Repairs group rows whose head message is missing (never expected: every transaction keeps the
// invariant); on SQLite by scanning the queue's messages.
core::Status RepairGroups(db::Transaction& tx, db::Dialect dialect, int64_t queue_id,
                          std::span<const std::string> groups, int64_t now);
// Up to `count` messages of `group` after its message `seq`, in order (rows of kMessageColumns).
core::Result<std::vector<db::Row>> NextInGroup(db::Transaction& tx, db::Dialect dialect,
                                               int64_t queue_id, const std::string& group,
                                               int64_t seq, int64_t count);
// PostgreSQL: re-derives group rows from their messages after some left or changed: heads and
// lease ends recomputed; rows of emptied groups go. Returns how many of `groups` still have
// messages. REQUIRES: the group rows are locked by `tx` (LockGroups) before the messages changed,
// so this statement's snapshot sees every committed send to them.
core::Result<int64_t> RefreshGroups(db::Transaction& tx, int64_t queue_id,
                                    std::span<const std::string> groups, int64_t now);
// Locks group rows in name order (PostgreSQL FOR UPDATE; nothing on SQLite, which serialises
// writers).
core::Status LockGroups(db::Transaction& tx, db::Dialect dialect, int64_t queue_id,
                        std::span<const std::string> groups);

// A receipt handle is "{seq}.{token}": the seq finds the row by primary key, the random token
// (stored in the row) proves the holder's lease is the current one.
std::string MakeReceipt(int64_t seq, std::string_view token);
// False when `receipt` is not of that form.
bool ParseReceipt(std::string_view receipt, int64_t* seq, std::string* token);

// Columns read into a Message, in MessageFromRow's order (the receipt column holds the token).
inline constexpr std::string_view kMessageColumns =
    "seq, message_id, receipt, body, group_id, dedup_id, receive_count, sent_at_ms, dead_reason";
Message MessageFromRow(const db::Row& row, size_t first = 0);

class SqlQueueService final : public QueueService {
 public:
  SqlQueueService(db::Database& db, const ServiceOptions& options);
  // Subscribes to the database's cross-process notifications where it has them (PostgreSQL).
  void StartListening();

  core::Status EnsureQueue(std::string_view name, const QueueOptions& options) override;
  core::Result<std::vector<std::string>> ListQueues() override;
  core::Result<SendResult> Send(std::string_view queue, const OutgoingMessage& message) override;
  core::Result<std::vector<SendResult>> SendBatch(
      std::string_view queue, std::span<const OutgoingMessage> messages) override;
  core::Result<SendResult> SendInTransaction(db::Transaction& tx, std::string_view queue,
                                             const OutgoingMessage& message) override;
  void NotifyCommitted(std::string_view queue) override { Wake(queue); }

  core::Result<std::vector<Message>> Receive(std::string_view queue,
                                             const ReceiveOptions& options) override;
  core::Status Delete(std::string_view queue, std::string_view receipt) override;
  core::Result<std::vector<core::Status>> DeleteBatch(
      std::string_view queue, std::span<const std::string> receipts) override;
  core::Status DeleteInTransaction(db::Transaction& tx, std::string_view queue,
                                   std::string_view receipt) override;
  core::Status ChangeVisibility(std::string_view queue, std::string_view receipt,
                                std::chrono::milliseconds timeout) override;
  core::Result<QueueStats> Stats(std::string_view queue) override;
  core::Status Purge(std::string_view queue) override;
  core::Result<std::vector<Message>> ListDeadLetters(std::string_view queue, int limit) override;
  core::Result<int64_t> Redrive(std::string_view queue, int limit) override;

 private:
  // One claim attempt (one transaction, maybe shared: WriteCombiner). When nothing is deliverable,
  // *next_visible_ms is the earliest lease end in the queue (0 if none).
  core::Result<std::vector<Message>> TryReceive(std::string_view queue, int max_messages,
                                                std::optional<std::chrono::milliseconds> lease,
                                                int64_t* next_visible_ms);
  // DeleteBatch's work inside `tx`: one status per receipt in *statuses; returns whether a group
  // with more messages lost its in-flight head (its next message may go: wake receivers).
  core::Result<bool> DeleteIn(db::Transaction& tx, std::string_view queue,
                              std::span<const std::string> receipts,
                              std::vector<core::Status>* statuses);
  // TryReceive's work inside `tx`.
  core::Status ClaimIn(db::Transaction& tx, std::string_view queue, int max_messages,
                       std::optional<std::chrono::milliseconds> lease,
                       std::vector<Message>* claimed, int64_t* next_visible_ms);
  // A ready group and its first messages (rows of kMessageColumns), head first.
  struct ReadyGroup {
    std::string name;
    std::vector<db::Row> messages;
  };
  // Claims messages of the ready `groups` (oldest head first) until *claimed holds `want`,
  // round-robin across them, dead-lettering exhausted ones (then sets *moved).
  core::Status ClaimGroups(db::Transaction& tx, std::string_view queue, const QueueRow& row,
                           std::vector<ReadyGroup>& groups, int64_t want, int64_t now,
                           int64_t lease_ms, std::vector<Message>* claimed, bool* moved);
  // Moves message `seq` of `queue` to its DLQ; false when there is none (`queue` is a DLQ).
  core::Result<bool> DeadLetter(db::Transaction& tx, std::string_view queue, int64_t seq,
                                const std::string& group, std::string_view reason, int64_t now);

  // PostgreSQL: inserts the `fresh` messages in one statement; returns the dedup ids inserted.
  core::Result<std::set<std::string>> InsertPostgres(db::Transaction& tx, const QueueRow& row,
                                                     std::span<const OutgoingMessage> messages,
                                                     const std::vector<size_t>& fresh,
                                                     const std::vector<SendResult>& results,
                                                     int64_t now);
  // Deletes a bounded few expired dedup entries, once every 64 messages sent (`sent`: just now).
  core::Status SweepDedup(db::Transaction& tx, int64_t now, int64_t sent);
  // Inserts one batch's validated messages (dedup checks first) in `tx`.
  core::Result<std::vector<SendResult>> SendLocked(db::Transaction& tx, std::string_view queue,
                                                   std::span<const OutgoingMessage> messages,
                                                   int64_t now);
  // After a commit that gave `queue` work: wakes up to `wakeups` receivers here, and (PostgreSQL)
  // tells other processes.
  void Wake(std::string_view queue, int wakeups = 1);
  // Counts row writes for the Vacuumer (PostgreSQL).
  void CountWrites(int64_t n) {
    if (vacuumer_ != nullptr) vacuumer_->CountWrites(n);
  }
  // LoadQueue through a short-lived cache: a queue's id never changes, and options changed by
  // another process are seen within kQueueCacheTtl (EnsureQueue here drops the entry at once).
  core::Result<QueueRow> Queue(db::Transaction& tx, std::string_view name);

  db::Database& db_;
  const db::Dialect dialect_;
  std::function<int64_t()> now_ms_;
  Notifier notifier_;
  std::unique_ptr<db::Subscription> subscription_;  // PostgreSQL LISTEN
  std::unique_ptr<RemoteNotifier> remote_;          // PostgreSQL NOTIFY
  std::unique_ptr<Vacuumer> vacuumer_;              // PostgreSQL VACUUM of the busy tables

  struct CachedQueue {
    QueueRow row;
    std::chrono::steady_clock::time_point loaded_at;
  };
  std::mutex cache_mu_;
  std::unordered_map<std::string, CachedQueue> queue_cache_;  // GUARDED_BY(cache_mu_)

  // Group commit of claims, acks and sends on SQLite.
};

}  // namespace imgpipe::queue::internal
