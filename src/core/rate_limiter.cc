#include "core/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace imgpipe::core {

void RateLimiter::Refill(Bucket& bucket, Clock::time_point now) const {
  double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
  if (elapsed <= 0) return;
  bucket.tokens = std::min(options_.burst, bucket.tokens + elapsed * options_.rate_per_s);
  bucket.updated = now;
}

void RateLimiter::EvictLocked(Clock::time_point now) {
  // Refilled buckets first (dropping them changes nothing), oldest first, then plain LRU.
  for (auto it = lru_.end(); it != lru_.begin() && buckets_.size() >= options_.max_keys;) {
    --it;
    auto bucket = buckets_.find(*it);
    Refill(bucket->second, now);
    if (bucket->second.tokens >= options_.burst) {
      buckets_.erase(bucket);
      it = lru_.erase(it);
    }
  }
  while (buckets_.size() >= options_.max_keys && !lru_.empty()) {
    buckets_.erase(lru_.back());
    lru_.pop_back();
  }
}

std::chrono::milliseconds RateLimiter::Take(std::string_view key, Clock::time_point now) {
  if (!enabled()) return std::chrono::milliseconds(0);
  std::lock_guard lock(mu_);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_keys) EvictLocked(now);
    lru_.emplace_front(key);
    it = buckets_.emplace(std::string(key), Bucket{options_.burst, now, lru_.begin()}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru_position);
    Refill(it->second, now);
  }
  Bucket& bucket = it->second;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return std::chrono::milliseconds(0);
  }
  double wait_s = (1 - bucket.tokens) / options_.rate_per_s;
  return std::chrono::milliseconds(
      std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait_s * 1000))));
}

size_t RateLimiter::keys() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

}  // namespace imgpipe::core
