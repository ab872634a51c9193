// Vacuumer: keeps the queue's most rewritten PostgreSQL tables small (internal to src/queue).
//
// Every claim and ack rewrites a queue_groups row; under PostgreSQL's MVCC each rewrite leaves a
// dead row version, and autovacuum (at best once a minute with the server's defaults) removes
// them far too late: measured, 36,000 dead versions behind 10 live group rows after 18,000
// messages, with a batched receive-and-ack cycle slowing from 7.8 to 21.9 ms. So the service
// counts its writes and, every kGroupsEvery of them (at most every kMinInterval), a background
// thread runs VACUUM on queue_groups, and less often on the other queue tables. VACUUM takes no
// lock that blocks reads or writes; SKIP_LOCKED skips a table another process is vacuuming.
//
// Thread-safety: CountWrites() is safe from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "db/database.h"

namespace imgpipe::queue::internal {

class Vacuumer {
 public:
  static constexpr int64_t kGroupsEvery = 2'000;
  static constexpr int64_t kAllEvery = 20'000;
  static constexpr std::chrono::milliseconds kMinInterval{200};

  explicit Vacuumer(db::Database& db);
  ~Vacuumer();
  Vacuumer(const Vacuumer&) = delete;
  Vacuumer& operator=(const Vacuumer&) = delete;

  // Counts `n` row writes (a message sent, claimed or deleted).
  void CountWrites(int64_t n);

 private:
  void Run();

  db::Database& db_;
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t since_groups_ = 0;  // GUARDED_BY(mu_)
  int64_t since_all_ = 0;     // GUARDED_BY(mu_)
  bool stop_ = false;         // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace imgpipe::queue::internal
