// SqlQueueService: group bookkeeping. Group rows on both dialects; on SQLite, also the chains
// that link each group's messages (sql_queue_internal.h, "Group chains").
#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <vector>

#include "queue/sql_queue_internal.h"

namespace imgpipe::queue::internal {
namespace {

using core::Result;
using core::Status;
using db::Value;

Value SeqOrNull(int64_t seq) { return seq == 0 ? Value{db::Null{}} : Value{seq}; }

Result<std::map<std::string, GroupChain>> ReadGroups(db::Transaction& tx, int64_t queue_id,
                                                     const std::vector<std::string>& groups) {
  std::map<std::string, GroupChain> out;
  if (groups.empty()) return out;
  std::vector<Value> params;
  Append(params, queue_id);
  params.insert(params.end(), groups.begin(), groups.end());
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows, tx.Query("SELECT group_id, head_seq, tail_seq, claim_end_seq FROM queue_groups"
                          " WHERE queue_id = ? AND group_id IN (" +
                              Placeholders(groups.size()) + ")",
                          params));
  for (const auto& r : rows) {
    out[r.Text(0)] = GroupChain{IntOrZero(r, 1), IntOrZero(r, 2), r.Int(3)};
  }
  return out;
}

// Sets next_seq of messages (seq -> next; 0 = NULL), in one statement.
Status SetLinks(db::Transaction& tx, int64_t queue_id, const std::map<int64_t, int64_t>& links) {
  if (links.empty()) return Status::Ok();
  std::string sql = UpdateMany(db::Dialect::kSqlite) + "queue_messages SET next_seq = CASE seq";
  std::vector<Value> params;
  for (const auto& [seq, next] : links) {
    sql += " WHEN ? THEN ?";
    Append(params, seq, SeqOrNull(next));
  }
  sql += " END WHERE queue_id = ? AND seq IN (" + Placeholders(links.size()) + ")";
  params.emplace_back(queue_id);
  for (const auto& [seq, next] : links) params.emplace_back(seq);
  return tx.Exec(sql, params).status();
}

// A group's last message found by scanning (a group row without tail_seq: not expected).
Result<int64_t> ScanTail(db::Transaction& tx, int64_t queue_id, const std::string& group,
                         int64_t below) {
  std::array<Value, 3> params = {queue_id, group, below};
  IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT MAX(seq) FROM queue_messages WHERE"
                                               " queue_id = ? AND group_id = ? AND seq < ?",
                                               params));
  return rows.empty() ? int64_t{0} : IntOrZero(rows[0], 0);
}

// Inserts a row for each group of `added` (head: its first new seq; with `tails`, tail_seq: its
// last), resolving a row already there with `on_conflict` ("DO UPDATE SET ...").
Status UpsertGroupRows(db::Transaction& tx, int64_t queue_id,
                       const std::map<std::string, std::vector<int64_t>>& added, bool tails,
                       std::string_view on_conflict) {
  std::string sql =
      "INSERT INTO queue_groups (queue_id, group_id, head_seq, inflight_until_ms, claim_end_seq";
  sql += tails ? ", tail_seq) VALUES " : ") VALUES ";
  std::vector<Value> params;
  for (const auto& [group, seqs] : added) {
    if (seqs.empty()) continue;
    sql += params.empty() ? "" : ", ";
    sql += tails ? "(?, ?, ?, 0, 0, ?)" : "(?, ?, ?, 0, 0)";
    Append(params, queue_id, group, seqs.front());
    if (tails) params.emplace_back(seqs.back());
  }
  if (params.empty()) return Status::Ok();
  sql += " ON CONFLICT (queue_id, group_id) ";
  sql += on_conflict;
  return tx.Exec(sql, params).status();
}

Status AppendToChains(db::Transaction& tx, int64_t queue_id,
                      const std::map<std::string, std::vector<int64_t>>& added) {
  std::vector<std::string> names;
  for (const auto& [group, seqs] : added) names.push_back(group);
  IMGPIPE_ASSIGN_OR_RETURN(auto existing, ReadGroups(tx, queue_id, names));
  std::map<int64_t, int64_t> links;
  for (const auto& [group, seqs] : added) {
    if (seqs.empty()) continue;
    int64_t previous = 0;
    if (auto it = existing.find(group); it != existing.end()) {
      previous = it->second.tail;
      if (previous == 0) {
        IMGPIPE_ASSIGN_OR_RETURN(previous, ScanTail(tx, queue_id, group, seqs[0]));
      }
    }
    for (int64_t seq : seqs) {
      if (previous != 0) links[previous] = seq;
      previous = seq;
    }
  }
  IMGPIPE_RETURN_IF_ERROR(SetLinks(tx, queue_id, links));
  // An existing group keeps its head (lower than any new seq) and gets a new tail.
  return UpsertGroupRows(tx, queue_id, added, /*tails=*/true,
                         "DO UPDATE SET tail_seq = excluded.tail_seq");
}

// What a walk down one chain decided for its group.
struct WalkedGroup {
  std::string name;
  int64_t head = 0;  // 0: the group is empty now
  int64_t tail = 0;
  int64_t lease_end = 0;  // the latest lease end of its in-flight messages (0: none)
};

// Walks `group`'s chain from its head past every message of `left` (seq -> the next_seq it had;
// those rows may be gone already) and through its in-flight prefix (seq <= claim_end), reading
// only the messages that stay. Records in *links the messages whose next_seq must skip the ones
// that left. Cost: the in-flight prefix (a claim's few messages) in the usual case.
Result<WalkedGroup> Walk(db::Transaction& tx, int64_t queue_id, const std::string& group,
                         const GroupChain& row, const std::map<int64_t, int64_t>& left, int64_t now,
                         std::map<int64_t, int64_t>* links) {
  WalkedGroup out{group};
  int64_t cur = row.head;
  int64_t to_pass = std::ssize(left);
  int64_t last_kept = 0;
  bool skipped = false;  // messages left between last_kept and cur
  while (cur != 0 && (to_pass > 0 || cur <= row.claim_end)) {
    if (auto it = left.find(cur); it != left.end()) {
      --to_pass;
      cur = it->second;
      skipped = true;
      continue;
    }
    std::array<Value, 2> key = {queue_id, cur};
    IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT next_seq, visible_at_ms FROM"
                                                 " queue_messages WHERE queue_id = ? AND seq = ?",
                                                 key));
    if (rows.empty()) {
      return Status::Internal("queue group " + group + ": its chain is broken at seq " +
                              std::to_string(cur));
    }
    if (out.head == 0) out.head = cur;
    if (skipped && last_kept != 0) (*links)[last_kept] = cur;
    skipped = false;
    if (cur <= row.claim_end && rows[0].Int(1) > now) {
      out.lease_end = std::max(out.lease_end, rows[0].Int(1));
    }
    last_kept = cur;
    cur = IntOrZero(rows[0], 0);
  }
  if (skipped && last_kept != 0) (*links)[last_kept] = cur;  // cur == 0: last_kept is the tail
  if (out.head == 0) out.head = cur;  // nothing kept on the way: the first message after it
  out.tail = cur == 0 ? last_kept : row.tail;
  return out;
}

Result<int64_t> UnlinkFromChains(db::Transaction& tx, int64_t queue_id,
                                 const std::map<std::string, std::vector<LeftMessage>>& left,
                                 int64_t now, const std::map<std::string, GroupChain>* known) {
  std::vector<std::string> names;
  bool all_known = known != nullptr;
  for (const auto& [group, messages] : left) {
    names.push_back(group);
    all_known = all_known && known->contains(group);
  }
  std::map<std::string, GroupChain> rows;
  if (all_known) {
    rows = *known;
  } else {
    IMGPIPE_ASSIGN_OR_RETURN(rows, ReadGroups(tx, queue_id, names));
  }
  std::map<int64_t, int64_t> links;
  std::vector<WalkedGroup> kept;
  std::vector<std::string> emptied;
  for (const auto& [group, messages] : left) {
    auto row = rows.find(group);
    if (row == rows.end()) continue;  // no row: nothing of the group is left to track
    std::map<int64_t, int64_t> gone;
    for (const LeftMessage& m : messages) gone[m.seq] = m.next_seq;
    IMGPIPE_ASSIGN_OR_RETURN(WalkedGroup walked,
                             Walk(tx, queue_id, group, row->second, gone, now, &links));
    if (walked.head == 0) {
      emptied.push_back(group);
    } else {
      kept.push_back(std::move(walked));
    }
  }
  IMGPIPE_RETURN_IF_ERROR(SetLinks(tx, queue_id, links));
  if (!kept.empty()) {
    // Only the columns that changed, and a constant where every group has the same value (the
    // usual ack: heads move, tails stay, nothing is left in flight).
    bool tails_moved = false;
    bool one_lease_end = true;
    for (const auto& g : kept) {
      tails_moved = tails_moved || g.tail != rows[g.name].tail;
      one_lease_end = one_lease_end && g.lease_end == kept.front().lease_end;
    }
    std::vector<Value> params;
    // "CASE group_id WHEN ? THEN ? ... END" giving each kept group its `field`.
    auto per_group = [&](int64_t WalkedGroup::*field) {
      std::string expression = "CASE group_id";
      for (const auto& g : kept) {
        expression += " WHEN ? THEN ?";
        Append(params, g.name, g.*field);
      }
      return expression + " END";
    };
    std::string sql = UpdateMany(db::Dialect::kSqlite) +
                      "queue_groups SET head_seq = " + per_group(&WalkedGroup::head);
    if (tails_moved) sql += ", tail_seq = " + per_group(&WalkedGroup::tail);
    if (one_lease_end) {
      sql += ", inflight_until_ms = ?";
      Append(params, kept.front().lease_end);
    } else {
      sql += ", inflight_until_ms = " + per_group(&WalkedGroup::lease_end);
    }
    sql += " WHERE queue_id = ? AND group_id IN (" + Placeholders(kept.size()) + ")";
    params.emplace_back(queue_id);
    for (const auto& g : kept) params.emplace_back(g.name);
    IMGPIPE_RETURN_IF_ERROR(tx.Exec(sql, params).status());
  }
  if (!emptied.empty()) {
    std::vector<Value> params;
    Append(params, queue_id);
    params.insert(params.end(), emptied.begin(), emptied.end());
    IMGPIPE_RETURN_IF_ERROR(
        tx.Exec("DELETE FROM queue_groups WHERE queue_id = ? AND group_id IN (" +
                    Placeholders(emptied.size()) + ")",
                params)
            .status());
  }
  return std::ssize(kept);
}

}  // namespace

Status AddToGroups(db::Transaction& tx, db::Dialect dialect, int64_t queue_id,
                   const std::map<std::string, std::vector<int64_t>>& added) {
  if (added.empty()) return Status::Ok();
  if (dialect != db::Dialect::kPostgres) return AppendToChains(tx, queue_id, added);
  return UpsertGroupRows(tx, queue_id, added, /*tails=*/false,
                         "DO UPDATE SET head_seq = excluded.head_seq WHERE excluded.head_seq <"
                         " queue_groups.head_seq");
}

Result<int64_t> RemoveFromGroups(db::Transaction& tx, db::Dialect dialect, int64_t queue_id,
                                 const std::map<std::string, std::vector<LeftMessage>>& left,
                                 int64_t now, const std::map<std::string, GroupChain>* known) {
  if (dialect != db::Dialect::kPostgres) return UnlinkFromChains(tx, queue_id, left, now, known);
  std::vector<std::string> groups;
  for (const auto& [group, messages] : left) groups.push_back(group);
  return RefreshGroups(tx, queue_id, groups, now);
}

Status RefreshLeases(db::Transaction& tx, db::Dialect dialect, int64_t queue_id,
                     std::span<const std::string> groups, int64_t now) {
  if (dialect == db::Dialect::kPostgres) {
    return RefreshGroups(tx, queue_id, groups, now).status();
  }
  std::map<std::string, std::vector<LeftMessage>> none;  // a walk of the in-flight prefixes
  for (const auto& group : groups) none[group];
  return UnlinkFromChains(tx, queue_id, none, now, nullptr).status();
}

Status RepairGroups(db::Transaction& tx, db::Dialect dialect, int64_t queue_id,
                    std::span<const std::string> groups, int64_t now) {
  if (dialect == db::Dialect::kPostgres) {
    return RefreshGroups(tx, queue_id, groups, now).status();
  }
  for (const auto& group : groups) {
    std::array<Value, 2> key = {queue_id, group};
    IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT MIN(seq), MAX(seq) FROM queue_messages"
                                                 " WHERE queue_id = ? AND group_id = ?",
                                                 key));
    if (rows.empty() || rows[0].IsNull(0)) {
      IMGPIPE_RETURN_IF_ERROR(
          tx.Exec("DELETE FROM queue_groups WHERE queue_id = ? AND group_id = ?", key).status());
      continue;
    }
    std::array<Value, 4> repair = {rows[0].Int(0), rows[0].Int(1), queue_id, group};
    IMGPIPE_RETURN_IF_ERROR(tx.Exec("UPDATE queue_groups SET head_seq = ?, tail_seq = ? WHERE"
                                    " queue_id = ? AND group_id = ?",
                                    repair)
                                .status());
  }
  return RefreshLeases(tx, dialect, queue_id, groups, now);
}

Result<std::vector<db::Row>> NextInGroup(db::Transaction& tx, db::Dialect dialect, int64_t queue_id,
                                         const std::string& group, int64_t seq, int64_t count) {
  if (dialect == db::Dialect::kPostgres) {
    std::array<Value, 4> params = {queue_id, group, seq, count};
    return tx.Query("SELECT " + std::string(kMessageColumns) +
                        " FROM queue_messages WHERE queue_id = ? AND group_id = ? AND seq > ?"
                        " ORDER BY seq LIMIT ?",
                    params);
  }
  // Follows next_seq links from `seq`: c(s, n) is the n-th message after it.
  std::array<Value, 5> params = {queue_id, seq, queue_id, count, queue_id};
  return tx.Query(
      "WITH RECURSIVE c(s, n) AS (SELECT next_seq, 1 FROM queue_messages WHERE queue_id = ? AND"
      " seq = ? UNION ALL SELECT m.next_seq, c.n + 1 FROM c JOIN queue_messages m ON m.queue_id"
      " = ? AND m.seq = c.s WHERE c.n < ?) SELECT " +
          std::string(kMessageColumns) +
          " FROM c JOIN queue_messages ON queue_messages.queue_id = ? AND queue_messages.seq ="
          " c.s ORDER BY c.n",
      params);
}

}  // namespace imgpipe::queue::internal
