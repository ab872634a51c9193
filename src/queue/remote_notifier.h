// RemoteNotifier: tells long-polling receivers in other processes that a queue has work
// (PostgreSQL NOTIFY on the queue channel), off the caller's path. Internal to src/queue.
//
// Why not NOTIFY inside the sending transaction: PostgreSQL takes one cluster-wide lock for
// queued notifications at commit and holds it through the commit's WAL flush, so every
// notifying transaction would commit one after another, defeating the server's group commit.
// Here one thread sends the notifications of every queue that had work since its last round in
// one short transaction that does not wait for the disk. A notification lost to a crash or a
// broken connection only delays receivers until their poll tick.
//
// Thread-safety: Post() is safe from any thread.
#pragma once

#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "db/database.h"

namespace imgpipe::queue::internal {

class RemoteNotifier {
 public:
  RemoteNotifier(db::Database& db, std::string channel);
  ~RemoteNotifier();  // sends what is pending, then stops
  RemoteNotifier(const RemoteNotifier&) = delete;
  RemoteNotifier& operator=(const RemoteNotifier&) = delete;

  // Notifies `queue` soon (coalesced with other posts for it until then).
  void Post(std::string_view queue);

 private:
  void Run();

  db::Database& db_;
  const std::string channel_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> pending_;  // GUARDED_BY(mu_)
  bool stop_ = false;              // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace imgpipe::queue::internal
