#include "queue/remote_notifier.h"

#include <spdlog/spdlog.h>

#include <array>

namespace imgpipe::queue::internal {

RemoteNotifier::RemoteNotifier(db::Database& db, std::string channel)
    : db_(db), channel_(std::move(channel)), thread_([this] { Run(); }) {}

RemoteNotifier::~RemoteNotifier() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void RemoteNotifier::Post(std::string_view queue) {
  {
    std::lock_guard lock(mu_);
    if (!pending_.emplace(queue).second) return;  // already due
  }
  cv_.notify_one();
}

void RemoteNotifier::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, nothing left
    std::set<std::string> queues;
    queues.swap(pending_);
    lock.unlock();
    core::Status status = [&]() -> core::Status {
      IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kWriteRelaxed));
      for (const auto& queue : queues) {
        std::array<db::Value, 2> params = {channel_, queue};
        IMGPIPE_RETURN_IF_ERROR(tx->Query("SELECT pg_notify(?, ?)", params).status());
      }
      return tx->Commit();
    }();
    if (!status.ok()) {
      spdlog::warn("queue notifications not sent ({}); receivers elsewhere poll instead",
                   status.ToString());
    }
    lock.lock();
  }
}

}  // namespace imgpipe::queue::internal
