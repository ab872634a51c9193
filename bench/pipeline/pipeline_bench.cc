// The whole pipeline in one process, as `imgpipe serve` wires it (SQLite + a folder, the HTTP
// server, the router, the worker pool), driven over real HTTP on loopback:
//   pipeline_bench latency N            POST /api/process -> result message on "results", one job
//                                       at a time (128x128 image, window_level): p50/p90/p99
//   pipeline_bench throughput N CLIENTS WORKERS
//                                       N jobs from CLIENTS clients (one keep-alive connection
//                                       each), WORKERS worker threads: jobs/s until every result
//                                       is on "results"
//   pipeline_bench overhead REPS        each built-in on a 512x512 16-bit CT slice: the bare
//                                       Algorithm::Run vs the worker's time for the job
// Run by bench/pipeline/run.sh, never by the tests.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/allocator.h"
#include "core/temp_dir.h"
#include "dicom/dicom.h"
#include "http/http.h"
#include "jobs/routes.h"
#include "jobs/worker.h"

namespace imgpipe {
namespace {

using Clock = std::chrono::steady_clock;
namespace json = boost::json;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "pipeline_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(core::Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}

// One keep-alive HTTP/1.1 connection (just enough client for this benchmark).
class Connection {
 public:
  explicit Connection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Die("connect");
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Connection() { close(fd_); }

  // Returns (status, body).
  std::pair<int, std::string> Post(const std::string& path, const std::string& body) {
    std::string req = "POST " + path +
                      " HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                      "Content-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    for (size_t off = 0; off < req.size();) {
      ssize_t n = send(fd_, req.data() + off, req.size() - off, MSG_NOSIGNAL);
      if (n <= 0) Die("send");
      off += static_cast<size_t>(n);
    }
    size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos) Fill();
    int status = std::atoi(buf_.c_str() + 9);
    size_t cl = buf_.find("Content-Length: ");
    if (cl == std::string::npos || cl > header_end) cl = buf_.find("content-length: ");
    size_t length = std::strtoul(buf_.c_str() + cl + 16, nullptr, 10);
    while (buf_.size() < header_end + 4 + length) Fill();
    std::string out = buf_.substr(header_end + 4, length);
    buf_.erase(0, header_end + 4 + length);
    return {status, out};
  }

 private:
  void Fill() {
    char tmp[16384];
    ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) Die("recv");
    buf_.append(tmp, static_cast<size_t>(n));
  }
  int fd_;
  std::string buf_;
};

// Consumes "results" and records when each job's result arrived.
class ResultsWatcher {
 public:
  explicit ResultsWatcher(queue::QueueService& queues) : queues_(queues) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~ResultsWatcher() {
    stop_ = true;
    thread_.join();
  }
  Clock::time_point WaitFor(const std::string& job_id) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return arrived_.count(job_id) > 0; });
    return arrived_[job_id];
  }
  void WaitForCount(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return arrived_.size() >= n; });
  }

 private:
  void Loop() {
    queue::ReceiveOptions options;
    options.max_messages = 10;
    options.wait = std::chrono::milliseconds(200);
    while (!stop_) {
      auto messages = Must(queues_.Receive(jobs::kResultsQueue, options), "receive results");
      auto now = Clock::now();
      std::vector<std::string> receipts;
      {
        std::lock_guard lock(mu_);
        for (const auto& m : messages) {
          json::object body = json::parse(m.body).as_object();
          if (body.at("type") == "result") {
            if (body.at("status") != "succeeded") Die("job failed: " + m.body);
            arrived_[std::string(body.at("job_id").as_string())] = now;
          }
          receipts.push_back(m.receipt);
        }
      }
      cv_.notify_all();
      if (!receipts.empty()) Must(queues_.DeleteBatch(jobs::kResultsQueue, receipts), "ack");
    }
  }
  queue::QueueService& queues_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Clock::time_point> arrived_;
  std::thread thread_;
};

// A 128x128 signed 16-bit CT image derived from a demo slice (a disc of soft tissue in air).
std::string SmallCtImage(const std::string& source) {
  dicom::DerivedImage image;
  image.rows = image.columns = 128;
  image.bits = 16;
  image.is_signed = true;
  image.pixels.resize(128 * 128 * 2);
  for (int r = 0; r < 128; ++r) {
    for (int c = 0; c < 128; ++c) {
      int16_t v = ((r - 64) * (r - 64) + (c - 64) * (c - 64) < 50 * 50) ? 1064 : 24;
      std::memcpy(&image.pixels[2 * (r * 128 + c)], &v, 2);
    }
  }
  image.rescale_slope = 1;
  image.rescale_intercept = -1024;
  image.window_center = 40;
  image.window_width = 400;
  dicom::DerivedOptions options;
  options.series_description = "bench 128x128";
  return Must(dicom::WriteDerivedImage(source, image, options), "small image");
}

struct Stack {
  core::TempDir dir{"pipeline-bench"};
  std::unique_ptr<db::Database> db;
  std::unique_ptr<blob::BlobStore> blobs;
  std::unique_ptr<pacs::Pacs> pacs;
  std::unique_ptr<queue::QueueService> queues;
  std::unique_ptr<jobs::JobService> jobs;
  std::unique_ptr<jobs::WorkerPool> workers;
  std::unique_ptr<http::Server> server;
  std::string client;
  pacs::InstanceRecord small, slice;

  explicit Stack(int worker_concurrency) {
    dicom::Initialize();
    db::SqliteOptions sqlite_options;
    sqlite_options.synchronous_full = !std::getenv("BENCH_NO_FSYNC");
    db = Must(db::OpenSqlite(dir.path() + "/imgpipe.db", sqlite_options), "sqlite");
    blobs = Must(blob::NewFsBlobStore(dir.path() + "/blobs"), "blobs");
    pacs = Must(pacs::Pacs::Open(*db, *blobs, pacs::PacsOptions{}), "pacs");
    std::string ct;
    for (const auto& f : dicom::MakeDemoDataset()) {
      if (f.name == "ct/slice-015.dcm") ct = f.bytes;
    }
    slice = Must(pacs->Ingest(ct), "ingest slice").instance;
    small = Must(pacs->Ingest(SmallCtImage(ct)), "ingest small").instance;
    queues = Must(queue::NewSqlQueueService(*db), "queues");
    jobs::JobServiceOptions job_options;
    job_options.max_queue_depth = 0;
    jobs = Must(jobs::JobService::Create(*db, *queues, *pacs, job_options), "jobs");
    jobs::WorkerOptions worker_options;
    worker_options.concurrency = worker_concurrency;
    workers = Must(jobs::WorkerPool::Start(*jobs, *queues, *pacs, *blobs,
                                           algorithms::Registry::BuiltIn(), worker_options),
                   "workers");
    auto router = std::make_shared<http::Router>();
    jobs::RegisterRoutes(*router, *jobs, *queues, *blobs, algorithms::Registry::BuiltIn());
    http::ServerOptions options;
    options.port = 0;
    options.threads = 4;
    options.stop_on_signals = false;
    server = Must(http::Server::Start(options, router), "server");
    client = Must(jobs->Provision(), "provision");
  }
  ~Stack() {
    server->Stop();
    workers->Stop();
  }

  std::string Body(const pacs::InstanceRecord& image, const std::string& params = "{}") const {
    return BodyFor(client, image, params);
  }
  static std::string BodyFor(const std::string& client_id, const pacs::InstanceRecord& image,
                             const std::string& params = "{}") {
    return R"({"study_id":")" + image.study_id + R"(","series_id":")" + image.series_id +
           R"(","image_id":")" + image.image_id + R"(","scope":"image","client_id":")" + client_id +
           R"(","params":)" + params + "}";
  }
};

std::string JobIdOf(const std::pair<int, std::string>& reply) {
  if (reply.first != 202) Die("submit: " + std::to_string(reply.first) + " " + reply.second);
  return std::string(json::parse(reply.second).at("job_id").as_string());
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

void Latency(int n) {
  Stack stack(2);
  Connection conn(stack.server->port());
  ResultsWatcher watcher(*stack.queues);
  std::vector<double> ms, submit_ms, run_ms;
  std::map<std::string, std::vector<double>> parts;
  const std::string body = stack.Body(stack.small);
  for (int i = 0; i < n + 50; ++i) {
    auto t0 = Clock::now();
    std::string job = JobIdOf(conn.Post("/api/process/window_level", body));
    auto t_submitted = Clock::now();
    auto t1 = watcher.WaitFor(job);
    if (i < 50) continue;
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    submit_ms.push_back(std::chrono::duration<double, std::milli>(t_submitted - t0).count());
    jobs::JobRecord record = Must(stack.jobs->GetJob(job), "job");
    run_ms.push_back(record.duration_ms);
    json::value summary = json::parse(record.summary_json);
    for (const auto& [k, v] : summary.at("timing_ms").as_object()) {
      parts[k].push_back(v.to_number<double>());
    }
  }
  std::printf(
      "latency window_level 128x128: n=%d p50=%.2f ms p90=%.2f ms p99=%.2f ms max=%.2f ms "
      "(p50 of its parts: POST round trip %.2f ms, worker run %.2f ms)\n",
      n, Percentile(ms, 0.5), Percentile(ms, 0.9), Percentile(ms, 0.99), Percentile(ms, 1.0),
      Percentile(submit_ms, 0.5), Percentile(run_ms, 0.5));
  std::printf("  worker run, p50 of its parts:");
  for (const auto& [k, v] : parts) std::printf(" %s %.2f ms", k.c_str(), Percentile(v, 0.5));
  std::printf("\n");
}

void Throughput(int n, int clients, int workers) {
  Stack stack(workers);
  ResultsWatcher watcher(*stack.queues);
  // One client per connection: a client's jobs run one after another (FIFO per client), so
  // parallelism comes from many clients, as in the seed's deployment.
  std::vector<std::string> bodies;
  for (int c = 0; c < clients; ++c) {
    bodies.push_back(Stack::BodyFor(Must(stack.jobs->Provision(), "provision"), stack.small));
  }
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      Connection conn(stack.server->port());
      for (int i = c; i < n; i += clients) {
        JobIdOf(conn.Post("/api/process/window_level", bodies[c]));
      }
    });
  }
  for (auto& t : threads) t.join();
  double submit_s = std::chrono::duration<double>(Clock::now() - t0).count();
  watcher.WaitForCount(static_cast<size_t>(n));
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf(
      "throughput window_level 128x128: %d jobs, %d clients, %d workers: %.0f jobs/s end to end "
      "(submits alone %.0f/s)\n",
      n, clients, workers, n / s, n / submit_s);
}

void Overhead(int reps) {
  Stack stack(1);
  ResultsWatcher watcher(*stack.queues);
  Connection conn(stack.server->port());
  std::string file = Must(stack.pacs->ReadFile(stack.slice), "read");
  auto info = Must(dicom::ParseInstance(file), "parse");
  auto image =
      Must(algorithms::ImageFromFrame(Must(dicom::DecodeFrame(file, 1), "decode"), info), "image");
  std::printf(
      "512x512 s16 CT slice, medians of %d runs, ms. bare = Algorithm::Run called directly;\n"
      "run = the same call inside the worker; job = the worker's whole job (load: read +\n"
      "decode; store: PNG + DICOM + blob writes; sync: outputs made durable)\n",
      reps);
  std::printf("%-13s %7s %7s %9s %7s %7s %7s %7s %9s\n", "algorithm", "bare", "run", "run/bare",
              "load", "store", "sync", "job", "job/bare");
  for (const algorithms::Algorithm* a : algorithms::Registry::BuiltIn().List()) {
    if (!a->info().alias_of.empty()) continue;
    const std::string params = a->info().name == "resize" ? R"({"scale":0.5})" : "{}";
    auto validated = Must(algorithms::ValidateParams(a->info(), json::parse(params)), "params");
    algorithms::RunContext ctx;
    ctx.source_file = file;
    std::vector<double> bare, job_ms;
    std::map<std::string, std::vector<double>> parts;
    // Bare call and job interleaved, so both find the caches as the other left them (bare calls
    // back to back would each find the last one's buffers hot).
    for (int i = 0; i < reps; ++i) {
      auto t0 = Clock::now();
      Must(a->Run(image, validated, ctx), "run");
      bare.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      std::string job =
          JobIdOf(conn.Post("/api/process/" + a->info().name, stack.Body(stack.slice, params)));
      watcher.WaitFor(job);
      jobs::JobRecord record = Must(stack.jobs->GetJob(job), "job");
      job_ms.push_back(record.duration_ms);
      json::value summary = json::parse(record.summary_json);
      for (const auto& [k, v] : summary.at("timing_ms").as_object()) {
        parts[k].push_back(v.to_number<double>());
      }
    }
    double b = Percentile(bare, 0.5), j = Percentile(job_ms, 0.5);
    double r = Percentile(parts["run"], 0.5);
    std::printf("%-13s %7.2f %7.2f %8.2fx %7.2f %7.2f %7.2f %7.2f %8.2fx\n", a->info().name.c_str(),
                b, r, r / b, Percentile(parts["load"], 0.5), Percentile(parts["store"], 0.5),
                Percentile(parts["sync"], 0.5), j, j / b);
  }
}

}  // namespace
}  // namespace imgpipe

int main(int argc, char** argv) {
  imgpipe::core::ConfigureAllocator();  // as imgpipe's main
  spdlog::set_level(spdlog::level::warn);
  std::string mode = argc > 1 ? argv[1] : "";
  auto arg = [&](int i, int def) { return argc > i ? std::atoi(argv[i]) : def; };
  if (mode == "latency") {
    imgpipe::Latency(arg(2, 1000));
  } else if (mode == "throughput") {
    imgpipe::Throughput(arg(2, 5000), arg(3, 8), arg(4, 2));
  } else if (mode == "overhead") {
    imgpipe::Overhead(arg(2, 20));
  } else {
    std::fprintf(stderr,
                 "usage: pipeline_bench latency N | throughput N CLIENTS WORKERS | "
                 "overhead REPS\n");
    return 2;
  }
  return 0;
}
