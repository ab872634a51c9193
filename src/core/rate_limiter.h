// RateLimiter: a token bucket per key (a client id, an IP address), for 429 + Retry-After.
//
// Each key may take `rate_per_s` tokens per second on average and up to `burst` at once. Memory
// is bounded: at most `max_keys` buckets are kept; past that, buckets that have refilled (which
// behave exactly like new ones) are dropped first, then the least recently used ones (a key
// dropped early only gets a fresh burst, it is never refused wrongly).
//
// Thread-safety: thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace imgpipe::core {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    double rate_per_s = 0;  // 0 disables the limiter: every Take succeeds
    double burst = 1;       // REQUIRES: >= 1
    size_t max_keys = 100'000;
  };

  explicit RateLimiter(Options options) : options_(options) {}
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  bool enabled() const { return options_.rate_per_s > 0; }

  // Takes one token from `key`'s bucket at `now`. Zero when it was there; otherwise nothing is
  // taken and the result is how long until one will be (for Retry-After).
  std::chrono::milliseconds Take(std::string_view key, Clock::time_point now = Clock::now());

  size_t keys() const;  // buckets held now, for tests

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
    std::list<std::string>::iterator lru_position;
  };
  void Refill(Bucket& bucket, Clock::time_point now) const;
  void EvictLocked(Clock::time_point now);

  const Options options_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // GUARDED_BY(mu_)
  std::list<std::string> lru_;                       // GUARDED_BY(mu_); front = most recent
};

}  // namespace imgpipe::core
