// Background threads that run until Stop: the loop shape of the results consumer and the export
// pool ("receive until stopping; sleep between housekeeping passes, woken at once by Stop").
//
// Thread-safety: Spawn and Stop from the owning thread; stopping() and SleepFor from any thread,
// typically the spawned ones.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace imgpipe::core {

class ThreadGroup {
 public:
  ThreadGroup() = default;
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;
  // Stops and joins (a group must not outlive what its threads use: owners call Stop first).
  ~ThreadGroup() { Stop(); }

  // Starts a thread running `body`, which should return soon after stopping() turns true.
  void Spawn(std::function<void()> body);
  // Sets the stop flag, wakes every SleepFor and joins every thread. Idempotent.
  void Stop();

  bool stopping() const;
  // Waits `duration`, or less when Stop is called; false when stopping.
  bool SleepFor(std::chrono::milliseconds duration);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace imgpipe::core
