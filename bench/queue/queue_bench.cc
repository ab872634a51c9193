// Queue throughput and wake-up latency (issue 3's "Measure"), for the SQL queue on SQLite and on
// PostgreSQL. Not a test: it prints figures; docs/benchmarks.md records them.
//
//   queue_bench BACKEND THREADS BATCH MESSAGES
//     BACKEND  sqlite | postgres (a throwaway PostgreSQL 15, as the tests use)
//     THREADS  producer threads = consumer threads
//     BATCH    1 (Send, Receive 1, Delete) or 10 (SendBatch, Receive 10, DeleteBatch)
//   Full cycle: every message sent, received and deleted; messages/s = MESSAGES / wall time.
//   Then wake-ups: a receiver long-polls an empty queue, another thread sends one message;
//   latency from the Send call's start (incl. its durable commit) and from the commit's return
//   to Receive returning it, p50 / p99. PostgreSQL also: the receiver on a second pool and
//   service (as in another process), woken by LISTEN/NOTIFY only.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "core/allocator.h"
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
          auto sent = q.Send("bench", out[0]);
          if (!sent.ok()) Die("Send: " + sent.status().ToString());
        } else if (auto sent = q.SendBatch("bench", out); !sent.ok()) {
          Die("SendBatch: " + sent.status().ToString());
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

struct Percentiles {
  double p50 = 0, p99 = 0;
};

Percentiles Summarise(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)]};
}

// `rounds` wake-ups: a receiver on `receiver_side` long-polls an empty queue; the sender (on
// `sender_side`, which may be another service over another connection pool, as a second process
// would be) sends one message. Measured: from the Send call's start (it includes the durable
// commit) and from the commit's return (SendInTransaction + Commit; the wake-up itself) to
// Receive returning the message.
void WakeUps(queue::QueueService& sender_side, db::Database& sender_db,
             queue::QueueService& receiver_side, int rounds, Percentiles* from_send,
             Percentiles* from_commit) {
  if (!sender_side.EnsureQueue("wake", {}).ok()) Die("EnsureQueue");
  std::vector<double> send_us, commit_us;
  for (int i = 0; i < 2 * rounds; ++i) {
    const bool via_commit = i % 2 == 1;
    std::atomic<bool> waiting{false};
    Clock::time_point sent_at, got_at;
    std::thread receiver([&] {
      queue::ReceiveOptions options;
      options.wait = std::chrono::milliseconds(5000);
      waiting = true;
      auto got = receiver_side.Receive("wake", options);
      got_at = Clock::now();
      if (!got.ok()) Die("wake-up receive: " + got.status().ToString());
      if (got->empty()) Die("wake-up receive: nothing within 5 s");
      if (!receiver_side.Delete("wake", (*got)[0].receipt).ok()) Die("wake-up delete");
    });
    while (!waiting) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the receiver is parked
    // Dedup ids unique across calls: a repeated one would be (rightly) not delivered again.
    static int sent = 0;
    queue::OutgoingMessage message{"x", "g", "w" + std::to_string(sent++)};
    if (!via_commit) {
      sent_at = Clock::now();
      if (!sender_side.Send("wake", message).ok()) Die("wake-up send");
    } else {
      auto tx = Must(sender_db.Begin(db::TxMode::kWrite), "Begin");
      if (!sender_side.SendInTransaction(*tx, "wake", message).ok()) Die("wake-up send in tx");
      if (!tx->Commit().ok()) Die("wake-up commit");
      sent_at = Clock::now();
      sender_side.NotifyCommitted("wake");
    }
    receiver.join();
    double us = std::max(0.0, std::chrono::duration<double, std::micro>(got_at - sent_at).count());
    (via_commit ? commit_us : send_us).push_back(us);
  }
  *from_send = Summarise(send_us);
  *from_commit = Summarise(commit_us);
}

}  // namespace

int main(int argc, char** argv) {
  imgpipe::core::ConfigureAllocator();  // as imgpipe's main
  if (argc != 5) Die("usage: queue_bench sqlite|postgres THREADS BATCH MESSAGES");
  std::string backend = argv[1];
  int threads = std::atoi(argv[2]), batch = std::atoi(argv[3]), messages = std::atoi(argv[4]);
  if (threads < 1 || (batch != 1 && batch != 10) || messages < 1) Die("bad arguments");

  core::TempDir dir("queue-bench");
  std::unique_ptr<db::postgres::TestServer> server;
  std::unique_ptr<db::Database> database;
  if (backend == "sqlite") {
    // QUEUE_BENCH_NO_FSYNC=1 (diagnosis only, never in docs/benchmarks.md figures): commits
    // without fsync, to see what the CPU alone allows.
    db::SqliteOptions options;
    options.synchronous_full = std::getenv("QUEUE_BENCH_NO_FSYNC") == nullptr;
    database = Must(db::OpenSqlite(dir.path() + "/bench.db", options), "OpenSqlite");
  } else if (backend == "postgres") {
    server = std::make_unique<db::postgres::TestServer>();
    if (auto st = server->Start(); !st.ok()) Die(st.ToString());
    database = Must(db::OpenPostgres(server->url()), "OpenPostgres");
  } else {
    Die("backend must be sqlite or postgres");
  }
  auto q = Must(queue::NewSqlQueueService(*database), "NewSqlQueueService");
  double rate = FullCycle(*q, threads, batch, messages);
  Percentiles send, commit;
  WakeUps(*q, *database, *q, 200, &send, &commit);
  std::printf(
      "%s\tthreads=%d\tbatch=%d\tmessages=%d\tcycle_msgs_per_s=%.0f\twake_p50_us=%.0f"
      "\twake_p99_us=%.0f\twake_from_commit_p50_us=%.0f\twake_from_commit_p99_us=%.0f",
      backend.c_str(), threads, batch, messages, rate, send.p50, send.p99, commit.p50, commit.p99);
  if (server != nullptr) {
    // A second pool and service on the same database, as another process would have: only
    // LISTEN/NOTIFY can wake its receivers.
    auto other_db = Must(db::OpenPostgres(server->url()), "OpenPostgres");
    auto other = Must(queue::NewSqlQueueService(*other_db), "NewSqlQueueService");
    Percentiles remote_send, remote_commit;
    WakeUps(*q, *database, *other, 200, &remote_send, &remote_commit);
    std::printf("\tremote_wake_p50_us=%.0f\tremote_wake_p99_us=%.0f", remote_send.p50,
                remote_send.p99);
  }
  std::printf("\n");
  return 0;
}
