// jobs: clients, job records and the router's submit path (issue 4). A client is provisioned
// (Provision) and submits jobs: Submit validates the request against the algorithm registry and
// the PACS, then creates the job row and sends its message to the algorithm's queue
// "algo.{algorithm}" in ONE database transaction, so a job exists exactly when its message does.
// Workers (later) receive from those queues and move the job's status on.
//
// Contract:
// - Client ids are 128-bit random, URL-safe capabilities (22 characters). They are never logged
//   whole (core::ShortHash tags them in logs).
// - Submit checks, in this order: the client exists (else Unauthenticated); the idempotency key,
//   when given, is well-formed (InvalidArgument) and, when that client used it before, the first
//   job is returned whatever the rest of the request (SubmitResult::existing, nothing sent, no
//   other check); the algorithm exists (NotFound); the scope is "image", "series" or "study" and
//   accepted by the algorithm (InvalidArgument); params match the algorithm's schema
//   (InvalidArgument); the ids the scope needs are valid UIDs (InvalidArgument) and name a stored
//   image / series / study (NotFound); every name of export_to is a configured export destination
//   (JobServiceOptions::export_destinations), named once (InvalidArgument); notify_clients holds
//   at most kMaxRecipients existing clients (InvalidArgument); the queue's visible
//   depth is under JobServiceOptions::max_queue_depth (ResourceExhausted). Ids below the scope
//   (image_id for "series"; series_id and image_id for "study") are ignored and stored empty.
// - Recipients (SubmitRequest::notify_clients, e.g. the subscribers of an automatic processing
//   rule): stored with the job (duplicates and the owner dropped). Every progress, result and
//   cancel message of the job goes to the owner AND to each recipient: one results-queue message
//   per client, group = that client, deduplication id as for the owner plus ":{client}" (so the
//   push side stores one event per client). A recipient may read the job and its outputs
//   (MayRead) but not cancel it; a replayed idempotent Submit keeps the first job's recipients.
// - The queue message: body {"job_id":...}, group = client_id, deduplication id = job id, or
//   "{client_id}:{idempotency_key}" when a key is given (scoped to the client, so two clients
//   choosing the same key never collide in the queue's dedup window). The unique
//   (client_id, idempotency_key) column is the first line of defence; the queue's dedup the second:
//   if the queue still holds the dedup id but no job row does, Submit fails with Conflict and
//   creates nothing.
// - Stored params are the validated ones, with defaults filled in.
// - Exports (JobRecord::exports): Submit stores one row per export_to destination, status
//   "waiting", with the job. Finish, in the outcome's transaction, moves them on: a succeeded job's
//   to "queued", each with a message on the durable queue "export" (body {"job_id",
//   "destination"}, group and dedup id = "{job_id}:{destination}"); a failed job's to
//   "skipped". Cancel skips them too. The exporter (src/exporter) then reports through
//   UpdateExport: "sending", "retrying" (with the error), and finally "sent" or "failed"; a final
//   status also puts {"type":"export","job_id","destination","status","error","sent"} on the
//   results queue (group = client_id), in the same transaction. The job's own status never changes
//   because of an export.
//
// Thread-safety: JobService is thread-safe (its only mutable state, the cancel listener, is set
// before use; the database serialises writes); share one per process. Its database, queue service,
// PACS and registry must outlive it.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "algorithms/algorithms.h"
#include "core/status.h"
#include "db/database.h"
#include "jobs/known_clients.h"
#include "pacs/pacs.h"
#include "queue/queue.h"

namespace imgpipe::jobs {

// Job statuses. Submit creates "queued"; a worker moves it to "running" (and back to "queued"
// while it waits for a retry), then to one of the terminal "succeeded", "failed", "cancelled".
inline constexpr std::string_view kStatusQueued = "queued";
inline constexpr std::string_view kStatusRunning = "running";
inline constexpr std::string_view kStatusSucceeded = "succeeded";
inline constexpr std::string_view kStatusFailed = "failed";
inline constexpr std::string_view kStatusCancelled = "cancelled";
bool IsTerminal(std::string_view status);

// The single FIFO results queue (DESIGN.md): one message per progress step and one terminal
// result per job, group = client_id.
inline constexpr std::string_view kResultsQueue = "results";

// The durable queue of pending exports (one message per job and destination).
inline constexpr std::string_view kExportQueue = "export";

// Export statuses, per job and destination: "waiting" (the job has not finished) -> "queued"
// (its message is on kExportQueue) -> "sending" -> "sent" | "retrying" (-> "sending" again) |
// "failed"; "skipped" when the job failed or was cancelled.
inline constexpr std::string_view kExportWaiting = "waiting";
inline constexpr std::string_view kExportQueued = "queued";
inline constexpr std::string_view kExportSending = "sending";
inline constexpr std::string_view kExportSent = "sent";
inline constexpr std::string_view kExportRetrying = "retrying";
inline constexpr std::string_view kExportFailed = "failed";
inline constexpr std::string_view kExportSkipped = "skipped";

// The queue of an algorithm: "algo.{algorithm}".
std::string QueueName(std::string_view algorithm);

struct SubmitRequest {
  std::string algorithm;
  std::string study_id, series_id, image_id;
  std::string scope;  // "image" | "series" | "study"
  std::string client_id;
  boost::json::value params;                   // a JSON object, or null for {}
  std::optional<std::string> idempotency_key;  // 1..100 printable ASCII characters
  std::vector<std::string> notify_clients;     // recipients besides client_id (see above)
  std::vector<std::string> export_to;          // configured export destinations' names
};

// The state of one export of a job's DICOM outputs to one destination.
struct ExportRecord {
  std::string destination;
  std::string status;  // kExportWaiting ...
  int attempts = 0;    // sending attempts so far
  std::string error;   // retrying / failed (or a partial failure): what went wrong
  int sent = 0;        // instances the destination accepted (last attempt)
  int64_t updated_at_ms = 0;
};

// What the exporter reports (JobService::UpdateExport).
struct ExportUpdate {
  std::string status;  // kExportSending, kExportRetrying, kExportSent or kExportFailed
  int attempts = 0;
  std::string error;
  int sent = 0;
};

// The most recipients a job may have (SubmitRequest::notify_clients).
inline constexpr size_t kMaxRecipients = 1000;

struct JobRecord {
  std::string job_id;  // a UUIDv7
  std::string client_id;
  std::string algorithm;
  std::string study_id, series_id, image_id;  // empty below the scope
  std::string scope;
  std::string params_json;  // the validated params, as a JSON object
  std::string status;
  std::string error_code;           // failed: a Status code name ("unprocessable", ...)
  std::string error;                // failed: what went wrong; queued again after a failure: why
  std::string outputs_json = "{}";  // succeeded: {"image": "/api/results/{job}/image.png", ...}
  std::string summary_json = "{}";  // succeeded: the algorithm's summary (numbers worth showing)
  int progress_done = 0;            // images done of progress_total (series and study scopes)
  int progress_total = 0;
  int attempts = 0;  // deliveries of the job's message so far
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t started_at_ms = 0;          // first start of a run; 0 before
  int64_t finished_at_ms = 0;         // terminal; 0 before
  double duration_ms = 0;             // the successful run's duration
  std::vector<ExportRecord> exports;  // by destination name; filled by GetJob, ListJobs, Cancel
};

// How a run ended (JobService::Finish).
struct JobOutcome {
  std::string status;           // kStatusSucceeded or kStatusFailed
  boost::json::object outputs;  // name -> URL
  boost::json::object summary;
  std::string error_code, error_message;  // failed
  double duration_ms = 0;
};

// The results-queue message of a terminal job, also the WebSocket "result" event without its
// seq: {"type":"result","job_id","algorithm","status","outputs","summary","duration_ms"} or, for
// failed and cancelled jobs, {"type":"result","job_id","algorithm","status","error":{"code",
// "message"}}.
std::string ResultMessageBody(const JobRecord& job);

struct SubmitResult {
  JobRecord job;
  bool existing = false;  // true: the idempotency key had been used; `job` is the first job
};

struct JobServiceOptions {
  // A submit is refused with ResourceExhausted when the algorithm's queue already holds this many
  // visible messages. 0 disables the check.
  int64_t max_queue_depth = 10'000;
  // A submit is refused with ResourceExhausted when the client already has this many jobs queued
  // or running (one client must not fill the queues for everyone). 0 disables the check.
  int64_t max_active_jobs_per_client = 0;
  // Options of every "algo.*" queue (EnsureQueue on creation).
  queue::QueueOptions queue_options;
  // The names of the configured export destinations (SubmitRequest::export_to checks against
  // them).
  std::set<std::string> export_destinations;
  // Options of the "export" queue. Its max_receive_count bounds deliveries whatever the exporter
  // decides; keep it above the destinations' max_attempts.
  queue::QueueOptions export_queue_options{.max_receive_count = 100};
  // Clock (Unix ms), for tests. Default: the system clock.
  std::function<int64_t()> now_ms;
};

class JobService {
 public:
  // Applies the jobs schema (db::Migrate) and ensures the queue of every algorithm of `registry`
  // (aliases included: each name is a queue of its own).
  static core::Result<std::unique_ptr<JobService>> Create(
      db::Database& db, queue::QueueService& queues, pacs::Pacs& pacs,
      const JobServiceOptions& options = {},
      const algorithms::Registry& registry = algorithms::Registry::BuiltIn());

  JobService(const JobService&) = delete;
  JobService& operator=(const JobService&) = delete;

  const JobServiceOptions& options() const { return options_; }

  // A new client id, stored.
  core::Result<std::string> Provision();
  core::Result<bool> ClientExists(std::string_view client_id);

  // See the contract above.
  core::Result<SubmitResult> Submit(const SubmitRequest& request);

  // NotFound when there is no such job. Callers check MayRead for the asking client.
  core::Result<JobRecord> GetJob(std::string_view job_id);
  // Whether `client_id` may read `job` and its outputs: its owner or one of its recipients.
  core::Result<bool> MayRead(const JobRecord& job, std::string_view client_id);
  // The job's recipients (not its owner), sorted.
  core::Result<std::vector<std::string>> Recipients(std::string_view job_id);
  // The client's jobs and the jobs it receives (notify_clients), newest first, only those with
  // `status` when it is not empty; limit
  // 1..1000 and status a known one (InvalidArgument otherwise); Unauthenticated when the client
  // does not exist.
  core::Result<std::vector<JobRecord>> ListJobs(std::string_view client_id, int limit,
                                                std::string_view status = {});

  // Cancels a queued or running job of `client_id`: status "cancelled" and its result message on
  // the results queue, in one transaction; then the cancel listener (a running worker stops it).
  // NotFound (no such job), PermissionDenied (another client's), Conflict (already terminal).
  core::Result<JobRecord> Cancel(std::string_view job_id, std::string_view client_id);
  // Called with the job id after every Cancel commits. Set once, before workers start.
  void SetCancelListener(std::function<void(const std::string&)> listener);

  // ---- The worker's side ----
  // StartRun, ReportProgress and MarkRetrying commit relaxed (db::TxMode::kWriteRelaxed): a
  // power failure may undo them, which only means the job runs again from its message. Finish
  // commits durably: once it returns, the outcome and its result message survive anything.
  // A secret for one job's pseudonyms (algorithms::RunContext::run_key): SHA-256 of a server
  // secret stored in the database (so every process agrees) and the job id, in hex.
  std::string RunKey(std::string_view job_id) const;
  // queued/running -> running, attempts = `attempt`, started_at set on the first start. nullopt
  // when the job is missing or terminal (the worker then just acknowledges its message).
  core::Result<std::optional<JobRecord>> StartRun(std::string_view job_id, int attempt);
  // queued/running -> outcome.status, and the result message sent to the results queue (group
  // = client_id, dedup id = job id), in one transaction. false, with nothing changed, when the job
  // was already terminal (cancelled while it ran): the caller discards its outputs.
  // `ack`: the request message, deleted in the same transaction (whether or not the job changed),
  // so a recorded outcome never leaves its message behind, nor the reverse; a stale receipt
  // (the lease ran out and the message went to another worker) does not fail the outcome.
  struct MessageAck {
    std::string_view queue;
    std::string_view receipt;
  };
  core::Result<bool> Finish(std::string_view job_id, const JobOutcome& outcome,
                            std::optional<MessageAck> ack = std::nullopt);
  // Progress of a series or study job: the job row and a {"type":"progress","job_id","done",
  // "total"} message on the results queue, in one transaction. No-op unless the job is running.
  core::Status ReportProgress(std::string_view job_id, int done, int total);
  // running -> queued with `why` in error: the worker failed transiently and the message will be
  // delivered again.
  core::Status MarkRetrying(std::string_view job_id, std::string_view why);
  // ---- The exporter's side ----
  // NotFound when the job has no export to `destination`.
  core::Result<ExportRecord> GetExport(std::string_view job_id, std::string_view destination);
  // Records an export's progress (see the contract above); a final status ("sent", "failed") also
  // sends the export event to the results queue, in the same durable transaction. false, with
  // nothing changed, when the export is missing or already final (sent, failed, skipped).
  // `ack`: the export message, deleted in the same transaction (as Finish's).
  core::Result<bool> UpdateExport(std::string_view job_id, std::string_view destination,
                                  const ExportUpdate& update,
                                  std::optional<MessageAck> ack = std::nullopt);

  // The ids among `job_ids` whose job is cancelled (workers poll this to stop runs cancelled by
  // another process).
  core::Result<std::vector<std::string>> CancelledAmong(const std::vector<std::string>& job_ids);

 private:
  JobService(db::Database& db, queue::QueueService& queues, pacs::Pacs& pacs,
             const algorithms::Registry& registry, JobServiceOptions options);

  int64_t NowMs() const;
  // The checks of Submit after authentication and the idempotency lookup; returns the record to
  // insert (job id, status and times not yet set).
  core::Result<JobRecord> Validate(const SubmitRequest& request);
  // notify_clients deduplicated, without the owner, each an existing client.
  core::Result<std::vector<std::string>> CheckRecipients(const SubmitRequest& request);
  // Sends the terminal result message of `job` to the results queue, in `tx`: to its owner and
  // to each recipient.
  core::Status SendResult(db::Transaction& tx, const JobRecord& job);
  // Deletes `ack`'s message in `tx` when there is one; a stale receipt is not an error.
  core::Status AckIn(db::Transaction& tx, const std::optional<MessageAck>& ack);
  // Sends `body` to the owner (deduplication id `dedup_id`) and every recipient of `job` (the
  // same id plus ":{client}"), in `tx`.
  core::Status SendToEveryone(db::Transaction& tx, const JobRecord& job, const std::string& body,
                              const std::string& dedup_id);

  db::Database& db_;
  queue::QueueService& queues_;
  pacs::Pacs& pacs_;
  const algorithms::Registry& registry_;
  JobServiceOptions options_;
  std::function<void(const std::string&)> cancel_listener_;
  std::string server_secret_;
  mutable internal::KnownClients known_clients_;
};

}  // namespace imgpipe::jobs
