// imgpipe provision | jobs | queues, and the dispatch of the client's commands.
#include <boost/json.hpp>
#include <cstdio>

#include "app/client_common.h"
#include "app/commands.h"

namespace imgpipe::app {
namespace client {
namespace {

namespace json = boost::json;

std::string Text(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return "";
  if (v->is_string()) return std::string(v->as_string());
  return json::serialize(*v);
}

int64_t Int(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->as_double());
  return 0;
}

// Parses the command's flags and endpoints; returns kExitOk or the usage failure.
int Prepare(const Config& config, const std::map<std::string, std::string>& env,
            const std::vector<std::string>& words, const std::set<std::string>& with_value,
            const std::set<std::string>& boolean, const char* command, Args* args,
            Endpoints* endpoints) {
  std::string error;
  auto parsed = ParseArgs(words, with_value, boolean, &error);
  if (!parsed) return Fail(kExitUsage, std::string(command) + ": " + error);
  if (!parsed->positional.empty()) {
    return Fail(kExitUsage, std::string(command) + ": unexpected argument \"" +
                                parsed->positional.front() + "\"");
  }
  auto resolved = ResolveEndpoints(config, env, &error);
  if (!resolved) return Fail(kExitUsage, error);
  *args = std::move(*parsed);
  *endpoints = std::move(*resolved);
  return kExitOk;
}

}  // namespace

int RunProvision(const Config& config, const std::map<std::string, std::string>& env,
                 const std::vector<std::string>& words) {
  Args args;
  Endpoints endpoints;
  if (int rc = Prepare(config, env, words, {}, {"json"}, "provision", &args, &endpoints)) {
    return rc;
  }
  json::value reply;
  if (int rc = CallJson("POST", endpoints.api_base + "/provision", "", {}, &reply)) return rc;
  if (!reply.is_object() || !reply.as_object().if_contains("client_id") ||
      !reply.as_object().at("client_id").is_string()) {
    return Fail(kExitUnavailable, "POST /provision: the reply has no client_id");
  }
  const std::string id(reply.as_object().at("client_id").as_string());
  if (args.Has("json")) {
    std::printf("%s\n", json::serialize(json::object{{"client_id", id}}).c_str());
  } else {
    std::printf("%s\n", id.c_str());
  }
  return kExitOk;
}

int RunJobs(const Config& config, const std::map<std::string, std::string>& env,
            const std::vector<std::string>& words) {
  Args args;
  Endpoints endpoints;
  if (int rc = Prepare(config, env, words, {"client-id", "status", "limit"}, {"json"}, "jobs",
                       &args, &endpoints)) {
    return rc;
  }
  auto client_id = ClientIdFrom(args, env);
  if (!client_id) return Fail(kExitUsage, "jobs: --client-id (or IMGPIPE_CLIENT_ID) is required");
  std::string url = endpoints.api_base + "/jobs?client_id=" + UrlEncode(*client_id);
  if (auto status = args.Get("status")) url += "&status=" + UrlEncode(*status);
  if (auto limit = args.Get("limit")) url += "&limit=" + UrlEncode(*limit);
  json::value reply;
  if (int rc = CallJson("GET", url, "", {}, &reply)) return rc;
  if (args.Has("json")) {
    std::printf("%s\n", json::serialize(reply).c_str());
    return kExitOk;
  }
  const json::value* jobs = reply.is_object() ? reply.as_object().if_contains("jobs") : nullptr;
  if (jobs == nullptr || !jobs->is_array()) {
    return Fail(kExitUnavailable, "GET /jobs: the reply has no jobs list");
  }
  std::vector<std::vector<std::string>> rows;
  for (const json::value& v : jobs->as_array()) {
    if (!v.is_object()) continue;
    const json::object& job = v.as_object();
    std::string progress;
    if (const json::value* p = job.if_contains("progress"); p && p->is_object()) {
      if (Int(p->as_object(), "total") > 0) {
        progress = std::to_string(Int(p->as_object(), "done")) + "/" +
                   std::to_string(Int(p->as_object(), "total"));
      }
    }
    std::string duration;
    if (const json::value* d = job.if_contains("duration_ms"); d && d->is_number()) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.1f ms", d->to_number<double>());
      duration = buf;
    }
    rows.push_back({Text(job, "job_id"), Text(job, "algorithm"), Text(job, "scope"),
                    Text(job, "status"), progress.empty() ? "-" : progress,
                    duration.empty() ? "-" : duration});
  }
  PrintTable({"JOB", "ALGORITHM", "SCOPE", "STATUS", "PROGRESS", "DURATION"}, rows);
  return kExitOk;
}

int RunQueues(const Config& config, const std::map<std::string, std::string>& env,
              const std::vector<std::string>& words) {
  Args args;
  Endpoints endpoints;
  if (int rc = Prepare(config, env, words, {}, {"json"}, "queues", &args, &endpoints)) return rc;
  json::value reply;
  if (int rc = CallJson("GET", endpoints.api_base + "/queues", "", {}, &reply)) return rc;
  if (args.Has("json")) {
    std::printf("%s\n", json::serialize(reply).c_str());
    return kExitOk;
  }
  const json::value* queues = reply.is_object() ? reply.as_object().if_contains("queues") : nullptr;
  if (queues == nullptr || !queues->is_array()) {
    return Fail(kExitUnavailable, "GET /queues: the reply has no queues list");
  }
  std::vector<std::vector<std::string>> rows;
  for (const json::value& v : queues->as_array()) {
    if (!v.is_object()) continue;
    const json::object& q = v.as_object();
    char oldest[32];
    std::snprintf(oldest, sizeof(oldest), "%.1f", Int(q, "oldest_age_ms") / 1000.0);
    rows.push_back({Text(q, "name"), std::to_string(Int(q, "visible")),
                    std::to_string(Int(q, "in_flight")), oldest,
                    std::to_string(Int(q, "dead_letters"))});
  }
  PrintTable({"QUEUE", "VISIBLE", "IN FLIGHT", "OLDEST (s)", "DLQ"}, rows);
  return kExitOk;
}

}  // namespace client

int RunClient(const std::string& command, const Config& config,
              const std::map<std::string, std::string>& env, const std::vector<std::string>& args) {
  if (command == "provision") return client::RunProvision(config, env, args);
  if (command == "process") return client::RunProcess(config, env, args);
  if (command == "jobs") return client::RunJobs(config, env, args);
  if (command == "queues") return client::RunQueues(config, env, args);
  return client::Fail(client::kExitUsage, "unknown client command \"" + command + "\"");
}

}  // namespace imgpipe::app
