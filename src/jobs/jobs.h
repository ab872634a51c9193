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
//   image / series / study (NotFound); the queue's visible depth is under
//   JobServiceOptions::max_queue_depth (ResourceExhausted). Ids below the scope (image_id for
//   "series"; series_id and image_id for "study") are ignored and stored empty.
// - The queue message: body {"job_id":...}, group = client_id, deduplication id = job id, or
//   "{client_id}:{idempotency_key}" when a key is given (scoped to the client, so two clients
//   choosing the same key never collide in the queue's dedup window). The unique
//   (client_id, idempotency_key) column is the first line of defence; the queue's dedup the second:
//   if the queue still holds the dedup id but no job row does, Submit fails with Conflict and
//   creates nothing.
// - Stored params are the validated ones, with defaults filled in.
//
// Thread-safety: JobService is thread-safe (it holds no mutable state; the database serialises
// writes); share one per process. Its database, queue service, PACS and registry must outlive it.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "algorithms/algorithms.h"
#include "core/status.h"
#include "db/database.h"
#include "pacs/pacs.h"
#include "queue/queue.h"

namespace imgpipe::jobs {

// Job statuses. Submit creates "queued"; workers (later) move a job to "running", then to one of
// "succeeded", "failed", "cancelled".
inline constexpr std::string_view kStatusQueued = "queued";

// The queue of an algorithm: "algo.{algorithm}".
std::string QueueName(std::string_view algorithm);

struct SubmitRequest {
  std::string algorithm;
  std::string study_id, series_id, image_id;
  std::string scope;  // "image" | "series" | "study"
  std::string client_id;
  boost::json::value params;                   // a JSON object, or null for {}
  std::optional<std::string> idempotency_key;  // 1..100 printable ASCII characters
};

struct JobRecord {
  std::string job_id;  // a UUIDv7
  std::string client_id;
  std::string algorithm;
  std::string study_id, series_id, image_id;  // empty below the scope
  std::string scope;
  std::string params_json;  // the validated params, as a JSON object
  std::string status;
  std::string error;  // empty unless failed
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

struct SubmitResult {
  JobRecord job;
  bool existing = false;  // true: the idempotency key had been used; `job` is the first job
};

struct JobServiceOptions {
  // A submit is refused with ResourceExhausted when the algorithm's queue already holds this many
  // visible messages. 0 disables the check.
  int64_t max_queue_depth = 10'000;
  // Options of every "algo.*" queue (EnsureQueue on creation).
  queue::QueueOptions queue_options;
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

  // A new client id, stored.
  core::Result<std::string> Provision();
  core::Result<bool> ClientExists(std::string_view client_id);

  // See the contract above.
  core::Result<SubmitResult> Submit(const SubmitRequest& request);

  // NotFound when there is no such job. Callers check job.client_id against the asking client.
  core::Result<JobRecord> GetJob(std::string_view job_id);
  // The client's jobs, newest first; limit 1..1000 (InvalidArgument otherwise); Unauthenticated
  // when the client does not exist.
  core::Result<std::vector<JobRecord>> ListJobs(std::string_view client_id, int limit);

 private:
  JobService(db::Database& db, queue::QueueService& queues, pacs::Pacs& pacs,
             const algorithms::Registry& registry, JobServiceOptions options);

  int64_t NowMs() const;
  // The checks of Submit after authentication and the idempotency lookup; returns the record to
  // insert (job id, status and times not yet set).
  core::Result<JobRecord> Validate(const SubmitRequest& request);

  db::Database& db_;
  queue::QueueService& queues_;
  pacs::Pacs& pacs_;
  const algorithms::Registry& registry_;
  JobServiceOptions options_;
};

}  // namespace imgpipe::jobs
