#include "db/write_combiner.h"

#include <thread>

namespace imgpipe::db::internal {

core::Status WriteCombiner::RunAlone(bool durable, const Operation& op) {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(durable ? TxMode::kWrite : TxMode::kWriteRelaxed));
  IMGPIPE_RETURN_IF_ERROR(op(*tx));
  return tx->Commit();
}

void WriteCombiner::RunBatch(const std::vector<Pending*>& batch) {
  if (batch.size() > 1) {
    bool durable = false;
    for (const Pending* p : batch) durable = durable || p->durable;
    auto tx = db_.Begin(durable ? TxMode::kWrite : TxMode::kWriteRelaxed);
    bool failed = !tx.ok();
    for (size_t i = 0; i < batch.size() && !failed; ++i) failed = !(*batch[i]->op)(**tx).ok();
    if (!failed && (*tx)->Commit().ok()) {
      for (Pending* p : batch) p->status = core::Status::Ok();
      return;
    }
  }
  for (Pending* p : batch) p->status = RunAlone(p->durable, *p->op);
}

core::Status WriteCombiner::Run(bool durable, const Operation& op) {
  if (!enabled_) return RunAlone(durable, op);
  Pending me{durable, &op, false, core::Status::Ok()};
  std::unique_lock lock(mu_);
  queue_.push_back(&me);
  while (!me.done && leader_active_) cv_.wait(lock);
  if (me.done) return me.status;
  leader_active_ = true;
  // Group commit: let the writers that are ready to run (woken by the last batch, on another
  // core's queue) add their operations first. On 2 cores this made batches larger and the
  // queue benchmark's full cycle ~7% faster; with nothing else runnable it returns at once.
  lock.unlock();
  std::this_thread::yield();
  lock.lock();
  std::vector<Pending*> batch;
  batch.swap(queue_);
  lock.unlock();
  RunBatch(batch);
  // Handed over under the lock: a waiter may wake (spuriously) and look at `done` any time.
  lock.lock();
  for (Pending* p : batch) p->done = true;
  leader_active_ = false;
  cv_.notify_all();
  return me.status;
}

}  // namespace imgpipe::db::internal
