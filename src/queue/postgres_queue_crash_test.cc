// The SQL queue on PostgreSQL when processes die (issue 3 point 5): consumer processes SIGKILLed
// while holding messages, and a producer SIGKILLed inside a SendBatch loop. Public API only.
//
// Children are forked before they open anything: each opens its own pool on the test database
// (a libpq connection never crosses a fork) and logs to a pipe, one line per event (< PIPE_BUF,
// so lines of concurrent children never interleave), stamped with the monotonic clock, which is
// shared by every process of the machine. The parent replays the logs to check the contract.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "db/postgres/test_support.h"
#include "queue/queue.h"

namespace imgpipe::queue {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kVisibility{2000};
constexpr int64_t kMarginUs = 100'000;  // clock granularity (the lease is kept in system ms)

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void WriteLine(int fd, const std::string& line) {
  std::string out = line + "\n";
  if (::write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size())) ::_exit(3);
}

// Appends what the children write to `log` until `deadline_us` (or EOF when it is 0).
void ReadLog(int fd, std::string* log, int64_t deadline_us) {
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
std::unique_ptr<QueueService> ChildService(const std::string& url,
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

// A consumer child: receives batches of random size and deletes them one by one, with a little
// work before each delete, until it is killed. Logs R (received: id, receive count, Receive call
// start and return), A (about to delete: id, time) and D / F (Delete returned ok / not ok: id,
// time).
[[noreturn]] void Consume(const std::string& url, int child, int fd, unsigned seed) {
  std::unique_ptr<db::Database> db;
  auto service = ChildService(url, &db);
  std::mt19937 rng(seed);
  std::string me = std::to_string(child);
  for (;;) {
    ReceiveOptions options;
    options.max_messages = std::uniform_int_distribution<int>(1, 10)(rng);
    options.wait = milliseconds(100);
    int64_t start = NowUs();
    auto got = service->Receive("crash", options);
    int64_t end = NowUs();
    if (!got.ok()) continue;
    for (const Message& m : *got) {
      WriteLine(fd, "R " + me + " " + m.message_id + " " + std::to_string(m.receive_count) + " " +
                        std::to_string(start) + " " + std::to_string(end));
    }
    for (const Message& m : *got) {
      std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<int>(5, 25)(rng)));
      WriteLine(fd, "A " + me + " " + m.message_id + " " + std::to_string(NowUs()));
      bool ok = service->Delete("crash", m.receipt).ok();
      WriteLine(fd, std::string(ok ? "D " : "F ") + me + " " + m.message_id + " " +
                        std::to_string(NowUs()));
    }
  }
}

struct Delivery {
  int64_t start_us = 0, end_us = 0;  // Receive call start and return
  int receive_count = 0;
  bool released = false;  // by the parent, with ChangeVisibility(0): no lease to wait for
  // The Receive call that returned it, and its place in that call's result: one call may return
  // a run of consecutive messages of a group, in order.
  std::string batch;
  int position = 0;
};

// What the logs say of one message.
struct History {
  int group = 0, index = 0;  // index: its place in its group's send order
  std::vector<Delivery> deliveries;
  int64_t last_delete_us = 0;  // start of the last delete that succeeded or was cut by a kill
  int deletes = 0;             // deletes that returned ok
  int64_t deleted_at_us = 0;   // when the first of them returned
  bool uncertain = false;      // a kill cut a delete: it may or may not have committed
};

using Histories = std::map<std::string, History>;

// Replays one round's log. Returns the messages held when the children died: received, no delete
// attempted (a cut delete may have committed, so those are not "held").
std::set<std::string> Replay(const std::string& log, Histories* h) {
  std::istringstream lines(log);
  std::string line;
  std::map<std::pair<std::string, std::string>, int64_t> attempting;  // (child, id) -> A time
  std::set<std::string> held;
  std::map<std::string, int> positions;  // batch -> messages seen in it
  while (std::getline(lines, line)) {
    std::istringstream in(line);
    std::string kind, child, id;
    in >> kind >> child >> id;
    EXPECT_TRUE(h->count(id)) << "unknown message " << line;
    History& m = (*h)[id];
    if (kind == "R") {
      Delivery d;
      in >> d.receive_count >> d.start_us >> d.end_us;
      d.batch = child + "@" + std::to_string(d.start_us);
      d.position = positions[d.batch]++;
      m.deliveries.push_back(d);
      held.insert(id);
    } else if (kind == "A") {
      in >> attempting[{child, id}];
      held.erase(id);
    } else if (kind == "D" || kind == "F") {
      int64_t at = attempting[{child, id}], done = 0;
      in >> done;
      attempting.erase({child, id});
      if (kind == "D") {
        m.last_delete_us = std::max(m.last_delete_us, at);
        if (m.deletes++ == 0) m.deleted_at_us = done;
      }
    }
  }
  for (const auto& [key, at] : attempting) {  // killed inside Delete
    History& m = (*h)[key.second];
    m.uncertain = true;
    m.last_delete_us = std::max(m.last_delete_us, at);
  }
  return held;
}

TEST(PostgresQueueCrashTest, KilledConsumersMessagesComeBackAfterTheTimeoutInOrder) {
  auto url = db::postgres::FreshTestDatabaseUrl();
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  auto db = db::OpenPostgres(*url);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  auto made = NewSqlQueueService(**db);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  QueueService& q = **made;
  QueueOptions queue_options;
  queue_options.visibility_timeout = kVisibility;
  queue_options.max_receive_count = 1000;  // nothing dead-letters here
  ASSERT_TRUE(q.EnsureQueue("crash", queue_options).ok());

  constexpr int kGroups = 12, kPerGroup = 25;
  Histories h;
  std::map<std::pair<int, int>, std::string> by_place;  // (group, index) -> id
  for (int k = 0; k < kPerGroup; ++k) {
    std::vector<OutgoingMessage> batch;
    for (int g = 0; g < kGroups; ++g) {
      std::string name = "g" + std::to_string(g) + "-" + std::to_string(k);
      batch.push_back({name, "g" + std::to_string(g), name});
    }
    for (size_t part = 0; part < batch.size(); part += 10) {
      size_t n = std::min<size_t>(10, batch.size() - part);
      auto sent = q.SendBatch("crash", std::span(batch).subspan(part, n));
      ASSERT_TRUE(sent.ok()) << sent.status().ToString();
      for (size_t i = 0; i < n; ++i) {
        History& m = h[(*sent)[i].message_id];
        m.group = static_cast<int>(part + i);
        m.index = k;
        by_place[{static_cast<int>(part + i), k}] = (*sent)[i].message_id;
      }
    }
  }

  std::mt19937 rng(4242);
  int checked_rounds = 0, held_total = 0, mid_batch = 0;
  for (int round = 0; round < 6; ++round) {
    int64_t round_start = NowUs();
    std::string log = RunAndKill(2, 80, 500, rng, [&](int child, int fd) {
      Consume(*url, child, fd, static_cast<unsigned>(round * 10 + child));
    });
    std::set<std::string> held = Replay(log, &h);
    held_total += static_cast<int>(held.size());
    std::set<std::string> cut_batches;  // killed after deleting part of what one Receive gave
    for (const auto& [id, m] : h) {
      if (held.count(id) || m.deliveries.empty()) continue;
      for (const auto& held_id : held) {
        if (h[held_id].deliveries.back().batch == m.deliveries.back().batch) {
          cut_batches.insert(m.deliveries.back().batch);
        }
      }
    }
    mid_batch += static_cast<int>(cut_batches.size());
    // Right after the kills the held messages are still leased, and block their groups.
    ReceiveOptions peek;
    peek.max_messages = 10;
    int64_t peek_start = NowUs();
    auto got = q.Receive("crash", peek);
    int64_t peek_end = NowUs();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    bool in_time = NowUs() - round_start < 1000 * kVisibility.count() - 500'000;
    std::set<int> held_groups;
    for (const auto& id : held) held_groups.insert(h[id].group);
    for (size_t i = 0; i < got->size(); ++i) {
      const Message& m = (*got)[i];
      if (in_time) {
        EXPECT_EQ(held.count(m.message_id), 0u) << "redelivered before its timeout";
        EXPECT_EQ(held_groups.count(h[m.message_id].group), 0u) << "group of a held message";
      }
      h[m.message_id].deliveries.push_back({peek_start, peek_end, m.receive_count, true,
                                            "peek" + std::to_string(round), static_cast<int>(i)});
      ASSERT_TRUE(q.ChangeVisibility("crash", m.receipt, milliseconds(0)).ok());
    }
    if (in_time) ++checked_rounds;
  }
  EXPECT_GT(held_total, 0) << "no child died holding a message: the test proved nothing";
  EXPECT_GT(mid_batch, 0) << "no child died in the middle of a batch";
  EXPECT_GT(checked_rounds, 0) << "every blocked-group check came too late";

  // The final, surviving consumer: this process, until the queue is empty.
  auto deadline = NowUs() + 15'000'000;
  for (;;) {
    auto stats = q.Stats("crash");
    ASSERT_TRUE(stats.ok());
    if (stats->visible == 0 && stats->in_flight == 0) break;
    ASSERT_LT(NowUs(), deadline) << "the queue did not drain";
    ReceiveOptions options;
    options.max_messages = 10;
    options.wait = milliseconds(1000);
    int64_t start = NowUs();
    auto got = q.Receive("crash", options);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    for (size_t i = 0; i < got->size(); ++i) {
      const Message& m = (*got)[i];
      History& m_h = h[m.message_id];
      m_h.deliveries.push_back({start, NowUs(), m.receive_count, false,
                                "drain@" + std::to_string(start), static_cast<int>(i)});
      int64_t at = NowUs();
      ASSERT_TRUE(q.Delete("crash", m.receipt).ok());
      m_h.last_delete_us = std::max(m_h.last_delete_us, at);
      if (m_h.deletes++ == 0) m_h.deleted_at_us = NowUs();
    }
  }

  int redelivered = 0;
  for (const auto& [id, m] : h) {
    // Nothing lost, deleted once: a cut delete may have been the one that committed.
    if (m.uncertain) {
      EXPECT_LE(m.deletes, 1) << id;
    } else {
      EXPECT_EQ(m.deletes, 1) << id << " was deleted " << m.deletes << " times";
    }
    for (size_t i = 0; i < m.deliveries.size(); ++i) {
      const Delivery& d = m.deliveries[i];
      if (m.deletes > 0) {
        EXPECT_LT(d.start_us, m.deleted_at_us) << id << ": back after delete";
      }
      if (i == 0) continue;
      const Delivery& before = m.deliveries[i - 1];
      EXPECT_GT(d.receive_count, before.receive_count) << id;
      // Held by a child that died: not again before the lease ran out.
      if (!before.released) {
        ++redelivered;
        EXPECT_GE(d.end_us - before.start_us, 1000 * kVisibility.count() - kMarginUs) << id;
      }
    }
    if (!m.deliveries.empty()) {  // a child may die after its claim, before logging it
      EXPECT_GE(m.deliveries.back().receive_count, static_cast<int>(m.deliveries.size())) << id;
    }
    // Per-group order: no delivery before the previous message of the group was deleted,
    // unless the same Receive returned that one first.
    if (m.index > 0) {
      const std::string& prev = by_place[{m.group, m.index - 1}];
      for (const Delivery& d : m.deliveries) {
        bool run = std::any_of(
            h[prev].deliveries.begin(), h[prev].deliveries.end(),
            [&](const Delivery& p) { return p.batch == d.batch && p.position < d.position; });
        if (!run) {
          EXPECT_GT(d.end_us, h[prev].last_delete_us) << prev << " then " << id;
        }
      }
    }
  }
  EXPECT_GT(redelivered, 0) << "no held message came back during the test";

  auto stats = q.Stats("crash");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->visible, 0);
  EXPECT_EQ(stats->in_flight, 0);
  EXPECT_EQ(stats->sent, kGroups * kPerGroup);
  EXPECT_EQ(stats->deleted, kGroups * kPerGroup);
  EXPECT_EQ(stats->oldest_age_ms, 0);
  std::printf(
      "postgres crash test: %d held at kills (%d kills mid-batch), %d redeliveries after a kill, "
      "%d of 6 blocked-group checks in time\n",
      held_total, mid_batch, redelivered, checked_rounds);
}

// A producer child: SendBatch of 10 (one message per group "p0".."p9"; body = dedup id =
// "ROUND.BATCH.K") in a loop until killed. Logs B (calling SendBatch) and S (it returned ok).
[[noreturn]] void Produce(const std::string& url, int fd, int round) {
  std::unique_ptr<db::Database> db;
  auto service = ChildService(url, &db);
  for (int b = 0;; ++b) {
    std::string tag = std::to_string(round) + "." + std::to_string(b);
    std::vector<OutgoingMessage> batch;
    for (int k = 0; k < 10; ++k) {
      std::string name = tag + "." + std::to_string(k);
      batch.push_back({name, "p" + std::to_string(k), name});
    }
    WriteLine(fd, "B " + tag);
    if (service->SendBatch("batches", batch).ok()) WriteLine(fd, "S " + tag);
  }
}

TEST(PostgresQueueCrashTest, SendBatchKilledMidLoopIsAllOrNone) {
  auto url = db::postgres::FreshTestDatabaseUrl();
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  auto db = db::OpenPostgres(*url);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  auto made = NewSqlQueueService(**db);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  QueueService& q = **made;
  ASSERT_TRUE(q.EnsureQueue("batches", {}).ok());

  std::mt19937 rng(777);
  std::set<std::string> returned, started;
  for (int round = 0; round < 3; ++round) {
    std::string log = RunAndKill(1, 100, 400, rng, [&](int, int fd) { Produce(*url, fd, round); });
    std::istringstream in(log);
    std::string kind, tag;
    while (in >> kind >> tag) (kind == "S" ? returned : started).insert(tag);
  }
  ASSERT_GT(returned.size(), 0u) << "no SendBatch returned before the kills";

  // Read everything back (nothing is leased: the children only sent).
  std::map<std::string, std::vector<int>> parts;  // batch tag -> message indexes received
  std::map<std::string, std::pair<int, int>> last_in_group;  // group -> (round, batch) seen last
  int total = 0;
  for (;;) {
    ReceiveOptions options;
    options.max_messages = 10;
    auto got = q.Receive("batches", options);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    if (got->empty()) break;
    std::vector<std::string> receipts;
    for (const Message& m : *got) {
      int round = 0, batch = 0, k = 0;
      ASSERT_EQ(std::sscanf(m.body.c_str(), "%d.%d.%d", &round, &batch, &k), 3) << m.body;
      std::string tag = std::to_string(round) + "." + std::to_string(batch);
      parts[tag].push_back(k);
      auto [it, first] = last_in_group.try_emplace(m.group_id, round, batch);
      if (!first) {
        EXPECT_LT(it->second, std::make_pair(round, batch)) << "order in " << m.group_id;
        it->second = {round, batch};
      }
      receipts.push_back(m.receipt);
      ++total;
    }
    auto deleted = q.DeleteBatch("batches", receipts);
    ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  }
  for (const auto& tag : returned) {
    EXPECT_EQ(parts[tag].size(), 10u) << "batch " << tag << " returned but is incomplete";
  }
  int cut = 0;
  for (const auto& [tag, ks] : parts) {
    EXPECT_TRUE(returned.count(tag) || started.count(tag)) << "never sent: " << tag;
    EXPECT_EQ(ks.size(), 10u) << "batch " << tag << " is partial";
    std::set<int> distinct(ks.begin(), ks.end());
    EXPECT_EQ(distinct.size(), ks.size()) << "batch " << tag << " has duplicates";
    if (!returned.count(tag)) ++cut;
  }
  EXPECT_LE(cut, 3) << "at most one batch per kill was cut";
  auto stats = q.Stats("batches");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->visible, 0);
  EXPECT_EQ(stats->in_flight, 0);
  EXPECT_EQ(stats->sent, total);
  EXPECT_EQ(stats->deleted, total);
  std::printf("postgres SendBatch kills: %zu batches returned, %d cut ones committed whole\n",
              returned.size(), cut);
}

}  // namespace
}  // namespace imgpipe::queue
