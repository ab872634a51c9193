// WriteCombiner: group commit of write transactions (internal to src/db; Database::Write).
//
// On SQLite every write transaction holds the database's one write lock and each commit writes
// its pages to the WAL (and, when durable, waits for fsync), so many small transactions from many
// threads cost far more than a few larger ones. Run() lets whichever caller arrives first lead:
// it runs every operation queued meanwhile in ONE transaction, commits once (durable when any
// of them asked for it) and hands each caller its result. On PostgreSQL, where concurrent
// transactions proceed in parallel and the server already groups WAL flushes, the combiner is
// off and each operation runs in its own transaction.
//
// An operation may run twice: when the shared transaction fails (one operation's error, a failed
// commit), every operation of the batch runs again alone, so one caller's error never fails
// another's work. Operations therefore set their outputs from scratch each time they run.
//
// Thread-safety: Run() is safe to call from any number of threads.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "core/status.h"
#include "db/database.h"

namespace imgpipe::db::internal {

class WriteCombiner {
 public:
  using Operation = std::function<core::Status(Transaction&)>;

  WriteCombiner(Database& db, bool enabled) : db_(db), enabled_(enabled) {}

  // Runs `op` in a write transaction, possibly shared with other callers' operations, and
  // commits it; returns op's error or the commit's. `durable`: the commit waits for the disk
  // (TxMode::kWrite), else TxMode::kWriteRelaxed.
  core::Status Run(bool durable, const Operation& op);

 private:
  struct Pending {
    bool durable;
    const Operation* op;
    bool done = false;  // GUARDED_BY(mu_)
    core::Status status;
  };
  // Runs `op` alone in its own transaction.
  core::Status RunAlone(bool durable, const Operation& op);
  // Runs `batch` in one transaction; on failure, each alone.
  void RunBatch(const std::vector<Pending*>& batch);

  Database& db_;
  const bool enabled_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending*> queue_;  // GUARDED_BY(mu_)
  bool leader_active_ = false;   // GUARDED_BY(mu_)
};

}  // namespace imgpipe::db::internal
