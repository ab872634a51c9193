// kill -9 at random moments: a child process sends, receives and deletes in a loop, logging to a
// pipe each message id whose Send returned ("S id"), that it is about to delete ("R id") and whose
// Delete returned ("D id"). After each kill the parent knows: every S id without a D is still in
// the queue (except the one R id the child may have been deleting when killed), and no D id is.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>

#include "core/temp_dir.h"
#include "queue/queue.h"

namespace imgpipe::queue {
namespace {

using std::chrono::milliseconds;

void WriteLine(int fd, const std::string& line) {
  std::string out = line + "\n";  // < PIPE_BUF: one atomic write
  if (::write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size())) ::_exit(3);
}

// The child: runs until killed. Never returns.
[[noreturn]] void Churn(const std::string& path, int fd, int round) {
  auto db = db::OpenSqlite(path);
  if (!db.ok()) ::_exit(2);
  auto service = NewSqlQueueService(**db);
  if (!service.ok()) ::_exit(2);
  QueueOptions options;
  options.visibility_timeout = milliseconds(50);  // a killed child's leases expire quickly
  options.max_receive_count = 1000;               // nothing dead-letters here
  if (!(*service)->EnsureQueue("crash", options).ok()) ::_exit(2);
  for (int i = 0;; ++i) {
    std::string dedup = std::to_string(round) + "-" + std::to_string(i);
    auto sent = (*service)->Send("crash", {dedup, "g" + std::to_string(i % 7), dedup});
    if (sent.ok()) WriteLine(fd, "S " + sent->message_id);
    if (i % 2 == 0) continue;  // the queue grows: half the messages stay
    auto got = (*service)->Receive("crash", {});
    if (!got.ok() || got->empty()) continue;
    const Message& m = (*got)[0];
    WriteLine(fd, "R " + m.message_id);
    if ((*service)->Delete("crash", m.receipt).ok()) WriteLine(fd, "D " + m.message_id);
  }
}

// Reads the child's log until `deadline` (or EOF when `deadline` is null).
void ReadLog(int fd, std::string* log, const std::chrono::steady_clock::time_point* deadline) {
  char buf[4096];
  for (;;) {
    int timeout = -1;
    if (deadline != nullptr) {
      auto left =
          std::chrono::duration_cast<milliseconds>(*deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return;
      timeout = static_cast<int>(left.count());
    }
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, timeout);
    if (ready == 0) return;
    if (ready < 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;  // EOF: the child is gone
    log->append(buf, static_cast<size_t>(n));
  }
}

TEST(SqliteQueueCrashTest, KillNineLosesNoSentMessageAndKeepsNoAckedOne) {
  core::TempDir dir("queue-crash");
  std::string path = dir.path() + "/queue.db";
  std::mt19937 rng(12345);
  std::set<std::string> sent, acked, uncertain;
  for (int round = 0; round < 20; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      Churn(path, fds[1], round);
    }
    ::close(fds[1]);
    std::string log;
    auto deadline = std::chrono::steady_clock::now() +
                    milliseconds(std::uniform_int_distribution<int>(10, 200)(rng));
    ReadLog(fds[0], &log, &deadline);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ReadLog(fds[0], &log, nullptr);
    ::close(fds[0]);
    EXPECT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
    std::istringstream lines(log);
    std::string kind, id, pending;
    while (lines >> kind >> id) {
      if (kind == "S") sent.insert(id);
      if (kind == "R") pending = id;
      if (kind == "D") {
        acked.insert(id);
        pending.clear();
      }
    }
    if (!pending.empty()) uncertain.insert(pending);  // killed inside Delete
  }
  ASSERT_GT(sent.size(), 20u);
  ASSERT_GT(acked.size(), 5u);

  auto db = db::OpenSqlite(path);
  ASSERT_TRUE(db.ok());
  ServiceOptions options;  // an hour later: every lease of the killed children has expired
  options.now_ms = [] {
    return std::chrono::duration_cast<milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() +
           3'600'000;
  };
  auto service = NewSqlQueueService(**db, options);
  ASSERT_TRUE(service.ok());
  std::map<std::string, int> present;
  for (;;) {
    ReceiveOptions receive;
    receive.max_messages = 10;
    receive.visibility_timeout = std::chrono::hours(12);
    auto got = (*service)->Receive("crash", receive);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    if (got->empty()) break;
    std::vector<std::string> receipts;
    for (const auto& m : *got) {
      ++present[m.message_id];
      receipts.push_back(m.receipt);
    }
    // Acked so the rest of each group flows (a leased group is blocked).
    auto deleted = (*service)->DeleteBatch("crash", receipts);
    ASSERT_TRUE(deleted.ok());
  }
  for (const auto& id : sent) {
    if (acked.count(id) == 0 && uncertain.count(id) == 0) {
      EXPECT_EQ(present.count(id), 1u) << "lost a sent message " << id;
    }
  }
  for (const auto& id : acked) EXPECT_EQ(present.count(id), 0u) << "acked but back: " << id;
  for (const auto& [id, n] : present) EXPECT_EQ(n, 1) << id;
  // Still a working queue.
  auto fresh = (*service)->Send("crash", {"after", "new-group", "after"});
  ASSERT_TRUE(fresh.ok());
  auto got = (*service)->Receive("crash", {});
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].message_id, fresh->message_id);
  EXPECT_TRUE((*service)->Delete("crash", (*got)[0].receipt).ok());
  std::printf("crash test: %zu sent, %zu acked, %zu present after 20 kills\n", sent.size(),
              acked.size(), present.size());
}

}  // namespace
}  // namespace imgpipe::queue
