// Test support for the queue's crash tests: forking children that log to a pipe and are SIGKILLed
// at random moments. Children are forked before they open anything: each opens its own pool on
// the test database (a libpq connection never crosses a fork). A child logs one line per event
// (< PIPE_BUF, so lines of concurrent children never interleave), stamped with the monotonic
// clock, which every process of the machine shares; the parent replays the logs.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "db/postgres.h"
#include "queue/queue.h"

namespace imgpipe::queue::crash_test {

inline int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline void WriteLine(int fd, const std::string& line) {
  std::string out = line + "\n";
  if (::write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size())) ::_exit(3);
}

// Appends what the children write to `log` until `deadline_us` (or EOF when it is 0).
inline void ReadLog(int fd, std::string* log, int64_t deadline_us) {
  char buf[4096];
  for (;;) {
    int timeout = -1;
    if (deadline_us != 0) {
      int64_t left = deadline_us - NowUs();
      if (left <= 0) return;
      timeout = static_cast<int>(left / 1000 + 1);
    }
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, timeout);
    if (ready == 0) return;
    if (ready < 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;  // EOF: every writer is gone
    log->append(buf, static_cast<size_t>(n));
  }
}

// Forks children running `body(index, write_fd)` (which never returns), kills each at its own
// random moment (`min_ms`..`max_ms` after the fork) and returns their logs, concatenated.
template <typename Body>
std::string RunAndKill(int children, int min_ms, int max_ms, std::mt19937& rng, Body body) {
  int fds[2];
  if (::pipe(fds) != 0) return "";
  std::vector<std::pair<int64_t, pid_t>> kills;
  for (int c = 0; c < children; ++c) {
    int64_t kill_at = NowUs() + 1000 * std::uniform_int_distribution<int>(min_ms, max_ms)(rng);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      body(c, fds[1]);
    }
    if (pid > 0) kills.emplace_back(kill_at, pid);
  }
  ::close(fds[1]);
  std::sort(kills.begin(), kills.end());
  std::string log;
  for (auto [kill_at, pid] : kills) {
    ReadLog(fds[0], &log, kill_at);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status)) << "a child exited by itself: " << WEXITSTATUS(status);
  }
  ReadLog(fds[0], &log, 0);
  ::close(fds[0]);
  return log;
}

// A child's own service on `url`: exits the child when it cannot have one.
inline std::unique_ptr<QueueService> ChildService(const std::string& url,
                                                  std::unique_ptr<db::Database>* db) {
  db::PostgresOptions options;
  options.pool_size = 2;
  auto opened = db::OpenPostgres(url, options);
  if (!opened.ok()) ::_exit(2);
  *db = std::move(opened).value();
  auto service = NewSqlQueueService(**db);
  if (!service.ok()) ::_exit(2);
  return std::move(service).value();
}

}  // namespace imgpipe::queue::crash_test
