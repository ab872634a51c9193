// SqlQueueService: receive (claims, dead-lettering) and long polling.
//
// Claims commit with TxMode::kWriteRelaxed: losing one to a power failure only means the message
// is delivered again, which at-least-once delivery allows.
#include <algorithm>
#include <array>
#include <map>

#include "core/ids.h"
#include "queue/sql_queue_internal.h"

namespace imgpipe::queue::internal {
namespace {

using core::Result;
using core::Status;
using db::Value;
using SteadyClock = std::chrono::steady_clock;

// Receivers re-check this often even without a wake-up: sends by other processes sharing a
// SQLite file (no notification reaches them), missed NotifyCommitted calls, a PostgreSQL
// notification lost while its connection was down.
constexpr std::chrono::milliseconds kPollTick{1000};

}  // namespace

Result<bool> SqlQueueService::DeadLetter(db::Transaction& tx, std::string_view queue, int64_t seq,
                                         const std::string& group, std::string_view reason,
                                         int64_t now) {
  if (queue.ends_with(kDlqSuffix)) return false;  // a DLQ has no DLQ: deliver as usual
  auto dlq = Queue(tx, DlqName(queue));
  if (!dlq.ok()) {
    return dlq.status().code() == core::StatusCode::kNotFound ? Result<bool>(false)
                                                              : Result<bool>(dlq.status());
  }
  IMGPIPE_ASSIGN_OR_RETURN(auto seqs, AllocateSeqs(tx, dialect_, 1));
  IMGPIPE_ASSIGN_OR_RETURN(QueueRow source, Queue(tx, queue));
  std::array<Value, 2> key = {source.id, seq};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto link,
      tx.Query("SELECT next_seq FROM queue_messages WHERE queue_id = ? AND seq = ?", key));
  if (link.empty()) return Status::Internal("message " + std::to_string(seq) + " vanished");
  const int64_t next_seq = IntOrZero(link[0], 0);
  std::array<Value, 6> move = {dlq->id, seqs[0], std::string(reason), now, source.id, seq};
  IMGPIPE_RETURN_IF_ERROR(
      tx.Exec("UPDATE queue_messages SET queue_id = ?, seq = ?, dead_reason = ?, receipt = NULL,"
              " visible_at_ms = ?, next_seq = NULL WHERE queue_id = ? AND seq = ?",
              move)
          .status());
  IMGPIPE_RETURN_IF_ERROR(
      RemoveFromGroups(tx, dialect_, source.id, {{group, {{seq, next_seq}}}}, now).status());
  IMGPIPE_RETURN_IF_ERROR(AddToGroups(tx, dialect_, dlq->id, {{group, {seqs[0]}}}));
  IMGPIPE_RETURN_IF_ERROR(BumpCounters(tx, dialect_, dlq->id, 1, 0, 0));
  return true;
}

Status SqlQueueService::ClaimGroups(db::Transaction& tx, std::string_view queue,
                                    const QueueRow& row, std::vector<ReadyGroup>& groups,
                                    int64_t want, int64_t now, int64_t lease_ms,
                                    std::vector<Message>* claimed, bool* moved) {
  // Fewer ready groups than wanted: their next messages too, in order (one query per group).
  size_t deepest = 1;
  if (std::ssize(groups) < want) {
    for (auto& g : groups) {
      IMGPIPE_ASSIGN_OR_RETURN(
          auto more, NextInGroup(tx, dialect_, row.id, g.name, g.messages[0].Int(0), want - 1));
      for (auto& r : more) g.messages.push_back(std::move(r));
      deepest = std::max(deepest, g.messages.size());
    }
  }
  // Round-robin: every group's first message (oldest head first), then every second, ... One
  // token for the whole claim; each receipt is still unique (it carries the seq).
  const std::string token = core::RandomUrlSafeToken(16);
  std::vector<Value> seqs;
  Append(seqs, now + lease_ms, token, row.id);
  std::map<std::string, int64_t> claim_end;  // per group claimed from: its last claimed seq
  for (size_t rank = 0; rank < deepest && std::ssize(*claimed) < want; ++rank) {
    for (auto& g : groups) {
      if (rank >= g.messages.size() || std::ssize(*claimed) >= want) continue;
      int64_t seq = g.messages[rank].Int(0);
      Message m = MessageFromRow(g.messages[rank]);
      if (m.receive_count >= row.max_receive_count) {
        std::string reason =
            "received " + std::to_string(m.receive_count) + " times without delete";
        IMGPIPE_ASSIGN_OR_RETURN(bool dead, DeadLetter(tx, queue, seq, g.name, reason, now));
        if (dead) {
          *moved = true;
          continue;
        }
      }
      m.receipt = MakeReceipt(seq, token);
      m.receive_count += 1;
      claim_end[g.name] = seq;
      seqs.push_back(seq);
      claimed->push_back(std::move(m));
    }
  }
  if (claim_end.empty()) return Status::Ok();
  const std::string claim_messages =
      UpdateMany(dialect_) +
      "queue_messages SET visible_at_ms = ?, receive_count = receive_count + 1,"
      " receipt = ? WHERE queue_id = ? AND seq IN (" +
      Placeholders(seqs.size() - 3) + ")";
  std::string sql;
  std::vector<Value> params;
  if (dialect_ == db::Dialect::kPostgres) {
    // One round trip: the messages, the counters (CTEs) and the groups (whose rows this
    // transaction locked already, so the order of the three does not matter).
    sql = "WITH m AS (" + claim_messages +
          "), c AS (INSERT INTO queue_counters (queue_id, shard, sent, received, deleted)"
          " VALUES (?, ?, 0, ?, 0) ON CONFLICT (queue_id, shard) DO UPDATE SET received ="
          " queue_counters.received + excluded.received) ";
    params = std::move(seqs);
    Append(params, row.id, CounterShard(dialect_), static_cast<int64_t>(params.size() - 3));
  } else {
    IMGPIPE_RETURN_IF_ERROR(tx.Exec(claim_messages, seqs).status());
  }
  // The usual claim takes one message per group, its head: then no CASE is needed.
  bool heads_only = !*moved;
  for (const auto& g : groups) {
    auto it = claim_end.find(g.name);
    heads_only = heads_only && (it == claim_end.end() || it->second == g.messages[0].Int(0));
  }
  sql += UpdateMany(dialect_) + "queue_groups SET inflight_until_ms = ?, claim_end_seq = ";
  Append(params, now + lease_ms);
  if (heads_only) {
    sql += "head_seq";
  } else {
    sql += "CASE group_id";
    for (const auto& [group, seq] : claim_end) {
      sql += " WHEN ? THEN ?";
      Append(params, group, seq);
    }
    sql += " END";
  }
  sql += " WHERE queue_id = ? AND group_id IN (" + Placeholders(claim_end.size()) + ")";
  params.push_back(row.id);
  for (const auto& [group, seq] : claim_end) params.push_back(group);
  return tx.Exec(sql, params).status();
}

Result<std::vector<Message>> SqlQueueService::TryReceive(
    std::string_view queue, int max_messages, std::optional<std::chrono::milliseconds> lease,
    int64_t* next_visible_ms) {
  std::vector<Message> messages;
  IMGPIPE_RETURN_IF_ERROR(db_.Write(/*durable=*/false, [&](db::Transaction& tx) -> Status {
    messages.clear();
    return ClaimIn(tx, queue, max_messages, lease, &messages, next_visible_ms);
  }));
  CountWrites(std::ssize(messages));
  return messages;
}

Status SqlQueueService::ClaimIn(db::Transaction& tx, std::string_view queue, int max_messages,
                                std::optional<std::chrono::milliseconds> lease,
                                std::vector<Message>* claimed, int64_t* next_visible_ms) {
  *next_visible_ms = 0;
  std::vector<Message>& messages = *claimed;
  IMGPIPE_ASSIGN_OR_RETURN(QueueRow row, Queue(tx, queue));
  int64_t now = now_ms_();
  int64_t lease_ms = lease ? lease->count() : row.visibility_timeout_ms;
  // Ready groups with their head messages, oldest head first. PostgreSQL: group rows other
  // receivers hold are skipped, so receivers in any number of processes claim different groups
  // at the same time.
  // The LIMIT applies to the groups (an ordered scan of the head index), before the join.
  const bool postgres = dialect_ == db::Dialect::kPostgres;
  std::string sql =
      "SELECT g.group_id, m.seq, m.message_id, m.receipt, m.body, m.group_id, m.dedup_id,"
      " m.receive_count, m.sent_at_ms, m.dead_reason FROM (SELECT group_id, head_seq FROM"
      " queue_groups WHERE queue_id = ? AND inflight_until_ms <= ? ORDER BY head_seq LIMIT ?";
  sql += postgres ? " FOR UPDATE SKIP LOCKED) g" : ") g";
  sql +=
      " LEFT JOIN queue_messages m ON m.queue_id = ? AND m.seq = g.head_seq ORDER BY"
      " g.head_seq";
  std::vector<std::string> visited;  // groups claimed from: once per call (a lease may be 0)
  bool any_ready = false;
  // Dead-lettering a group's head may leave that group (or others) ready: look again (bounded).
  for (int round = 0; round < 4 && std::ssize(messages) < max_messages; ++round) {
    int64_t want = max_messages - std::ssize(messages);
    std::array<Value, 4> params = {row.id, now, want, row.id};
    IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx.Query(sql, params));
    any_ready = any_ready || !rows.empty();
    std::vector<ReadyGroup> groups;
    std::vector<std::string> stale;  // a head that is not there: repair the group row
    for (auto& r : rows) {
      std::string group = r.Text(0);
      if (r.IsNull(1)) {
        stale.push_back(std::move(group));
      } else if (std::find(visited.begin(), visited.end(), group) == visited.end()) {
        std::vector<Value> cells;
        for (size_t c = 1; c < r.size(); ++c) cells.push_back(r.at(c));
        groups.push_back({std::move(group), {}});
        groups.back().messages.emplace_back(std::move(cells));
      }
    }
    if (!stale.empty()) {
      std::sort(stale.begin(), stale.end());
      IMGPIPE_RETURN_IF_ERROR(RepairGroups(tx, dialect_, row.id, stale, now));
    }
    bool moved = false;
    size_t before = messages.size();
    IMGPIPE_RETURN_IF_ERROR(ClaimGroups(tx, queue, row, groups, std::ssize(messages) + want, now,
                                        lease_ms, &messages, &moved));
    for (size_t i = before; i < messages.size(); ++i) {
      if (std::find(visited.begin(), visited.end(), messages[i].group_id) == visited.end()) {
        visited.push_back(messages[i].group_id);
      }
    }
    if (!moved && stale.empty()) break;
  }
  if (!messages.empty() && dialect_ != db::Dialect::kPostgres) {  // PostgreSQL: in ClaimGroups
    IMGPIPE_RETURN_IF_ERROR(BumpCounters(tx, dialect_, row.id, 0, std::ssize(messages), 0));
  } else if (messages.empty() && !any_ready) {
    std::array<Value, 2> wait = {row.id, now};
    IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT MIN(inflight_until_ms) FROM queue_groups"
                                                 " WHERE queue_id = ? AND inflight_until_ms > ?",
                                                 wait));
    if (!rows.empty() && !rows[0].IsNull(0)) *next_visible_ms = rows[0].Int(0);
  }
  return Status::Ok();
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
    // A full batch suggests more are waiting: pass the baton to another parked receiver.
    if (std::ssize(messages) == options.max_messages) notifier_.Notify(queue, 1);
    if (!messages.empty() || now >= deadline) return messages;
    auto until = std::min(deadline, now + kPollTick);
    if (next_visible_ms > 0) {  // a lease expires: wake for it instead of polling
      int64_t in = std::max<int64_t>(1, next_visible_ms - now_ms_());
      until = std::min(until, now + std::chrono::milliseconds(in));
    }
    notifier_.WaitChange(queue, seen, until);
  }
}

}  // namespace imgpipe::queue::internal
