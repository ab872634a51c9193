// SqlQueueService: schema, validation, shared row helpers, queues and sends.
#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <map>
#include <random>
#include <set>

#include "core/ids.h"
#include "queue/sql_queue_internal.h"

namespace imgpipe::queue {
namespace internal {
namespace {

using core::Result;
using core::Status;
using db::Value;

// Schema steps: one statement each, applied once (db::Migrate). Append; never edit. Steps 1-7 are
// the first layout (per-queue seq, no group table), replaced by steps 8 onwards.
constexpr std::array<std::string_view, 26> kSchema = {
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
    "CREATE INDEX queue_messages_by_group ON queue_messages(queue, group_id, seq)",
    "CREATE INDEX queue_messages_by_visibility ON queue_messages(queue, visible_at_ms)",
    "CREATE INDEX queue_messages_by_receipt ON queue_messages(receipt)",
    "CREATE TABLE queue_dedup ("
    " queue TEXT NOT NULL, dedup_id TEXT NOT NULL, message_id TEXT NOT NULL,"
    " expires_at_ms INTEGER NOT NULL, PRIMARY KEY (queue, dedup_id))",
    "CREATE INDEX queue_dedup_by_expiry ON queue_dedup(expires_at_ms)",
    // The current layout (see sql_queue_internal.h).
    "DROP TABLE queue_dedup", "DROP TABLE queue_messages", "DROP TABLE queue_queues",
    "CREATE TABLE queue_queues ("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, visibility_timeout_ms INTEGER NOT NULL,"
    " max_receive_count INTEGER NOT NULL, dedup_window_ms INTEGER NOT NULL,"
    " created_at_ms INTEGER NOT NULL)",
    "CREATE TABLE queue_counters ("
    " queue_id INTEGER NOT NULL, shard INTEGER NOT NULL, sent INTEGER NOT NULL,"
    " received INTEGER NOT NULL, deleted INTEGER NOT NULL, PRIMARY KEY (queue_id, shard))"
    " WITHOUT ROWID",
    "CREATE TABLE queue_messages ("
    " queue_id INTEGER NOT NULL, seq INTEGER NOT NULL, message_id TEXT NOT NULL,"
    " group_id TEXT NOT NULL, dedup_id TEXT NOT NULL, body BLOB NOT NULL,"
    " sent_at_ms INTEGER NOT NULL, visible_at_ms INTEGER NOT NULL,"
    " receive_count INTEGER NOT NULL, receipt TEXT, dead_reason TEXT NOT NULL,"
    " PRIMARY KEY (queue_id, seq)) WITHOUT ROWID",
    "CREATE INDEX queue_messages_by_group ON queue_messages(queue_id, group_id, seq)",
    "CREATE TABLE queue_groups ("
    " queue_id INTEGER NOT NULL, group_id TEXT NOT NULL, head_seq INTEGER,"
    " inflight_until_ms INTEGER NOT NULL, claim_end_seq INTEGER NOT NULL,"
    " PRIMARY KEY (queue_id, group_id)) WITHOUT ROWID",
    "CREATE INDEX queue_groups_by_head ON queue_groups(queue_id, head_seq)",
    "CREATE TABLE queue_dedup ("
    " queue_id INTEGER NOT NULL, dedup_id TEXT NOT NULL, message_id TEXT NOT NULL,"
    " expires_at_ms INTEGER NOT NULL, PRIMARY KEY (queue_id, dedup_id)) WITHOUT ROWID",
    "CREATE INDEX queue_dedup_by_expiry ON queue_dedup(expires_at_ms)",
    // The seq counter: a row on SQLite (writers are serialised anyway); PostgreSQL uses the
    // SEQUENCE of the next step instead, which never blocks concurrent senders.
    "CREATE TABLE queue_seq (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT INTO queue_seq (id, value) VALUES (1, 0)",
    "",  // dialect-specific: see Schema()
    // SQLite chains each group's messages (sql_queue_internal.h, "Group chains"); PostgreSQL
    // leaves both columns NULL and keeps reading groups through queue_messages_by_group.
    "ALTER TABLE queue_messages ADD COLUMN next_seq INTEGER",
    "ALTER TABLE queue_groups ADD COLUMN tail_seq INTEGER",
    "",  // dialect-specific: see Schema()
    "",  // dialect-specific: see Schema()
    "",  // dialect-specific: see Schema()
};
constexpr size_t kPostgresSequenceStep = 20;
constexpr size_t kChainLinksStep = 23;
constexpr size_t kChainTailsStep = 24;
constexpr size_t kDropGroupIndexStep = 25;
// A statement that changes nothing (its index exists since step 17): fills a slot that the
// other dialect needs, so that both keep one numbering.
constexpr std::string_view kNoOpStep =
    "CREATE INDEX IF NOT EXISTS queue_dedup_by_expiry ON queue_dedup(expires_at_ms)";

}  // namespace

std::vector<std::string_view> Schema(db::Dialect dialect) {
  std::vector<std::string_view> steps(kSchema.begin(), kSchema.end());
  const bool postgres = dialect == db::Dialect::kPostgres;
  steps[kPostgresSequenceStep] = postgres ? "CREATE SEQUENCE queue_message_seq" : kNoOpStep;
  // SQLite: link the messages already there (through the group index, still present), then
  // drop that index, which every send and ack had to update in as many places as groups.
  steps[kChainLinksStep] =
      postgres ? kNoOpStep
               : "UPDATE queue_messages SET next_seq = (SELECT MIN(n.seq) FROM queue_messages n"
                 " WHERE n.queue_id = queue_messages.queue_id AND n.group_id ="
                 " queue_messages.group_id AND n.seq > queue_messages.seq)";
  steps[kChainTailsStep] =
      postgres ? kNoOpStep
               : "UPDATE queue_groups SET tail_seq = (SELECT MAX(m.seq) FROM queue_messages m"
                 " WHERE m.queue_id = queue_groups.queue_id AND m.group_id ="
                 " queue_groups.group_id)";
  steps[kDropGroupIndexStep] = postgres ? kNoOpStep : "DROP INDEX queue_messages_by_group";
  return steps;
}

namespace {

constexpr std::chrono::milliseconds kMaxTimeout = std::chrono::hours(12);
// Counter rows per queue on PostgreSQL: concurrent transactions rarely pick the same one.
constexpr int64_t kCounterShards = 16;

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

Notifier::Channel& Notifier::ChannelOf(std::string_view queue) {
  auto it = channels_.find(std::string(queue));
  if (it == channels_.end()) {
    it = channels_.emplace(std::string(queue), std::make_unique<Channel>()).first;
  }
  return *it->second;
}

uint64_t Notifier::Version(std::string_view queue) {
  std::lock_guard lock(mu_);
  return epoch_ + ChannelOf(queue).version;
}

void Notifier::Notify(std::string_view queue, int wakeups) {
  std::lock_guard lock(mu_);
  Channel& channel = ChannelOf(queue);
  ++channel.version;
  for (int i = 0; i < std::min(wakeups, channel.waiters); ++i) channel.cv.notify_one();
}

void Notifier::NotifyAll() {
  std::lock_guard lock(mu_);
  ++epoch_;
  for (auto& [name, channel] : channels_) channel->cv.notify_all();
}

void Notifier::WaitChange(std::string_view queue, uint64_t seen,
                          std::chrono::steady_clock::time_point until) {
  std::unique_lock lock(mu_);
  Channel& channel = ChannelOf(queue);
  if (epoch_ + channel.version != seen) return;
  ++channel.waiters;
  // One wait: a notification meant for another waiter may wake us too, which only costs a look.
  channel.cv.wait_until(lock, until);
  --channel.waiters;
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

std::string DlqName(std::string_view queue) { return std::string(queue) + std::string(kDlqSuffix); }

Result<QueueRow> LoadQueue(db::Transaction& tx, std::string_view queue) {
  std::array<Value, 1> params = {std::string(queue)};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows, tx.Query("SELECT id, visibility_timeout_ms, max_receive_count, dedup_window_ms"
                          " FROM queue_queues WHERE name = ?",
                          params));
  if (rows.empty()) return Status::NotFound("no queue " + std::string(queue));
  return QueueRow{rows[0].Int(0), rows[0].Int(1), rows[0].Int(2), rows[0].Int(3)};
}

Result<std::vector<int64_t>> AllocateSeqs(db::Transaction& tx, db::Dialect dialect, int64_t count) {
  std::array<Value, 1> params = {count};
  std::vector<int64_t> seqs;
  if (dialect == db::Dialect::kPostgres) {
    // A SEQUENCE never blocks concurrent senders; their seqs interleave (ascending per call).
    IMGPIPE_ASSIGN_OR_RETURN(
        auto rows,
        tx.Query("SELECT nextval('queue_message_seq') FROM generate_series(1, ?)", params));
    for (const auto& r : rows) seqs.push_back(r.Int(0));
    std::sort(seqs.begin(), seqs.end());
  } else {
    // A read, then the update: RETURNING would cost more than both (SQLite serialises writers,
    // so nothing runs between them).
    IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT value FROM queue_seq WHERE id = 1"));
    if (rows.empty()) return Status::Internal("queue_seq has no row");
    IMGPIPE_RETURN_IF_ERROR(
        tx.Exec("UPDATE queue_seq SET value = value + ? WHERE id = 1", params).status());
    for (int64_t seq = rows[0].Int(0) + 1; seq <= rows[0].Int(0) + count; ++seq) {
      seqs.push_back(seq);
    }
  }
  if (std::ssize(seqs) != count) return Status::Internal("seq allocation returned too few");
  return seqs;
}

int64_t CounterShard(db::Dialect dialect) {
  if (dialect != db::Dialect::kPostgres) return 0;
  thread_local std::minstd_rand rng(std::random_device{}());
  return static_cast<int64_t>(rng() % kCounterShards);
}

Status BumpCounters(db::Transaction& tx, db::Dialect dialect, int64_t queue_id, int64_t sent,
                    int64_t received, int64_t deleted) {
  std::array<Value, 5> params = {queue_id, CounterShard(dialect), sent, received, deleted};
  return tx
      .Exec(
          "INSERT INTO queue_counters (queue_id, shard, sent, received, deleted)"
          " VALUES (?, ?, ?, ?, ?) ON CONFLICT (queue_id, shard) DO UPDATE SET"
          " sent = queue_counters.sent + excluded.sent,"
          " received = queue_counters.received + excluded.received,"
          " deleted = queue_counters.deleted + excluded.deleted",
          params)
      .status();
}

std::string Placeholders(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ", ?";
  return out;
}

Result<int64_t> RefreshGroups(db::Transaction& tx, int64_t queue_id,
                              std::span<const std::string> groups, int64_t now) {
  if (groups.empty()) return int64_t{0};
  // Both reads are short ranges from the old head (which is the group's minimum seq): below it
  // lie only deleted messages, which PostgreSQL's index still holds until vacuum, so scanning
  // from the group's start would slow down with every message the group ever had. In-flight
  // messages all have seq <= claim_end_seq (a claim takes a group's first messages).
  std::vector<Value> params;
  Append(params, now, queue_id);
  params.insert(params.end(), groups.begin(), groups.end());
  const std::string in = "(" + Placeholders(groups.size()) + ")";
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows,
      tx.Query("UPDATE queue_groups SET head_seq = (SELECT MIN(m.seq) FROM queue_messages m WHERE"
               " m.queue_id = queue_groups.queue_id AND m.group_id = queue_groups.group_id AND"
               " m.seq >= queue_groups.head_seq), inflight_until_ms = COALESCE((SELECT"
               " MAX(m.visible_at_ms) FROM queue_messages m WHERE m.queue_id ="
               " queue_groups.queue_id AND m.group_id = queue_groups.group_id AND m.seq >="
               " queue_groups.head_seq AND m.seq <= queue_groups.claim_end_seq AND"
               " m.visible_at_ms > ?), 0)"
               " WHERE queue_id = ? AND group_id IN " +
                   in + " RETURNING head_seq",
               params));
  int64_t live = 0;
  for (const auto& r : rows) live += r.IsNull(0) ? 0 : 1;
  if (live < std::ssize(rows)) {
    std::vector<Value> key;
    Append(key, queue_id);
    key.insert(key.end(), groups.begin(), groups.end());
    IMGPIPE_RETURN_IF_ERROR(tx.Exec("DELETE FROM queue_groups WHERE queue_id = ? AND group_id IN " +
                                        in + " AND head_seq IS NULL",
                                    key)
                                .status());
  }
  return live;
}

Status LockGroups(db::Transaction& tx, db::Dialect dialect, int64_t queue_id,
                  std::span<const std::string> groups) {
  if (dialect != db::Dialect::kPostgres || groups.empty()) return Status::Ok();
  std::vector<Value> params;
  Append(params, queue_id);
  params.insert(params.end(), groups.begin(), groups.end());
  // Locked in name order (the sort runs below the lock), the order every transaction keeps.
  return tx
      .Query("SELECT 1 FROM queue_groups WHERE queue_id = ? AND group_id IN (" +
                 Placeholders(groups.size()) + ") ORDER BY group_id FOR UPDATE",
             params)
      .status();
}

std::string MakeReceipt(int64_t seq, std::string_view token) {
  return std::to_string(seq) + "." + std::string(token);
}

bool ParseReceipt(std::string_view receipt, int64_t* seq, std::string* token) {
  size_t dot = receipt.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= receipt.size()) return false;
  auto [end, ec] = std::from_chars(receipt.data(), receipt.data() + dot, *seq);
  if (ec != std::errc() || end != receipt.data() + dot) return false;
  *token = std::string(receipt.substr(dot + 1));
  return true;
}

Message MessageFromRow(const db::Row& row, size_t first) {
  Message m;
  std::string token = row.Text(first + 2);
  m.message_id = row.Text(first + 1);
  m.receipt = token.empty() ? "" : MakeReceipt(row.Int(first), token);
  m.body = row.Text(first + 3);
  m.group_id = row.Text(first + 4);
  m.dedup_id = row.Text(first + 5);
  m.receive_count = static_cast<int>(row.Int(first + 6));
  m.sent_at_ms = row.Int(first + 7);
  m.dead_letter_reason = row.Text(first + 8);
  return m;
}

SqlQueueService::SqlQueueService(db::Database& db, const ServiceOptions& options)
    : db_(db), dialect_(db.dialect()), now_ms_(options.now_ms ? options.now_ms : SystemNowMs) {}

void SqlQueueService::StartListening() {
  auto subscription = db_.Listen(kNotifyChannel, [this](std::string_view queue) {
    if (queue.empty()) {
      notifier_.NotifyAll();
    } else {
      notifier_.Notify(queue);
    }
  });
  // Without a channel (SQLite), sends by other processes are seen at the next poll tick.
  if (subscription.ok()) subscription_ = std::move(subscription).value();
  if (dialect_ == db::Dialect::kPostgres) {
    remote_ = std::make_unique<RemoteNotifier>(db_, std::string(kNotifyChannel));
    vacuumer_ = std::make_unique<Vacuumer>(db_);
  }
}

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
  // Two processes creating queues at once may pick the same new id: the loser retries.
  Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    last = [&]() -> Status {
      IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kWrite));
      int64_t now = now_ms_();
      std::string dlq = DlqName(name);
      // The queue's options are updated; its DLQ keeps its own once created.
      for (const auto& [queue, update] :
           {std::pair{std::string(name), true}, std::pair{dlq, false}}) {
        std::array<Value, 5> params = {queue, int64_t{options.visibility_timeout.count()},
                                       int64_t{options.max_receive_count},
                                       int64_t{options.dedup_window.count()}, now};
        std::string sql =
            "INSERT INTO queue_queues (id, name, visibility_timeout_ms, max_receive_count,"
            " dedup_window_ms, created_at_ms) SELECT COALESCE(MAX(id), 0) + 1, ?, ?, ?, ?, ?"
            " FROM queue_queues WHERE 1 = 1 ON CONFLICT (name) DO ";
        sql += update ? "UPDATE SET visibility_timeout_ms = excluded.visibility_timeout_ms,"
                        " max_receive_count = excluded.max_receive_count,"
                        " dedup_window_ms = excluded.dedup_window_ms"
                      : "NOTHING";
        IMGPIPE_RETURN_IF_ERROR(tx->Exec(sql, params).status());
      }
      return tx->Commit();
    }();
    if (last.code() != core::StatusCode::kAlreadyExists) break;
  }
  std::lock_guard lock(cache_mu_);
  queue_cache_.erase(std::string(name));
  queue_cache_.erase(DlqName(name));
  return last;
}

Result<std::vector<std::string>> SqlQueueService::ListQueues() {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx->Query("SELECT name FROM queue_queues ORDER BY name"));
  std::vector<std::string> names;
  for (const auto& row : rows) names.push_back(row.Text(0));
  return names;
}

void SqlQueueService::Wake(std::string_view queue, int wakeups) {
  notifier_.Notify(queue, wakeups);
  if (remote_ != nullptr) remote_->Post(queue);
}

Result<QueueRow> SqlQueueService::Queue(db::Transaction& tx, std::string_view name) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(cache_mu_);
    auto it = queue_cache_.find(std::string(name));
    if (it != queue_cache_.end() && now - it->second.loaded_at < kQueueCacheTtl) {
      return it->second.row;
    }
  }
  IMGPIPE_ASSIGN_OR_RETURN(QueueRow row, LoadQueue(tx, name));
  std::lock_guard lock(cache_mu_);
  queue_cache_[std::string(name)] = CachedQueue{row, now};
  return row;
}

}  // namespace internal

core::Result<std::unique_ptr<QueueService>> NewSqlQueueService(db::Database& db,
                                                               const ServiceOptions& options) {
  std::vector<std::string_view> steps = internal::Schema(db.dialect());
  IMGPIPE_RETURN_IF_ERROR(db::Migrate(db, "queue", steps));
  auto service = std::make_unique<internal::SqlQueueService>(db, options);
  service->StartListening();
  return std::unique_ptr<QueueService>(std::move(service));
}

}  // namespace imgpipe::queue
