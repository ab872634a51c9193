// The Redis Streams peer of queue_bench (issue 3's "Measure"): the same full cycle and wake-up
// measurements on a local redis-server, so the SQL queue's figures have a yardstick. Not a test.
//
//   redis_streams_bench BACKEND THREADS BATCH MESSAGES
//     BACKEND  redis            (--save '' --appendonly no: nothing on disk)
//              redis-aof-always (--appendonly yes --appendfsync always: durable per write, the
//                               fair comparison with the SQL queue's commit-per-send)
//     THREADS  producer threads = consumer threads, each with its own connection
//     BATCH    1: XADD / XREADGROUP COUNT 1 BLOCK / XACK, one round trip each
//              10: 10 XADDs pipelined (one round trip) / XREADGROUP COUNT 10 BLOCK / one XACK with
//                  the 10 ids, pipelined with the consumer's next XREADGROUP
//   Full cycle: every message added, read and acked; messages/s = MESSAGES / wall time.
//   Then 200 wake-ups: a consumer blocks in XREADGROUP on an empty stream, another connection
//   XADDs one entry; latency = XADD call start -> XREADGROUP returns it. p50 / p99.
//
// The bench starts its own redis-server (REDIS_SERVER overrides the binary) on a free port of
// 127.0.0.1 with a temp dir, and stops it at exit, on errors too (and the kernel kills it if we
// die: PR_SET_PDEATHSIG). Output: one line in queue_bench's format.
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/temp_dir.h"

namespace {

using Clock = std::chrono::steady_clock;

pid_t g_server_pid = 0;  // the redis-server we started, killed by Die
std::string g_log_path;  // its log, shown when it does not come up

void KillServer() {
  if (g_server_pid <= 0) return;
  ::kill(g_server_pid, SIGKILL);
  ::waitpid(g_server_pid, nullptr, 0);
  g_server_pid = 0;
}

// Errors end the process from any thread: kill the server first, then exit without running
// destructors under the feet of the other threads (the temp dir may stay behind in /tmp).
[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "redis_streams_bench: %s\n", what.c_str());
  KillServer();
  std::_Exit(1);
}

int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) Die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Die("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

using Conn = std::unique_ptr<redisContext, decltype(&redisFree)>;
using Reply = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

Conn Connect(int port) {
  timeval timeout{1, 0};
  Conn c(redisConnectWithTimeout("127.0.0.1", port, timeout), &redisFree);
  if (c == nullptr) Die("out of memory");
  return c;
}

Reply Check(redisContext* c, void* raw, const char* what) {
  Reply r(static_cast<redisReply*>(raw), &freeReplyObject);
  if (r == nullptr) Die(std::string(what) + ": " + (c->errstr[0] != '\0' ? c->errstr : "no reply"));
  if (r->type == REDIS_REPLY_ERROR) Die(std::string(what) + ": " + r->str);
  return r;
}

Reply Command(redisContext* c, const std::vector<std::string>& argv, const char* what) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  return Check(c, redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data()),
               what);
}

void Append(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAppendCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data()) !=
      REDIS_OK) {
    Die("redisAppendCommandArgv");
  }
}

Reply NextReply(redisContext* c, const char* what) {
  void* raw = nullptr;
  if (redisGetReply(c, &raw) != REDIS_OK) Die(std::string(what) + ": " + c->errstr);
  return Check(c, raw, what);
}

// Starts redis-server and waits until it answers PING; returns its port.
int StartServer(const std::string& dir, bool aof_always) {
  int port = FreeLoopbackPort();
  g_log_path = dir + "/redis.log";
  std::vector<std::string> argv = {"redis-server",
                                   "--port",
                                   std::to_string(port),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir,
                                   "--logfile",
                                   g_log_path,
                                   "--save",
                                   ""};
  if (aof_always) {
    argv.insert(argv.end(), {"--appendonly", "yes", "--appendfsync", "always"});
  } else {
    argv.insert(argv.end(), {"--appendonly", "no"});
  }
  const char* env_bin = std::getenv("REDIS_SERVER");
  std::string bin = env_bin != nullptr && *env_bin != '\0' ? env_bin : "redis-server";
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) Die("fork");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the bench
    if (::getppid() != parent) ::_exit(127);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(bin.c_str(), args.data());
    ::_exit(127);
  }
  g_server_pid = pid;
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      g_server_pid = 0;
      std::ifstream log(g_log_path);
      std::stringstream text;
      text << log.rdbuf();
      Die(bin + " exited at start (is redis-server installed? scripts/install-deps.sh with " +
          "IMGPIPE_BENCH_DEPS=1):\n" + text.str());
    }
    Conn c = Connect(port);
    if (c->err == 0) {
      auto* raw = static_cast<redisReply*>(redisCommand(c.get(), "PING"));
      bool up = raw != nullptr && raw->type == REDIS_REPLY_STATUS;
      if (raw != nullptr) freeReplyObject(raw);
      if (up) return port;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Die("redis-server did not answer PING within 10 s");
}

void StopServer(int port) {
  Conn c = Connect(port);
  if (c->err == 0) {
    // No reply when it works: the server closes the connection as it exits.
    void* raw = redisCommand(c.get(), "SHUTDOWN NOSAVE");
    if (raw != nullptr) freeReplyObject(raw);
  }
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline) {
    if (::waitpid(g_server_pid, nullptr, WNOHANG) == g_server_pid) {
      g_server_pid = 0;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  KillServer();
}

void CreateGroup(int port, const std::string& stream) {
  Conn c = Connect(port);
  if (c->err != 0) Die(c->errstr);
  Command(c.get(), {"XGROUP", "CREATE", stream, "g", "$", "MKSTREAM"}, "XGROUP CREATE");
}

// XREADGROUP's reply -> the entry ids (empty on a BLOCK timeout).
std::vector<std::string> EntryIds(const redisReply* r) {
  std::vector<std::string> ids;
  if (r->type != REDIS_REPLY_ARRAY) return ids;  // nil: the BLOCK timed out
  for (size_t s = 0; s < r->elements; ++s) {
    const redisReply* stream = r->element[s];  // [name, [[id, [field, value...]]...]]
    if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2) Die("odd XREADGROUP reply");
    const redisReply* entries = stream->element[1];
    for (size_t e = 0; e < entries->elements; ++e) {
      ids.emplace_back(entries->element[e]->element[0]->str, entries->element[e]->element[0]->len);
    }
  }
  return ids;
}

std::vector<std::string> ReadGroupArgs(const std::string& stream, const std::string& consumer,
                                       int count, int block_ms) {
  return {"XREADGROUP", "GROUP",
          "g",          consumer,
          "COUNT",      std::to_string(count),
          "BLOCK",      std::to_string(block_ms),
          "STREAMS",    stream,
          ">"};
}

std::vector<std::string> AddArgs(int i) {
  return {"XADD",
          "bench",
          "*",
          "body",
          "payload-" + std::to_string(i),
          "group",
          "g" + std::to_string(i % 64),
          "dedup",
          "d" + std::to_string(i)};
}

double FullCycle(int port, int threads, int batch, int messages) {
  CreateGroup(port, "bench");
  std::vector<Conn> producers, consumers;
  for (int t = 0; t < threads; ++t) {
    producers.push_back(Connect(port));
    consumers.push_back(Connect(port));
    if (producers.back()->err != 0 || consumers.back()->err != 0) Die("connect");
  }
  std::atomic<int> next_send{0}, done{0};
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, c = producers[t].get()] {
      for (;;) {
        int first = next_send.fetch_add(batch);
        if (first >= messages) break;
        int last = std::min(messages, first + batch);
        if (batch == 1) {
          Command(c, AddArgs(first), "XADD");
          continue;
        }
        for (int i = first; i < last; ++i) Append(c, AddArgs(i));
        for (int i = first; i < last; ++i) NextReply(c, "XADD");
      }
    });
    pool.emplace_back([&, c = consumers[t].get(), consumer = "c" + std::to_string(t)] {
      bool ack_pending = false;  // batch 10: an XACK sent ahead of this XREADGROUP
      while (done.load() < messages) {
        Append(c, ReadGroupArgs("bench", consumer, batch, 200));
        if (ack_pending) NextReply(c, "XACK");
        ack_pending = false;
        Reply got = NextReply(c, "XREADGROUP");
        std::vector<std::string> ids = EntryIds(got.get());
        if (ids.empty()) continue;
        std::vector<std::string> ack = {"XACK", "bench", "g"};
        ack.insert(ack.end(), ids.begin(), ids.end());
        if (batch == 1) {
          Command(c, ack, "XACK");
        } else {
          Append(c, ack);
          ack_pending = true;
        }
        done.fetch_add(static_cast<int>(ids.size()));
      }
      if (ack_pending) NextReply(c, "XACK");
    });
  }
  for (auto& th : pool) th.join();
  return messages / std::chrono::duration<double>(Clock::now() - start).count();
}

void WakeUps(int port, int rounds, double* p50_us, double* p99_us) {
  CreateGroup(port, "wake");
  Conn sender = Connect(port), receiver = Connect(port);
  if (sender->err != 0 || receiver->err != 0) Die("connect");
  std::vector<double> us;
  for (int i = 0; i < rounds; ++i) {
    std::atomic<bool> waiting{false};
    Clock::time_point sent_at, got_at;
    std::thread receive([&] {
      waiting = true;
      Reply got = Command(receiver.get(), ReadGroupArgs("wake", "r", 1, 5000), "XREADGROUP");
      got_at = Clock::now();
      std::vector<std::string> ids = EntryIds(got.get());
      if (ids.size() != 1) Die("wake-up receive");
      Command(receiver.get(), {"XACK", "wake", "g", ids[0]}, "wake-up XACK");
    });
    while (!waiting) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the receiver is parked
    sent_at = Clock::now();
    Command(sender.get(), {"XADD", "wake", "*", "body", "x"}, "wake-up XADD");
    receive.join();
    us.push_back(std::chrono::duration<double, std::micro>(got_at - sent_at).count());
  }
  std::sort(us.begin(), us.end());
  *p50_us = us[us.size() / 2];
  *p99_us = us[std::min(us.size() - 1, us.size() * 99 / 100)];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) Die("usage: redis_streams_bench redis|redis-aof-always THREADS BATCH MESSAGES");
  std::string backend = argv[1];
  int threads = std::atoi(argv[2]), batch = std::atoi(argv[3]), messages = std::atoi(argv[4]);
  if (threads < 1 || (batch != 1 && batch != 10) || messages < 1) Die("bad arguments");
  if (backend != "redis" && backend != "redis-aof-always") {
    Die("backend must be redis or redis-aof-always");
  }
  ::signal(SIGPIPE, SIG_IGN);  // a server that dies shows as a failed command, not a signal

  imgpipe::core::TempDir dir("redis-bench");
  int port = StartServer(dir.path(), backend == "redis-aof-always");
  double rate = FullCycle(port, threads, batch, messages);
  double p50 = 0, p99 = 0;
  WakeUps(port, 200, &p50, &p99);
  StopServer(port);
  std::printf(
      "%s\tthreads=%d\tbatch=%d\tmessages=%d\tcycle_msgs_per_s=%.0f\twake_p50_us=%.0f"
      "\twake_p99_us=%.0f\n",
      backend.c_str(), threads, batch, messages, rate, p50, p99);
  return 0;
}
