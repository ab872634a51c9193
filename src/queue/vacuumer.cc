#include "queue/vacuumer.h"

#include <spdlog/spdlog.h>

namespace imgpipe::queue::internal {

Vacuumer::Vacuumer(db::Database& db) : db_(db), thread_([this] { Run(); }) {}

Vacuumer::~Vacuumer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Vacuumer::CountWrites(int64_t n) {
  bool due = false;
  {
    std::lock_guard lock(mu_);
    since_groups_ += n;
    since_all_ += n;
    due = since_groups_ >= kGroupsEvery;
  }
  if (due) cv_.notify_one();
}

void Vacuumer::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || since_groups_ >= kGroupsEvery; });
    if (stop_) return;
    const bool all = since_all_ >= kAllEvery;
    since_groups_ = 0;
    if (all) since_all_ = 0;
    lock.unlock();
    const char* statement = all ? "VACUUM (SKIP_LOCKED) queue_groups, queue_counters,"
                                  " queue_messages, queue_dedup"
                                : "VACUUM (SKIP_LOCKED) queue_groups, queue_counters";
    if (core::Status status = db_.Maintain(statement); !status.ok()) {
      spdlog::warn("queue tables not vacuumed: {}", status.ToString());
    }
    // Pace: a burst of writes must not turn into back-to-back vacuums.
    lock.lock();
    cv_.wait_for(lock, kMinInterval, [&] { return stop_; });
    if (stop_) return;
  }
}

}  // namespace imgpipe::queue::internal
