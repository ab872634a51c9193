// Queue throughput and wake-up latency (issue 3's "Measure"), for the SQL queue on SQLite and on
// PostgreSQL. Not a test: it prints figures; docs/benchmarks.md records them.
//
//   queue_bench BACKEND THREADS BATCH MESSAGES
//     BACKEND  sqlite | postgres (a throwaway PostgreSQL 15, as the tests use)
//     THREADS  producer threads = consumer threads
//     BATCH    1 (Send, Receive 1, Delete) or 10 (SendBatch, Receive 10, DeleteBatch)
//   Full cycle: every message sent, received and deleted; messages/s = MESSAGES / wall time.
//   Then 200 wake-ups: a receiver long-polls an empty queue, another thread sends one message;
//   latency = send call start -> Receive returns it. p50 / p99.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "core/temp_dir.h"
#include "db/postgres.h"
#include "db/postgres/test_server.h"
#include "queue/queue.h"

namespace {

using namespace imgpipe;
using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "queue_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(core::Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}

double FullCycle(queue::QueueService& q, int threads, int batch, int messages) {
  if (!q.EnsureQueue("bench", {}).ok()) Die("EnsureQueue");
  std::atomic<int> next_send{0}, done{0};
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (;;) {
        int first = next_send.fetch_add(batch);
        if (first >= messages) break;
        std::vector<queue::OutgoingMessage> out;
        for (int i = first; i < std::min(messages, first + batch); ++i) {
          out.push_back({"payload-" + std::to_string(i), "g" + std::to_string(i % 64),
                         "d" + std::to_string(i)});
        }
        if (batch == 1) {
          if (!q.Send("bench", out[0]).ok()) Die("Send");
        } else if (!q.SendBatch("bench", out).ok()) {
          Die("SendBatch");
        }
      }
      (void)t;
    });
    pool.emplace_back([&] {
      queue::ReceiveOptions options;
      options.max_messages = batch;
      options.wait = std::chrono::milliseconds(200);
      while (done.load() < messages) {
        auto got = q.Receive("bench", options);
        if (!got.ok()) Die("Receive: " + got.status().ToString());
        if (got->empty()) continue;
        if (batch == 1) {
          if (!q.Delete("bench", (*got)[0].receipt).ok()) Die("Delete");
        } else {
          std::vector<std::string> receipts;
          for (const auto& m : *got) receipts.push_back(m.receipt);
          if (!q.DeleteBatch("bench", receipts).ok()) Die("DeleteBatch");
        }
        done.fetch_add(static_cast<int>(got->size()));
      }
    });
  }
  for (auto& th : pool) th.join();
  return messages / std::chrono::duration<double>(Clock::now() - start).count();
}

void WakeUps(queue::QueueService& q, int rounds, double* p50_us, double* p99_us) {
  if (!q.EnsureQueue("wake", {}).ok()) Die("EnsureQueue");
  std::vector<double> us;
  for (int i = 0; i < rounds; ++i) {
    std::atomic<bool> waiting{false};
    Clock::time_point sent_at, got_at;
    std::thread receiver([&] {
      queue::ReceiveOptions options;
      options.wait = std::chrono::milliseconds(5000);
      waiting = true;
      auto got = q.Receive("wake", options);
      got_at = Clock::now();
      if (!got.ok() || got->empty()) Die("wake-up receive");
      if (!q.Delete("wake", (*got)[0].receipt).ok()) Die("wake-up delete");
    });
    while (!waiting) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the receiver is parked
    sent_at = Clock::now();
    if (!q.Send("wake", {"x", "g", "w" + std::to_string(i)}).ok()) Die("wake-up send");
    receiver.join();
    us.push_back(std::chrono::duration<double, std::micro>(got_at - sent_at).count());
  }
  std::sort(us.begin(), us.end());
  *p50_us = us[us.size() / 2];
  *p99_us = us[std::min(us.size() - 1, us.size() * 99 / 100)];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) Die("usage: queue_bench sqlite|postgres THREADS BATCH MESSAGES");
  std::string backend = argv[1];
  int threads = std::atoi(argv[2]), batch = std::atoi(argv[3]), messages = std::atoi(argv[4]);
  if (threads < 1 || (batch != 1 && batch != 10) || messages < 1) Die("bad arguments");

  core::TempDir dir("queue-bench");
  std::unique_ptr<db::postgres::TestServer> server;
  std::unique_ptr<db::Database> database;
  if (backend == "sqlite") {
    database = Must(db::OpenSqlite(dir.path() + "/bench.db"), "OpenSqlite");
  } else if (backend == "postgres") {
    server = std::make_unique<db::postgres::TestServer>();
    if (auto st = server->Start(); !st.ok()) Die(st.ToString());
    database = Must(db::OpenPostgres(server->url()), "OpenPostgres");
  } else {
    Die("backend must be sqlite or postgres");
  }
  auto q = Must(queue::NewSqlQueueService(*database), "NewSqlQueueService");
  double rate = FullCycle(*q, threads, batch, messages);
  double p50 = 0, p99 = 0;
  WakeUps(*q, 200, &p50, &p99);
  std::printf(
      "%s\tthreads=%d\tbatch=%d\tmessages=%d\tcycle_msgs_per_s=%.0f\twake_p50_us=%.0f"
      "\twake_p99_us=%.0f\n",
      backend.c_str(), threads, batch, messages, rate, p50, p99);
  return 0;
}
