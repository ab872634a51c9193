#include "core/thread_group.h"

namespace imgpipe::core {

void ThreadGroup::Spawn(std::function<void()> body) { threads_.emplace_back(std::move(body)); }

void ThreadGroup::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

bool ThreadGroup::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

bool ThreadGroup::SleepFor(std::chrono::milliseconds duration) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, duration, [this] { return stopping_; });
}

}  // namespace imgpipe::core
