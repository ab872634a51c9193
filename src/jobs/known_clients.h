// Internal to the jobs module: the client ids known to exist. Clients are never deleted, so a
// positive answer never goes stale and a hit skips the database (every WebSocket connect and
// every request naming a client asks). Thread-safe; bounded (emptied when full).
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace imgpipe::jobs::internal {

class KnownClients {
 public:
  explicit KnownClients(size_t capacity = 100'000) : capacity_(capacity) {}

  bool Contains(std::string_view client_id) const {
    std::lock_guard lock(mu_);
    return ids_.find(client_id) != ids_.end();
  }

  void Add(std::string_view client_id) {
    std::lock_guard lock(mu_);
    if (ids_.size() >= capacity_) ids_.clear();
    ids_.emplace(client_id);
  }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_set<std::string, Hash, std::equal_to<>> ids_;  // GUARDED_BY(mu_)
};

}  // namespace imgpipe::jobs::internal
