#include "jobs/jobs.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "core/ids.h"
#include "core/log.h"
#include "core/sha256.h"
#include "core/uid.h"
#include "jobs/export_store.h"
#include "jobs/job_store.h"
#include "metrics/metrics.h"

namespace imgpipe::jobs {
namespace {

using core::Result;
using core::Status;

constexpr size_t kMaxIdempotencyKeyLength = 100;
constexpr int kMaxListLimit = 1000;

bool IsValidIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxIdempotencyKeyLength) return false;
  for (char c : key) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

Status CheckUid(std::string_view name, std::string_view value) {
  if (value.empty()) return Status::InvalidArgument(std::string(name) + " is required");
  if (!core::IsValidUid(value)) {
    return Status::InvalidArgument(std::string(name) + " is not a valid DICOM UID");
  }
  return Status::Ok();
}

// User input echoed in an error message, cut short.
std::string Quoted(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out = "'";
  out += s.substr(0, kMax);
  if (s.size() > kMax) out += "...";
  out += "'";
  return out;
}

// Jobs by algorithm: submitted, terminal by outcome, run time and submit-to-result latency.
struct JobMetrics {
  metrics::Family<metrics::Counter>& submitted = metrics::Global().CounterFamily(
      "imgpipe_jobs_submitted_total", "Jobs accepted by the router (202), by algorithm.",
      {"algorithm"});
  metrics::Family<metrics::Counter>& finished = metrics::Global().CounterFamily(
      "imgpipe_jobs_total",
      "Jobs that reached a terminal status, by algorithm and outcome (succeeded, failed, "
      "cancelled).",
      {"algorithm", "outcome"});
  metrics::Family<metrics::Histogram>& duration = metrics::Global().HistogramFamily(
      "imgpipe_job_duration_seconds",
      "Time a worker took to run a job (load, algorithm, outputs), by algorithm.", {"algorithm"},
      metrics::LatencyBuckets());
  metrics::Family<metrics::Histogram>& end_to_end = metrics::Global().HistogramFamily(
      "imgpipe_job_end_to_end_seconds",
      "Time from the job's submission to its result on the results queue, by algorithm.",
      {"algorithm"}, metrics::LatencyBuckets());
};

JobMetrics& Metrics() {
  static JobMetrics* m = new JobMetrics();
  return *m;
}

// Counts a job that just became terminal at `now_ms`.
void CountTerminal(const JobRecord& job, double run_ms, int64_t now_ms) {
  Metrics().finished.Labels({job.algorithm, job.status}).Inc();
  if (run_ms > 0) Metrics().duration.Labels({job.algorithm}).Observe(run_ms / 1000);
  if (job.created_at_ms > 0) {
    Metrics()
        .end_to_end.Labels({job.algorithm})
        .Observe(static_cast<double>(std::max<int64_t>(0, now_ms - job.created_at_ms)) / 1000);
  }
}

}  // namespace

std::string QueueName(std::string_view algorithm) { return "algo." + std::string(algorithm); }

bool IsTerminal(std::string_view status) {
  return status == kStatusSucceeded || status == kStatusFailed || status == kStatusCancelled;
}

std::string ResultMessageBody(const JobRecord& job) {
  boost::json::object m;
  m["type"] = "result";
  m["job_id"] = job.job_id;
  m["algorithm"] = job.algorithm;
  m["status"] = job.status;
  if (job.status == kStatusSucceeded) {
    m["outputs"] = boost::json::parse(job.outputs_json);
    m["summary"] = boost::json::parse(job.summary_json);
    m["duration_ms"] = job.duration_ms;
  } else {
    m["error"] = {{"code", job.error_code}, {"message", job.error}};
  }
  return boost::json::serialize(m);
}

JobService::JobService(db::Database& db, queue::QueueService& queues, pacs::Pacs& pacs,
                       const algorithms::Registry& registry, JobServiceOptions options)
    : db_(db), queues_(queues), pacs_(pacs), registry_(registry), options_(std::move(options)) {
  Metrics();  // the job metrics exist from the start (empty until the first job)
}

Result<std::unique_ptr<JobService>> JobService::Create(db::Database& db,
                                                       queue::QueueService& queues,
                                                       pacs::Pacs& pacs,
                                                       const JobServiceOptions& options,
                                                       const algorithms::Registry& registry) {
  IMGPIPE_RETURN_IF_ERROR(internal::MigrateSchema(db));
  IMGPIPE_RETURN_IF_ERROR(internal::MigrateExportSchema(db));
  for (const algorithms::Algorithm* algorithm : registry.List()) {
    IMGPIPE_RETURN_IF_ERROR(
        queues.EnsureQueue(QueueName(algorithm->info().name), options.queue_options));
  }
  IMGPIPE_RETURN_IF_ERROR(queues.EnsureQueue(kResultsQueue, options.queue_options));
  IMGPIPE_RETURN_IF_ERROR(queues.EnsureQueue(kExportQueue, options.export_queue_options));
  IMGPIPE_ASSIGN_OR_RETURN(std::string secret, internal::ServerSecret(db, "run_key_secret", [] {
                             return core::RandomUrlSafeToken(32);
                           }));
  std::unique_ptr<JobService> service(new JobService(db, queues, pacs, registry, options));
  service->server_secret_ = std::move(secret);
  return service;
}

int64_t JobService::NowMs() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::string> JobService::Provision() {
  std::string client_id = core::RandomUrlSafeToken(16);
  const int64_t now = NowMs();
  IMGPIPE_RETURN_IF_ERROR(db_.Write(/*durable=*/true, [&](db::Transaction& tx) {
    return internal::InsertClient(tx, client_id, now);
  }));
  core::ScopedLogFields fields({.client = core::ShortHash(client_id)});
  spdlog::info("jobs: provisioned client");
  return client_id;
}

Result<bool> JobService::ClientExists(std::string_view client_id) {
  if (client_id.empty()) return false;
  if (known_clients_.Contains(client_id)) return true;
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  IMGPIPE_ASSIGN_OR_RETURN(bool known, internal::ClientExists(*tx, client_id));
  if (known) known_clients_.Add(client_id);
  return known;
}

Result<JobRecord> JobService::Validate(const SubmitRequest& request) {
  const algorithms::Algorithm* algorithm = registry_.Find(request.algorithm);
  if (algorithm == nullptr) {
    return Status::NotFound("unknown algorithm " + Quoted(request.algorithm));
  }
  const algorithms::AlgorithmInfo& info = algorithm->info();
  const std::string& scope = request.scope;
  if (scope != "image" && scope != "series" && scope != "study") {
    return Status::InvalidArgument("scope must be one of image, series, study (got " +
                                   Quoted(scope) + ")");
  }
  if (std::find(info.scopes.begin(), info.scopes.end(), scope) == info.scopes.end()) {
    return Status::InvalidArgument("algorithm " + info.name + " does not accept scope " + scope);
  }
  IMGPIPE_ASSIGN_OR_RETURN(algorithms::Params params,
                           algorithms::ValidateParams(info, request.params));

  JobRecord job;
  job.client_id = request.client_id;
  job.algorithm = info.name;
  job.scope = scope;
  job.params_json = boost::json::serialize(params.ToJson());
  job.study_id = request.study_id;
  IMGPIPE_RETURN_IF_ERROR(CheckUid("study_id", job.study_id));
  if (scope != "study") {
    job.series_id = request.series_id;
    IMGPIPE_RETURN_IF_ERROR(CheckUid("series_id", job.series_id));
  }
  if (scope == "image") {
    job.image_id = request.image_id;
    IMGPIPE_RETURN_IF_ERROR(CheckUid("image_id", job.image_id));
    IMGPIPE_RETURN_IF_ERROR(pacs_.GetInstance(job.study_id, job.series_id, job.image_id).status());
  } else if (scope == "series") {
    IMGPIPE_RETURN_IF_ERROR(pacs_.GetSeries(job.study_id, job.series_id).status());
  } else {
    IMGPIPE_RETURN_IF_ERROR(pacs_.GetStudy(job.study_id).status());
  }
  IMGPIPE_RETURN_IF_ERROR(
      internal::CheckExportNames(options_.export_destinations, request.export_to));
  for (const std::string& destination : request.export_to) {
    ExportRecord& e = job.exports.emplace_back();
    e.destination = destination;
    e.status = std::string(kExportWaiting);
  }
  std::sort(
      job.exports.begin(), job.exports.end(),
      [](const ExportRecord& a, const ExportRecord& b) { return a.destination < b.destination; });
  return job;
}

Result<SubmitResult> JobService::Submit(const SubmitRequest& request) {
  IMGPIPE_ASSIGN_OR_RETURN(bool known, ClientExists(request.client_id));
  if (!known) return Status::Unauthenticated("unknown client_id");
  const std::optional<std::string>& key = request.idempotency_key;
  if (key) {
    if (!IsValidIdempotencyKey(*key)) {
      return Status::InvalidArgument(
          "the idempotency key must be 1..100 printable ASCII characters");
    }
    IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
    IMGPIPE_ASSIGN_OR_RETURN(auto first,
                             internal::FindByIdempotencyKey(*tx, request.client_id, *key));
    if (first) return SubmitResult{std::move(*first), true};
  }

  IMGPIPE_ASSIGN_OR_RETURN(JobRecord job, Validate(request));
  IMGPIPE_ASSIGN_OR_RETURN(std::vector<std::string> recipients, CheckRecipients(request));
  if (const int64_t cap = options_.max_active_jobs_per_client; cap > 0) {
    IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
    IMGPIPE_ASSIGN_OR_RETURN(int64_t active,
                             internal::CountActiveJobs(*tx, request.client_id, cap));
    if (active >= cap) {
      return Status::ResourceExhausted("this client has " + std::to_string(active) +
                                       " jobs queued or running (limit " + std::to_string(cap) +
                                       "); wait for some to finish");
    }
  }
  const std::string queue_name = QueueName(job.algorithm);
  if (options_.max_queue_depth > 0) {
    IMGPIPE_ASSIGN_OR_RETURN(queue::QueueStats stats, queues_.Stats(queue_name));
    if (stats.visible >= options_.max_queue_depth) {
      return Status::ResourceExhausted("queue " + queue_name + " is full (" +
                                       std::to_string(stats.visible) + " jobs waiting, limit " +
                                       std::to_string(options_.max_queue_depth) + "); retry later");
    }
  }

  job.job_id = core::NewUuidV7();
  job.status = std::string(kStatusQueued);
  job.created_at_ms = job.updated_at_ms = NowMs();
  std::vector<std::string> export_to;
  for (ExportRecord& e : job.exports) {
    e.updated_at_ms = job.created_at_ms;
    export_to.push_back(e.destination);
  }
  queue::OutgoingMessage message;
  boost::json::object body;
  body["job_id"] = job.job_id;
  message.body = boost::json::serialize(body);
  message.group_id = job.client_id;
  message.dedup_id = key ? job.client_id + ":" + *key : job.job_id;

  std::optional<JobRecord> first;  // set when a concurrent submit with the key won
  IMGPIPE_RETURN_IF_ERROR(db_.Write(/*durable=*/true, [&](db::Transaction& tx) -> Status {
    first.reset();
    IMGPIPE_ASSIGN_OR_RETURN(bool inserted, internal::InsertJob(tx, job, key));
    if (!inserted) {
      // A concurrent submit with the same key committed first: its job is the answer.
      IMGPIPE_ASSIGN_OR_RETURN(first, internal::FindByIdempotencyKey(tx, job.client_id, *key));
      if (!first) return Status::Internal("idempotency key conflict without a job");
      return Status::Ok();
    }
    IMGPIPE_RETURN_IF_ERROR(internal::InsertRecipients(tx, job.job_id, recipients));
    IMGPIPE_ASSIGN_OR_RETURN(queue::SendResult sent,
                             queues_.SendInTransaction(tx, queue_name, message));
    if (sent.duplicate) {
      // The queue saw this dedup id within its window but no job row has it: refuse rather
      // than create a job without a message (the transaction rolls back).
      return Status::Conflict("the idempotency key was used recently for another request");
    }
    return internal::InsertExports(tx, job.job_id, export_to, job.created_at_ms);
  }));
  if (first) return SubmitResult{std::move(*first), true};
  Metrics().submitted.Labels({job.algorithm}).Inc();

  queues_.NotifyCommitted(queue_name);
  core::ScopedLogFields fields(
      {.job_id = job.job_id,
       .client = core::ShortHash(job.client_id),
       .extra = {{"algorithm", job.algorithm}, {"scope", job.scope}, {"queue", queue_name}}});
  spdlog::info("jobs: job submitted");
  return SubmitResult{std::move(job), false};
}

Result<JobRecord> JobService::GetJob(std::string_view job_id) {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  IMGPIPE_ASSIGN_OR_RETURN(auto job, internal::FindJob(*tx, job_id));
  if (!job) return Status::NotFound("no job " + Quoted(job_id));
  IMGPIPE_ASSIGN_OR_RETURN(job->exports, internal::ListExports(*tx, job_id));
  return std::move(*job);
}

Result<std::vector<JobRecord>> JobService::ListJobs(std::string_view client_id, int limit,
                                                    std::string_view status) {
  if (limit < 1 || limit > kMaxListLimit) {
    return Status::InvalidArgument("limit must be within 1..1000");
  }
  if (!status.empty() && status != kStatusQueued && status != kStatusRunning &&
      !IsTerminal(status)) {
    return Status::InvalidArgument(
        "status must be one of queued, running, succeeded, failed, cancelled");
  }
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  IMGPIPE_ASSIGN_OR_RETURN(bool known, internal::ClientExists(*tx, client_id));
  if (!known) return Status::Unauthenticated("unknown client_id");
  IMGPIPE_ASSIGN_OR_RETURN(std::vector<JobRecord> jobs,
                           internal::ListClientJobs(*tx, client_id, limit, status));
  std::vector<std::string> ids;
  for (const JobRecord& job : jobs) ids.push_back(job.job_id);
  IMGPIPE_ASSIGN_OR_RETURN(auto exports, internal::ExportsOf(*tx, ids));
  for (JobRecord& job : jobs) {
    if (auto it = exports.find(job.job_id); it != exports.end())
      job.exports = std::move(it->second);
  }
  return jobs;
}

Result<JobRecord> JobService::Cancel(std::string_view job_id, std::string_view client_id) {
  const int64_t now = NowMs();
  std::optional<JobRecord> job;
  IMGPIPE_RETURN_IF_ERROR(db_.Write(/*durable=*/true, [&](db::Transaction& tx) -> Status {
    IMGPIPE_ASSIGN_OR_RETURN(job, internal::FindJob(tx, job_id));
    if (!job) return Status::NotFound("no job " + Quoted(job_id));
    if (job->client_id != client_id) return Status::PermissionDenied("not this client's job");
    if (IsTerminal(job->status)) {
      return Status::Conflict("job " + job->job_id + " is already " + job->status);
    }
    IMGPIPE_ASSIGN_OR_RETURN(bool changed, internal::CancelJob(tx, job_id, now));
    if (!changed) return Status::Conflict("job " + job->job_id + " has just finished");
    IMGPIPE_ASSIGN_OR_RETURN(job, internal::FindJob(tx, job_id));
    IMGPIPE_RETURN_IF_ERROR(internal::SettleExports(tx, queues_, *job, now).status());
    IMGPIPE_ASSIGN_OR_RETURN(job->exports, internal::ListExports(tx, job_id));
    return SendResult(tx, *job);
  }));
  CountTerminal(*job, 0, now);
  queues_.NotifyCommitted(kResultsQueue);
  {
    core::ScopedLogFields fields({.job_id = job->job_id, .client = core::ShortHash(client_id)});
    spdlog::info("jobs: job cancelled");
  }
  if (cancel_listener_) cancel_listener_(job->job_id);
  return std::move(*job);
}

void JobService::SetCancelListener(std::function<void(const std::string&)> listener) {
  cancel_listener_ = std::move(listener);
}

std::string JobService::RunKey(std::string_view job_id) const {
  return core::ToHex(core::Sha256Of(server_secret_ + "/" + std::string(job_id)));
}

Status JobService::SendResult(db::Transaction& tx, const JobRecord& job) {
  return SendToEveryone(tx, job, ResultMessageBody(job), job.job_id);
}

Status JobService::AckIn(db::Transaction& tx, const std::optional<MessageAck>& ack) {
  if (!ack) return Status::Ok();
  Status acked = queues_.DeleteInTransaction(tx, ack->queue, ack->receipt);
  return acked.code() == core::StatusCode::kNotFound ? Status::Ok() : acked;
}

Result<std::optional<JobRecord>> JobService::StartRun(std::string_view job_id, int attempt) {
  const int64_t now = NowMs();
  std::optional<JobRecord> job;
  IMGPIPE_RETURN_IF_ERROR(db_.Write(/*durable=*/false, [&](db::Transaction& tx) -> Status {
    IMGPIPE_ASSIGN_OR_RETURN(job, internal::StartRun(tx, job_id, attempt, now));
    return Status::Ok();
  }));
  return job;
}

Result<bool> JobService::Finish(std::string_view job_id, const JobOutcome& outcome,
                                std::optional<MessageAck> ack) {
  const int64_t now = NowMs();
  bool changed = false;
  int exports_queued = 0;
  std::optional<JobRecord> finished;
  IMGPIPE_RETURN_IF_ERROR(db_.Write(/*durable=*/true, [&](db::Transaction& tx) -> Status {
    IMGPIPE_RETURN_IF_ERROR(AckIn(tx, ack));
    IMGPIPE_ASSIGN_OR_RETURN(changed, internal::FinishJob(tx, job_id, outcome, now));
    if (!changed) return Status::Ok();
    IMGPIPE_ASSIGN_OR_RETURN(finished, internal::FindJob(tx, job_id));
    if (!finished) return Status::Internal("finished job vanished");
    IMGPIPE_ASSIGN_OR_RETURN(exports_queued, internal::SettleExports(tx, queues_, *finished, now));
    return SendResult(tx, *finished);
  }));
  if (ack) queues_.NotifyCommitted(ack->queue);  // the client's next job may go now
  if (changed) {
    CountTerminal(*finished, outcome.duration_ms, now);
    queues_.NotifyCommitted(kResultsQueue);
    if (exports_queued > 0) queues_.NotifyCommitted(kExportQueue);
  }
  return changed;
}

Status JobService::ReportProgress(std::string_view job_id, int done, int total) {
  const int64_t now = NowMs();
  bool changed = false;
  IMGPIPE_RETURN_IF_ERROR(db_.Write(/*durable=*/false, [&](db::Transaction& tx) -> Status {
    IMGPIPE_ASSIGN_OR_RETURN(changed, internal::SetProgress(tx, job_id, done, total, now));
    if (!changed) return Status::Ok();
    IMGPIPE_ASSIGN_OR_RETURN(auto job, internal::FindJob(tx, job_id));
    if (!job) return Status::Internal("running job vanished");
    boost::json::object body{
        {"type", "progress"}, {"job_id", job->job_id}, {"done", done}, {"total", total}};
    return SendToEveryone(tx, *job, boost::json::serialize(body),
                          job->job_id + ":progress:" + std::to_string(done));
  }));
  if (changed) queues_.NotifyCommitted(kResultsQueue);
  return Status::Ok();
}

Status JobService::MarkRetrying(std::string_view job_id, std::string_view why) {
  const int64_t now = NowMs();
  return db_.Write(/*durable=*/false,
                   [&](db::Transaction& tx) { return internal::RequeueJob(tx, job_id, why, now); });
}

Result<std::vector<std::string>> JobService::CancelledAmong(
    const std::vector<std::string>& job_ids) {
  if (job_ids.empty()) return std::vector<std::string>();
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  return internal::CancelledAmong(*tx, job_ids);
}

}  // namespace imgpipe::jobs
