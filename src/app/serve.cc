// imgpipe serve: the roles of this process (default all): api (the PACS API, DICOMweb, the
// processing API, GET /api/events, the web frontend at "/" and the rules engine), worker (the
// worker pool), push (the results consumer, which stores every result as its client's event; the
// WebSocket arrives next).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "app/access.h"
#include "app/commands.h"
#include "app/dicom_listener.h"
#include "app/metrics_route.h"
#include "app/openapi.h"
#include "app/outputs.h"
#include "app/routes.h"
#include "app/stores.h"
#include "core/ids.h"
#include "core/strings.h"
#include "dicom/dicom.h"
#include "exporter/exporter.h"
#include "http/http.h"
#include "http/static_files.h"
#include "jobs/routes.h"
#include "jobs/worker.h"
#include "push/push.h"

#ifndef IMGPIPE_VERSION
#define IMGPIPE_VERSION "dev"
#endif

namespace imgpipe::app {
namespace {

int LoadDemoIfEmpty(pacs::Pacs& pacs) {
  auto count = pacs.CountInstances();
  if (!count.ok()) {
    spdlog::error("cannot count stored images: {}", count.status().ToString());
    return 1;
  }
  if (*count > 0) {
    spdlog::info("--demo: store already holds {} images; demo data not loaded", *count);
    return 0;
  }
  auto files = dicom::MakeDemoDataset();
  int stored = 0;
  for (const auto& f : files) {
    auto r = pacs.Ingest(f.bytes);
    if (!r.ok()) {
      spdlog::error("demo file {} rejected: {}", f.name, r.status().ToString());
      return 1;
    }
    ++stored;
  }
  spdlog::info("--demo: loaded {} demo images", stored);
  return 0;
}

}  // namespace

core::Result<Roles> ParseRoles(const std::string& text) {
  Roles roles;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string role = text.substr(start, comma == std::string::npos ? comma : comma - start);
    if (role == "api") {
      roles.api = true;
    } else if (role == "worker") {
      roles.worker = true;
    } else if (role == "push") {
      roles.push = true;
    } else if (!role.empty()) {
      return core::Status::InvalidArgument("unknown role \"" + role +
                                           "\" (roles are api, worker, push)");
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (!roles.api && !roles.worker && !roles.push) {
    return core::Status::InvalidArgument("no role given (roles are api, worker, push)");
  }
  return roles;
}

namespace {

// One dependency /readyz checks: ok, or why not. A check that is not `required` is reported
// without making the process unready.
struct ReadinessCheck {
  const char* name;
  std::function<core::Status()> check;
  bool required = true;
};

// A check's last answer, reused while younger than `max_age`. Thread-safe.
class CachedStatus {
 public:
  core::Status Get(std::chrono::steady_clock::duration max_age,
                   const std::function<core::Status()>& compute) {
    std::lock_guard lock(mu_);
    auto now = std::chrono::steady_clock::now();
    if (!valid_ || now - computed_at_ >= max_age) {
      last_ = compute();
      computed_at_ = now;
      valid_ = true;
    }
    return last_;
  }

 private:
  std::mutex mu_;
  bool valid_ = false;                                 // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point computed_at_;  // GUARDED_BY(mu_)
  core::Status last_;                                  // GUARDED_BY(mu_)
};

// The algorithm queues against the depth at which submissions get 429 (queue.max_depth).
core::Status QueuesWithinLimits(queue::QueueService& queues, int64_t max_depth) {
  if (max_depth <= 0) return core::Status::Ok();
  IMGPIPE_ASSIGN_OR_RETURN(std::vector<std::string> names, queues.ListQueues());
  std::string full;
  for (const std::string& name : names) {
    if (!name.starts_with("algo.") || name.ends_with(".dlq")) continue;
    IMGPIPE_ASSIGN_OR_RETURN(queue::QueueStats stats, queues.Stats(name));
    if (stats.visible < max_depth) continue;
    full += (full.empty() ? "" : "; ") + name + " holds " + std::to_string(stats.visible) +
            " messages (limit " + std::to_string(max_depth) + ")";
  }
  if (full.empty()) return core::Status::Ok();
  return core::Status::ResourceExhausted(full + ": its submissions get 429 until workers drain it");
}

// What each role needs to do its work (docs/deployment.md "Readiness"): every role the metadata
// database (queues, jobs and events live there); api and worker the blob store (a folder, or
// the S3 bucket); push on PostgreSQL its LISTEN connection (other processes' results reach its
// clients through it).
std::vector<ReadinessCheck> ReadinessChecks(const Roles& roles, Stores& stores,
                                            const push::RemoteEvents* remote_events,
                                            int64_t max_queue_depth) {
  std::vector<ReadinessCheck> checks;
  // A round trip, not a count: a probe every few seconds must cost nothing on a large index.
  checks.push_back({"database", [&stores]() -> core::Status {
                      IMGPIPE_ASSIGN_OR_RETURN(auto tx, stores.db->Begin(db::TxMode::kRead));
                      return tx->Query("SELECT 1").status();
                    }});
  if (roles.api || roles.worker) {
    checks.push_back({"blobs", [&stores] {
                        // A key nobody stores: "not found" proves the store answers.
                        core::Status st = stores.blobs->Size("readyz/probe").status();
                        return st.code() == core::StatusCode::kNotFound ? core::Status::Ok() : st;
                      }});
  }
  if (roles.api) {
    // Reported, not required: every api process shares the queues, so a full queue would take
    // them all out of a load balancer at once, while reads and other algorithms still work.
    // Counting a queue's messages costs more than a probe every few seconds should: the answer
    // is reused for 5 s.
    auto cache = std::make_shared<CachedStatus>();
    checks.push_back({"queues",
                      [&stores, max_queue_depth, cache] {
                        return cache->Get(std::chrono::seconds(5), [&] {
                          return QueuesWithinLimits(*stores.queues, max_queue_depth);
                        });
                      },
                      /*required=*/false});
  }
  if (remote_events != nullptr) {
    checks.push_back({"notifications", [remote_events] {
                        return remote_events->Listening()
                                   ? core::Status::Ok()
                                   : core::Status::Unavailable(
                                         "LISTEN connection to PostgreSQL is down (reconnecting)");
                      }});
  }
  return checks;
}

void AddOperationsRoutes(http::Router& router, const Roles& roles,
                         std::vector<ReadinessCheck> checks) {
  router.Add("GET", "/healthz",
             [](http::Request&) { return http::Response::Json(200, R"({"status":"ok"})"); });
  boost::json::array role_names;
  if (roles.api) role_names.emplace_back("api");
  if (roles.worker) role_names.emplace_back("worker");
  if (roles.push) role_names.emplace_back("push");
  // Ready when what this process's roles need answers; 503 names what failed, for load
  // balancers and operators.
  router.Add("GET", "/readyz", [checks = std::move(checks), role_names](http::Request&) {
    boost::json::object results;
    bool ready = true;
    for (const ReadinessCheck& c : checks) {
      core::Status st = c.check();
      results[c.name] = st.ok() ? "ok" : st.ToString();
      ready = ready && (st.ok() || !c.required);
    }
    http::Response response = http::Response::Json(
        ready ? 200 : 503,
        boost::json::serialize(boost::json::object{{"status", ready ? "ready" : "not_ready"},
                                                   {"roles", role_names},
                                                   {"checks", results}}));
    if (!ready) response.SetHeader("Retry-After", "1");
    return response;
  });
  router.Add("GET", "/version", [](http::Request&) {
    return http::Response::Json(
        200, boost::json::serialize(boost::json::object{{"version", IMGPIPE_VERSION}}));
  });
}

std::vector<std::string> SplitNames(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (comma > start) out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace

std::vector<metrics::CollectorHandle> RegisterServeRoutes(http::Router& router, const Roles& roles,
                                                          Stores& stores,
                                                          const push::RemoteEvents* remote_events,
                                                          const ListenBase& listen_base,
                                                          const Config& config) {
  std::vector<std::string> trusted_proxies;
  for (const std::string& ip : SplitNames(config.limits_trusted_proxies)) {
    if (std::string_view trimmed = core::TrimSpace(ip); !trimmed.empty()) {
      trusted_proxies.emplace_back(trimmed);
    }
  }
  // A rate per second, with bursts of limits_burst_s seconds' worth.
  auto rate = [&config](int per_s) {
    return core::RateLimiter::Options{
        .rate_per_s = static_cast<double>(per_s),
        .burst = std::max(1.0, static_cast<double>(per_s) * config.limits_burst_s)};
  };
  if (roles.api) {
    pacs::RegisterRoutes(router, *stores.pacs);
    jobs::RoutesOptions job_routes;
    job_routes.max_json_bytes = static_cast<size_t>(config.limits_max_json_kb) << 10;
    job_routes.max_json_depth = config.limits_max_json_depth;
    job_routes.submits_per_client = rate(config.limits_submits_per_s_per_client);
    job_routes.submits_per_address = rate(config.limits_submits_per_s_per_address);
    job_routes.provisions_per_address = rate(config.limits_connects_per_s_per_address);
    job_routes.trusted_proxies = trusted_proxies;
    jobs::RegisterRoutes(router, *stores.jobs, *stores.queues, *stores.blobs, *stores.registry,
                         job_routes);
    push::RegisterRoutes(router, *stores.events, [&stores](std::string_view client_id) {
      return stores.jobs->ClientExists(client_id);
    });
    rules::RegisterRoutes(router, *stores.rules, *stores.jobs);
    exporter::RegisterRoutes(router, stores.destinations);
    RegisterInfoRoute(router, *stores.registry, listen_base, IMGPIPE_VERSION);
  }
  if (roles.push) {
    push::WebSocketOptions ws;
    ws.connects_per_address = rate(config.limits_connects_per_s_per_address);
    ws.max_connections_per_client = static_cast<size_t>(config.limits_max_connections_per_client);
    ws.trusted_proxies = trusted_proxies;
    ws.database_over_network = stores.db->dialect() == db::Dialect::kPostgres;
    push::RegisterWebSocket(
        router, *stores.events, *stores.hub,
        [&stores](std::string_view client_id) { return stores.jobs->ClientExists(client_id); }, ws);
  }
  AddOperationsRoutes(router, roles,
                      ReadinessChecks(roles, stores, remote_events, config.queue_max_depth));
  AddOpenApiRoute(router);
  return AddMetricsRoute(router, *stores.queues, roles.push ? stores.hub.get() : nullptr);
}

core::Status ParseListen(const std::string& listen, std::string* host, uint16_t* port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return core::Status::InvalidArgument("listen must be HOST:PORT, not \"" + listen + "\"");
  }
  *host = listen.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  int p = 0;
  std::string digits = listen.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 ||
      digits.find_first_not_of("0123456789") != std::string::npos ||
      (p = std::stoi(digits)) > 65535) {
    return core::Status::InvalidArgument("listen port must be 0..65535, not \"" + digits + "\"");
  }
  *port = static_cast<uint16_t>(p);
  return core::Status::Ok();
}

std::string PublicBaseUrl(const std::string& host, int port) {
  std::string h = host;
  if (h == "0.0.0.0" || h.empty()) h = "127.0.0.1";
  if (h == "::") h = "[::1]";
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";
  return "http://" + h + ":" + std::to_string(port);
}

int RunServe(const Config& config) {
  std::string host;
  uint16_t port = 0;
  if (auto st = ParseListen(config.listen, &host, &port); !st.ok()) {
    std::fprintf(stderr, "imgpipe: %s\n", st.message().c_str());
    return 2;
  }
  auto roles = ParseRoles(config.roles);
  if (!roles.ok()) {
    std::fprintf(stderr, "imgpipe: %s\n", roles.status().message().c_str());
    return 2;
  }
  dicom::Initialize();
  auto stores = OpenStores(config);
  if (!stores.ok()) {
    std::fprintf(stderr, "imgpipe: cannot start: %s\n", stores.status().message().c_str());
    return 1;
  }
  if (config.demo && LoadDemoIfEmpty(*stores->pacs) != 0) return 1;

  ListenBase listen_base;  // set once listening; outlives the router
  auto router = std::make_shared<http::Router>();
  if (roles->api) {
    auto authenticator = LoadAuthenticator(config, *stores->db);
    if (!authenticator.ok()) {
      std::fprintf(stderr, "imgpipe: %s\n", authenticator.status().message().c_str());
      return 2;
    }
    router->SetGuard(MakeGuard(*authenticator));
  }
  if (roles->api && !config.web_root.empty()) {
    // The web frontend at "/", on the APIs' port: only where no route answers (static_files.h).
    spdlog::info("web frontend served from {}", config.web_root);
    router->SetFallback(http::StaticFiles({.root = config.web_root}));
  }
  if (roles->api) {
    // The rules engine runs with the api role (after --demo's images, which it never processes:
    // they predate the rules); several api processes may run it at once (rules.h).
    if (auto st = stores->rules->Start(); !st.ok()) {
      std::fprintf(stderr, "imgpipe: cannot start the rules engine: %s\n", st.message().c_str());
      return 1;
    }
  }
  std::unique_ptr<jobs::WorkerPool> workers;
  if (roles->worker) {
    jobs::WorkerOptions worker_options;
    worker_options.algorithms = SplitNames(config.worker_algorithms);
    worker_options.concurrency = config.worker_concurrency;
    auto pool = jobs::WorkerPool::Start(*stores->jobs, *stores->queues, *stores->pacs,
                                        *stores->blobs, *stores->registry, worker_options);
    if (!pool.ok()) {
      std::fprintf(stderr, "imgpipe: cannot start the workers: %s\n",
                   pool.status().message().c_str());
      return 1;
    }
    workers = std::move(*pool);
  }
  // Exports are sent by worker processes (export.workers threads each).
  std::unique_ptr<exporter::ExportPool> exports;
  if (roles->worker && config.export_workers > 0) {
    exporter::ExportOptions export_options;
    export_options.concurrency = config.export_workers;
    auto pool = exporter::ExportPool::Start(*stores->jobs, *stores->queues, *stores->blobs,
                                            *stores->destinations, export_options);
    if (!pool.ok()) {
      std::fprintf(stderr, "imgpipe: cannot start the exporter: %s\n",
                   pool.status().message().c_str());
      return 1;
    }
    exports = std::move(*pool);
  }

  http::ServerOptions options;
  options.host = host;
  options.port = port;
  // Handlers block on disk (fsync, reads) as well as use CPU, so by default there are more
  // handler threads than cores: while some wait for a flush, others render or parse. The I/O
  // threads never block: one per core.
  options.threads = config.http_threads > 0
                        ? config.http_threads
                        : static_cast<int>(std::max(4u, 4 * std::thread::hardware_concurrency()));
  options.io_threads = config.http_io_threads;
  options.body_limit = config.body_limit_mb << 20;
  for (const std::string& origin : SplitNames(config.http_cors_origins)) {
    if (std::string_view trimmed = core::TrimSpace(origin); !trimmed.empty()) {
      options.cors_origins.emplace_back(trimmed);
    }
  }
  options.ws_ping_interval = std::chrono::seconds(config.push_ping_interval_s);
  options.ws_max_message = static_cast<size_t>(config.push_max_message_kb) << 10;
  options.ws_max_queued = static_cast<size_t>(config.push_max_queued);
  std::unique_ptr<push::ResultsConsumer> consumer;
  std::unique_ptr<push::RemoteEvents> remote_events;
  if (roles->push) {
    push::ConsumerOptions consumer_options;
    if (stores->db->dialect() == db::Dialect::kPostgres) {
      // Several push processes may share this database: each announces the events it stores and
      // hints its own connections of the events the others store (no sticky sessions needed).
      consumer_options.announce_origin = core::NewRequestId();
      auto listening =
          push::RemoteEvents::Start(*stores->db, *stores->hub, consumer_options.announce_origin);
      if (!listening.ok()) {
        std::fprintf(stderr, "imgpipe: cannot listen for other processes' events: %s\n",
                     listening.status().message().c_str());
        return 1;
      }
      remote_events = std::move(*listening);
    }
    auto started = push::ResultsConsumer::Start(*stores->queues, *stores->events, *stores->hub,
                                                consumer_options);
    if (!started.ok()) {
      std::fprintf(stderr, "imgpipe: cannot start the results consumer: %s\n",
                   started.status().message().c_str());
      return 1;
    }
    consumer = std::move(*started);
  }
  std::vector<metrics::CollectorHandle> collectors =
      RegisterServeRoutes(*router, *roles, *stores, remote_events.get(), listen_base, config);
  // The DICOM listener (api role): started before the HTTP server so that a bad setting or a
  // taken port stops the start; announced after the HTTP lines (scripts read those first).
  std::optional<DicomListener> dicom_listener;
  if (roles->api && !config.dicom_listen.empty()) {
    auto started = StartDicomListener(config, *stores->pacs, options.body_limit);
    if (!started.ok()) {
      std::fprintf(stderr, "imgpipe: cannot start the DICOM listener: %s\n",
                   started.status().message().c_str());
      return started.status().code() == core::StatusCode::kInvalidArgument ? 2 : 1;
    }
    dicom_listener = std::move(*started);
  }
  auto server = http::Server::Start(options, router);
  if (!server.ok()) {
    std::fprintf(stderr, "imgpipe: cannot start: %s\n", server.status().message().c_str());
    return 1;
  }
  std::string base = PublicBaseUrl((*server)->host(), (*server)->port());
  listen_base.Set(base);
  // Scripts wait for this line; it must be first on stdout and flushed at once.
  std::printf("listening on %s\n", base.c_str());
  for (const auto& [name, value] : OutputVariables(ComputeOutputs(base, *stores->registry))) {
    std::printf("%s=%s\n", name.c_str(), value.c_str());
  }
  if (dicom_listener) {
    std::printf("dicom listening on %s:%d as AE %s\n", dicom_listener->host.c_str(),
                dicom_listener->port, config.dicom_aet.c_str());
  }
  std::fflush(stdout);
  spdlog::info("imgpipe {} serving on {} (data: {}, store: {}, {})", IMGPIPE_VERSION, base,
               config.data_dir, stores->db->Describe(), stores->blobs->Describe());
  (*server)->Wait();
  if (dicom_listener) dicom_listener->listener->Stop();
  if (workers) workers->Stop();  // running jobs go back to their queues at once
  if (exports) exports->Stop();  // sends in progress end (each has its timeout)
  if (consumer) consumer->Stop();
  stores->rules->Stop();
  spdlog::info("imgpipe stopped");
  return 0;
}

int RunEnv(const Config& config, bool powershell) {
  std::string host;
  uint16_t port = 0;
  if (auto st = ParseListen(config.listen, &host, &port); !st.ok()) {
    std::fprintf(stderr, "imgpipe: %s\n", st.message().c_str());
    return 2;
  }
  // The algorithms `serve` would register with this configuration.
  auto registry = algorithms::Registry::WithBuiltIns();
  if (!config.external_algorithms_dir.empty()) {
    if (auto st = algorithms::LoadExternalAlgorithms(config.external_algorithms_dir, *registry);
        !st.ok()) {
      std::fprintf(stderr, "imgpipe: algorithms.external_dir: %s\n", st.message().c_str());
      return 1;
    }
  }
  for (const auto& [name, value] :
       OutputVariables(ComputeOutputs(PublicBaseUrl(host, port), *registry))) {
    if (powershell) {
      std::printf("$Env:%s = \"%s\"\n", name.c_str(), value.c_str());
    } else {
      std::printf("export %s=%s\n", name.c_str(), value.c_str());
    }
  }
  return 0;
}

}  // namespace imgpipe::app
