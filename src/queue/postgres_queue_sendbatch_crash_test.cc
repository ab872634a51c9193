// The SQL queue on PostgreSQL when a producer process dies inside a SendBatch loop (issue 3 point
// 5): every batch whose SendBatch returned is complete, the one cut by the kill is all or none.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "db/postgres/test_support.h"
#include "queue/crash_test_children.h"
#include "queue/queue.h"

namespace imgpipe::queue {
namespace {

using crash_test::ChildService;
using crash_test::RunAndKill;
using crash_test::WriteLine;

// A producer child: SendBatch of 10 (one message per group "p0".."p9"; body = dedup id =
// "ROUND.BATCH.K") in a loop until killed. Logs B (calling SendBatch) and S (it returned ok).
[[noreturn]] void Produce(const std::string& url, int fd, int round) {
  std::unique_ptr<db::Database> db;
  auto service = ChildService(url, fd, &db);
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
  {
    auto made = NewSqlQueueService(**db);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    ASSERT_TRUE((*made)->EnsureQueue("batches", {}).ok());
  }  // no thread of the service's runs while children are forked (a held lock could hang one)

  std::mt19937 rng(777);
  std::set<std::string> returned, started;
  for (int round = 0; round < 3; ++round) {
    std::string log = RunAndKill(1, 100, 400, rng, [&](int, int fd) { Produce(*url, fd, round); });
    std::istringstream in(log);
    std::string kind, tag;
    while (in >> kind >> tag) (kind == "S" ? returned : started).insert(tag);
  }
  ASSERT_GT(returned.size(), 0u) << "no SendBatch returned before the kills";
  auto made = NewSqlQueueService(**db);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  QueueService& q = **made;

  // Read everything back (nothing is leased: the children only sent).
  std::map<std::string, std::vector<int>> parts;  // batch tag -> message indexes received
  std::map<std::string, std::pair<int, int>> last_in_group;  // group -> (round, batch) seen last
  int total = 0;
  // A killed child's server session ends only when PostgreSQL notices the closed socket; until
  // then its open transaction may still lock rows a receive skips. So an empty receive ends the
  // read only once the stats say nothing is left (bounded wait).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    ReceiveOptions options;
    options.max_messages = 10;
    auto got = q.Receive("batches", options);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    if (got->empty()) {
      auto left = q.Stats("batches");
      ASSERT_TRUE(left.ok()) << left.status().ToString();
      if (left->visible == 0 || std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
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
