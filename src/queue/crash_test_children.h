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

// Appends what the children write to `log` until `deadline_us` (or EOF when it is 0). False at
// EOF: every writer is gone.
inline bool ReadLog(int fd, std::string* log, int64_t deadline_us) {
  char buf[4096];
  for (;;) {
    int timeout = -1;
    if (deadline_us != 0) {
      int64_t left = deadline_us - NowUs();
      if (left <= 0) return true;
      timeout = static_cast<int>(left / 1000 + 1);
    }
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, timeout);
    if (ready == 0) return true;
    if (ready < 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    log->append(buf, static_cast<size_t>(n));
  }
}

// Takes the complete "up" lines (ChildService's) out of `log`; returns how many there were.
inline int TakeUpLines(std::string* log) {
  std::string rest;
  int up = 0;
  size_t at = 0;
  while (at < log->size()) {
    size_t end = log->find('\n', at);
    if (end == std::string::npos) {  // a line still being read: keep it whole
      rest.append(*log, at);
      break;
    }
    if (log->compare(at, 3, "up ") == 0) {
      ++up;
    } else {
      rest.append(*log, at, end + 1 - at);
    }
    at = end + 1;
  }
  *log = std::move(rest);
  return up;
}

// Forks children running `body(index, write_fd)` (which never returns and starts with
// ChildService), waits until all are up (a slow start under sanitizers or load must not eat the
// window), kills each at its own random moment `min_ms`..`max_ms` later, and returns their logs,
// concatenated, without the "up" lines.
template <typename Body>
std::string RunAndKill(int children, int min_ms, int max_ms, std::mt19937& rng, Body body) {
  int fds[2];
  if (::pipe(fds) != 0) return "";
  std::vector<pid_t> pids;
  for (int c = 0; c < children; ++c) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      body(c, fds[1]);
    }
    if (pid > 0) pids.push_back(pid);
  }
  ::close(fds[1]);
  std::string log, up_log;
  int64_t give_up = NowUs() + 20'000'000;
  int up = 0;
  while (up < children && NowUs() < give_up && ReadLog(fds[0], &up_log, NowUs() + 20'000)) {
    up += TakeUpLines(&up_log);
  }
  up += TakeUpLines(&up_log);
  log += up_log;
  EXPECT_EQ(up, children) << "children that never came up";
  std::vector<std::pair<int64_t, pid_t>> kills;
  for (pid_t pid : pids) {
    kills.emplace_back(NowUs() + 1000 * std::uniform_int_distribution<int>(min_ms, max_ms)(rng),
                       pid);
  }
  std::sort(kills.begin(), kills.end());
  for (auto [kill_at, pid] : kills) {
    ReadLog(fds[0], &log, kill_at);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status)) << "a child exited by itself: " << WEXITSTATUS(status);
  }
  ReadLog(fds[0], &log, 0);
  ::close(fds[0]);
  TakeUpLines(&log);
  return log;
}

// A child's own service on `url` (its own pool, opened after the fork); says "up" on `fd`.
// Exits the child when it cannot have one.
inline std::unique_ptr<QueueService> ChildService(const std::string& url, int fd,
                                                  std::unique_ptr<db::Database>* db) {
  db::PostgresOptions options;
  options.pool_size = 2;
  auto opened = db::OpenPostgres(url, options);
  if (!opened.ok()) ::_exit(2);
  *db = std::move(opened).value();
  auto service = NewSqlQueueService(**db);
  if (!service.ok()) ::_exit(2);
  WriteLine(fd, "up " + std::to_string(::getpid()));
  return std::move(service).value();
}

}  // namespace imgpipe::queue::crash_test
