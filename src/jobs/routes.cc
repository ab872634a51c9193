// The processing API's handlers. Each returns Result<Response>; errors become the JSON error
// response of http::ErrorResponse in one place (Bind).
#include "jobs/routes.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <memory>

#include "core/ids.h"
#include "jobs/worker_internal.h"

namespace imgpipe::jobs {
namespace {

namespace json = boost::json;
using core::Result;
using core::Status;
using http::Request;
using http::Response;

using ResultHandler = std::function<Result<Response>(Request&)>;

http::Handler Bind(ResultHandler fn) {
  return [fn = std::move(fn)](Request& request) {
    Result<Response> response = fn(request);
    if (!response.ok()) return http::ErrorResponse(response.status());
    return std::move(response).value();
  };
}

Response JsonOf(int status, const json::value& body) {
  return Response::Json(status, json::serialize(body));
}

// The asking client: header X-Client-Id, else query parameter client_id. Unauthenticated when
// missing or unknown.
Result<std::string> AskingClient(const Request& request, JobService& jobs) {
  std::optional<std::string_view> id = request.Header("x-client-id");
  if (!id) id = request.Query("client_id");
  if (!id || id->empty()) {
    return Status::Unauthenticated("client_id is required (X-Client-Id header or query)");
  }
  IMGPIPE_ASSIGN_OR_RETURN(bool known, jobs.ClientExists(*id));
  if (!known) return Status::Unauthenticated("unknown client_id");
  return std::string(*id);
}

// The job, if the asking client owns it or is one of its recipients (404 / 403 otherwise).
Result<JobRecord> ReadableJob(const Request& request, JobService& jobs) {
  IMGPIPE_ASSIGN_OR_RETURN(std::string client, AskingClient(request, jobs));
  IMGPIPE_ASSIGN_OR_RETURN(JobRecord job, jobs.GetJob(request.PathParam("job_id")));
  IMGPIPE_ASSIGN_OR_RETURN(bool may_read, jobs.MayRead(job, client));
  if (!may_read) return Status::PermissionDenied("not this client's job");
  return job;
}

Result<json::object> ParseJsonObject(const Request& request, const RoutesOptions& options) {
  if (request.body.size() > options.max_json_bytes) {
    return Status::PayloadTooLarge("the JSON body is larger than " +
                                   std::to_string(options.max_json_bytes) + " bytes");
  }
  if (auto type = request.Header("content-type");
      type && type->find("json") == std::string_view::npos) {
    return Status::UnsupportedMediaType("the body must be application/json");
  }
  json::parse_options parse_options;
  parse_options.max_depth = static_cast<std::size_t>(options.max_json_depth);
  boost::system::error_code ec;
  json::monotonic_resource resource;
  json::value value = json::parse(request.body, ec, &resource, parse_options);
  if (ec) return Status::InvalidArgument("the body is not valid JSON: " + ec.message());
  if (!value.is_object()) return Status::InvalidArgument("the body must be a JSON object");
  // Copied out of the parse arena into default storage (a plain copy would keep pointing at
  // `resource`, which dies here).
  return json::object(value.as_object(), json::storage_ptr());
}

// A string member of the body; absent or null gives "" (the validation says what is missing).
Result<std::string> StringField(const json::object& body, std::string_view name) {
  const json::value* v = body.if_contains(name);
  if (v == nullptr || v->is_null()) return std::string();
  if (!v->is_string()) return Status::InvalidArgument(std::string(name) + " must be a string");
  return std::string(v->as_string());
}

// The rate limiters of one RegisterRoutes call, shared by its handlers.
struct Limits {
  explicit Limits(const RoutesOptions& o)
      : submits_per_client(o.submits_per_client),
        submits_per_address(o.submits_per_address),
        provisions_per_address(o.provisions_per_address),
        trusted_proxies(o.trusted_proxies) {}
  core::RateLimiter submits_per_client, submits_per_address, provisions_per_address;
  const std::vector<std::string> trusted_proxies;
};

Result<Response> Process(Request& request, JobService& jobs, const RoutesOptions& options,
                         Limits& limits) {
  IMGPIPE_ASSIGN_OR_RETURN(json::object body, ParseJsonObject(request, options));
  for (const auto& [key, value] : body) {
    static constexpr std::string_view kKnown[] = {"study_id",  "series_id", "image_id", "scope",
                                                  "client_id", "params",    "export"};
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      return Status::InvalidArgument("unknown field '" + std::string(key) + "'");
    }
  }
  SubmitRequest r;
  r.algorithm = request.PathParam("algorithm");
  IMGPIPE_ASSIGN_OR_RETURN(r.study_id, StringField(body, "study_id"));
  IMGPIPE_ASSIGN_OR_RETURN(r.series_id, StringField(body, "series_id"));
  IMGPIPE_ASSIGN_OR_RETURN(r.image_id, StringField(body, "image_id"));
  IMGPIPE_ASSIGN_OR_RETURN(r.scope, StringField(body, "scope"));
  if (r.scope.empty()) r.scope = "image";
  IMGPIPE_ASSIGN_OR_RETURN(r.client_id, StringField(body, "client_id"));
  if (r.client_id.empty()) {
    if (auto header = request.Header("x-client-id")) r.client_id = *header;
  }
  if (r.client_id.empty()) return Status::Unauthenticated("client_id is required");
  // Keyed by the id as sent: an unknown id gets its 401 from Submit once within the limit (the
  // limiter's memory is bounded whatever ids arrive).
  if (auto wait = limits.submits_per_client.Take(r.client_id); wait.count() > 0) {
    return http::TooManyRequests("too many submissions for this client", wait);
  }
  if (const json::value* params = body.if_contains("params")) r.params = *params;
  if (const json::value* to = body.if_contains("export"); to != nullptr && !to->is_null()) {
    if (!to->is_array()) {
      return Status::InvalidArgument("export must be an array of destination names");
    }
    for (const json::value& name : to->as_array()) {
      if (!name.is_string()) {
        return Status::InvalidArgument("export must be an array of destination names");
      }
      r.export_to.emplace_back(name.as_string());
    }
  }
  if (auto key = request.Header("idempotency-key")) r.idempotency_key = std::string(*key);
  IMGPIPE_ASSIGN_OR_RETURN(SubmitResult submitted, jobs.Submit(r));
  Response response =
      JsonOf(202, json::object{{"job_id", submitted.job.job_id}, {"status", submitted.job.status}});
  response.SetHeader("Location", "/api/jobs/" + submitted.job.job_id);
  if (submitted.existing) response.SetHeader("Idempotent-Replayed", "true");
  return response;
}

// Query parameter "limit": `fallback` when absent; InvalidArgument unless an integer in 1..1000.
Result<int> LimitParam(const Request& request, int fallback) {
  auto text = request.Query("limit");
  if (!text) return fallback;
  int limit = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
  if (ec != std::errc() || end != text->data() + text->size() || limit < 1 || limit > 1000) {
    return Status::InvalidArgument("limit must be an integer within 1..1000");
  }
  return limit;
}

Result<Response> ListJobs(Request& request, JobService& jobs) {
  IMGPIPE_ASSIGN_OR_RETURN(std::string client, AskingClient(request, jobs));
  IMGPIPE_ASSIGN_OR_RETURN(int limit, LimitParam(request, 50));
  std::string_view status = request.Query("status").value_or("");
  IMGPIPE_ASSIGN_OR_RETURN(auto list, jobs.ListJobs(client, limit, status));
  json::array out;
  for (const JobRecord& job : list) out.push_back(JobJson(job));
  return JsonOf(200, json::object{{"jobs", std::move(out)}});
}

Result<Response> ServeResult(Request& request, JobService& jobs, blob::BlobStore& blobs) {
  IMGPIPE_ASSIGN_OR_RETURN(JobRecord job, ReadableJob(request, jobs));
  std::string_view name = request.PathParam("name");
  std::string key = internal::ResultKey(job.job_id, name);
  if (name.empty() || name.size() > 200 || !blob::IsValidKey(key)) {
    return Status::InvalidArgument("not a result name");
  }
  Result<std::string> bytes = blobs.Get(key);
  if (!bytes.ok() && bytes.status().code() == core::StatusCode::kNotFound) {
    return Status::NotFound("job " + job.job_id + " has no output " + std::string(name));
  }
  IMGPIPE_RETURN_IF_ERROR(bytes.status());
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  std::string type = ends_with(".png")    ? "image/png"
                     : ends_with(".dcm")  ? "application/dicom"
                     : ends_with(".json") ? "application/json"
                     : ends_with(".txt")  ? "text/plain; charset=utf-8"
                                          : "application/octet-stream";
  Response response = Response::Bytes(200, type, std::move(*bytes));
  // Outputs never change once the job has succeeded; they are the client's alone.
  response.SetHeader("Cache-Control", "private, max-age=31536000, immutable");
  if (ends_with(".dcm")) {
    response.SetHeader("Content-Disposition", "attachment; filename=\"" + job.job_id + "-" +
                                                  std::string(name.substr(name.rfind('/') + 1)) +
                                                  "\"");
  }
  return response;
}

json::object QueueJson(std::string_view name, const queue::QueueStats& s) {
  return {{"name", name},
          {"url", "/api/queues/" + std::string(name)},
          {"visible", s.visible},
          {"in_flight", s.in_flight},
          {"oldest_age_ms", s.oldest_age_ms},
          {"dead_letters", s.dead_letters},
          {"sent", s.sent},
          {"received", s.received},
          {"deleted", s.deleted}};
}

// An existing queue's name, from the path: NotFound for others (no queue is created by asking).
Result<std::string> KnownQueue(const Request& request, queue::QueueService& queues) {
  std::string name(request.PathParam("name"));
  IMGPIPE_ASSIGN_OR_RETURN(std::vector<std::string> names, queues.ListQueues());
  if (name.ends_with(".dlq") || std::find(names.begin(), names.end(), name) == names.end()) {
    return Status::NotFound("no queue " + name);
  }
  return name;
}

// Dead letters without their bodies: a body holds its client's id, a capability.
Result<Response> ListDeadLetters(const Request& request, queue::QueueService& queues) {
  IMGPIPE_ASSIGN_OR_RETURN(std::string name, KnownQueue(request, queues));
  IMGPIPE_ASSIGN_OR_RETURN(int limit, LimitParam(request, 100));
  IMGPIPE_ASSIGN_OR_RETURN(std::vector<queue::Message> letters,
                           queues.ListDeadLetters(name, limit));
  json::array out;
  for (const queue::Message& m : letters) {
    out.push_back(json::object{{"message_id", m.message_id},
                               {"job_id", m.dedup_id},
                               {"client", core::ShortHash(m.group_id)},
                               {"receive_count", m.receive_count},
                               {"sent_at_ms", m.sent_at_ms},
                               {"reason", m.dead_letter_reason}});
  }
  return JsonOf(200, json::object{{"queue", name}, {"dead_letters", std::move(out)}});
}

Result<Response> Redrive(const Request& request, queue::QueueService& queues) {
  IMGPIPE_ASSIGN_OR_RETURN(std::string name, KnownQueue(request, queues));
  IMGPIPE_ASSIGN_OR_RETURN(int limit, LimitParam(request, 1000));
  IMGPIPE_ASSIGN_OR_RETURN(int64_t moved, queues.Redrive(name, limit));
  spdlog::info("re-drove {} dead letters back to {}", moved, name);
  return JsonOf(200, json::object{{"queue", name}, {"redriven", moved}});
}

Result<Response> ListQueues(queue::QueueService& queues) {
  IMGPIPE_ASSIGN_OR_RETURN(std::vector<std::string> names, queues.ListQueues());
  json::array out;
  for (const std::string& name : names) {
    if (name.size() > 4 && name.substr(name.size() - 4) == ".dlq") continue;  // in their queue's
    IMGPIPE_ASSIGN_OR_RETURN(queue::QueueStats stats, queues.Stats(name));
    out.push_back(QueueJson(name, stats));
  }
  return JsonOf(200, json::object{{"queues", std::move(out)}});
}

}  // namespace

json::object JobJson(const JobRecord& job) {
  boost::system::error_code ec;
  json::object o{{"job_id", job.job_id},
                 {"algorithm", job.algorithm},
                 {"study_id", job.study_id},
                 {"series_id", job.series_id},
                 {"image_id", job.image_id},
                 {"scope", job.scope},
                 {"params", json::parse(job.params_json, ec)},
                 {"status", job.status},
                 {"progress", {{"done", job.progress_done}, {"total", job.progress_total}}},
                 {"attempts", job.attempts},
                 {"outputs", json::parse(job.outputs_json, ec)},
                 {"summary", json::parse(job.summary_json, ec)},
                 {"created_at_ms", job.created_at_ms},
                 {"started_at_ms", job.started_at_ms},
                 {"finished_at_ms", job.finished_at_ms},
                 {"duration_ms", job.duration_ms}};
  json::array exports;
  for (const ExportRecord& e : job.exports) {
    exports.push_back(
        json::object{{"destination", e.destination},
                     {"status", e.status},
                     {"attempts", e.attempts},
                     {"error", e.error.empty() ? json::value() : json::value(e.error)},
                     {"sent", e.sent},
                     {"updated_at_ms", e.updated_at_ms}});
  }
  o["exports"] = std::move(exports);
  if (job.error.empty()) {
    o["error"] = nullptr;
  } else {
    o["error"] = {{"code", job.error_code}, {"message", job.error}};
  }
  return o;
}

void RegisterRoutes(http::Router& router, JobService& jobs, queue::QueueService& queues,
                    blob::BlobStore& blobs, const algorithms::Registry& registry,
                    const RoutesOptions& options) {
  auto limits = std::make_shared<Limits>(options);
  router.Add("POST", "/api/provision", [&jobs, limits](Request& r) -> Response {
    std::string address = http::ClientAddress(r, limits->trusted_proxies);
    if (auto wait = limits->provisions_per_address.Take(address); wait.count() > 0) {
      return http::TooManyRequests("too many clients provisioned from " + address, wait);
    }
    Result<std::string> client = jobs.Provision();
    if (!client.ok()) return http::ErrorResponse(client.status());
    return JsonOf(201, json::object{{"client_id", *client}});
  });
  router.Add("GET", "/api/algorithms", Bind([&registry](Request&) -> Result<Response> {
               json::array out;
               for (const algorithms::Algorithm* a : registry.List()) {
                 json::object info = algorithms::InfoJson(a->info());
                 info["queue"] = QueueName(a->info().name);
                 info["queue_url"] = "/api/queues/" + QueueName(a->info().name);
                 out.push_back(std::move(info));
               }
               return JsonOf(200, json::object{{"algorithms", std::move(out)}});
             }));
  router.Add("POST", "/api/process/{algorithm}", [&jobs, options, limits](Request& r) -> Response {
    std::string address = http::ClientAddress(r, limits->trusted_proxies);
    if (auto wait = limits->submits_per_address.Take(address); wait.count() > 0) {
      return http::TooManyRequests("too many submissions from " + address, wait);
    }
    Result<Response> response = Process(r, jobs, options, *limits);
    return response.ok() ? std::move(*response) : http::ErrorResponse(response.status());
  });
  router.Add("GET", "/api/jobs", Bind([&jobs](Request& r) { return ListJobs(r, jobs); }));
  router.Add("GET", "/api/jobs/{job_id}", Bind([&jobs](Request& r) -> Result<Response> {
               IMGPIPE_ASSIGN_OR_RETURN(JobRecord job, ReadableJob(r, jobs));
               return JsonOf(200, JobJson(job));
             }));
  router.Add("DELETE", "/api/jobs/{job_id}", Bind([&jobs](Request& r) -> Result<Response> {
               IMGPIPE_ASSIGN_OR_RETURN(std::string client, AskingClient(r, jobs));
               IMGPIPE_ASSIGN_OR_RETURN(JobRecord job, jobs.Cancel(r.PathParam("job_id"), client));
               return JsonOf(200, JobJson(job));
             }));
  router.Add("GET", "/api/results/{job_id}/{name...}",
             Bind([&jobs, &blobs](Request& r) { return ServeResult(r, jobs, blobs); }));
  router.Add("GET", "/api/queues", Bind([&queues](Request&) { return ListQueues(queues); }));
  router.Add("GET", "/api/queues/{name}", Bind([&queues](Request& r) -> Result<Response> {
               std::string name(r.PathParam("name"));
               IMGPIPE_ASSIGN_OR_RETURN(queue::QueueStats stats, queues.Stats(name));
               return JsonOf(200, QueueJson(name, stats));
             }));
  router.Add("GET", "/api/queues/{name}/dead-letters",
             Bind([&queues](Request& r) { return ListDeadLetters(r, queues); }));
  router.Add("POST", "/api/queues/{name}/redrive",
             Bind([&queues](Request& r) { return Redrive(r, queues); }));
}

}  // namespace imgpipe::jobs
