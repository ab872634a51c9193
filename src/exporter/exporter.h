// exporter: sends a succeeded job's DICOM outputs to configured destinations (DESIGN.md's issue-10
// export), a remote DICOM node by C-STORE (src/dimse) or a DICOMweb server by STOW-RS, with
// retries and a status per destination kept by the jobs module (jobs.h "Exports").
//
// Destinations come from one JSON file (export.destinations_file), validated at start:
//   {"destinations": [
//     {"name": "pacs", "type": "dicom", "host": "10.0.0.2", "port": 4242,
//      "called_aet": "ORTHANC", "calling_aet": "IMGPIPE", "max_attempts": 5, "timeout_s": 30},
//     {"name": "web", "type": "dicomweb", "url": "http://10.0.0.2:8042/dicom-web",
//      "headers": {"Authorization": "Bearer ..."}}]}
// Names are [a-z0-9-]{1,32} and unique. Header values may be secrets: they are sent, never logged
// nor shown (GET /api/destinations shows names and types only).
//
// The ExportPool receives from the durable queue "export" (one message per job and destination,
// sent by JobService::Finish). Per message: the export is marked "sending" (attempt = the
// message's delivery count), every DICOM output of the job (results/{job_id}/**.dcm: result.dcm,
// SEG objects, each image's of a series or study job) is sent, and the export becomes "sent". A
// failure (unreachable, timed out, refused instances) marks it "retrying" with the error and makes
// the message visible again after a backoff (1 s doubling, capped), until the destination's
// max_attempts: then "failed" with the last error. The job itself stays succeeded.
//
// Thread-safety: Start and Stop from one thread; the pool's threads are its own.
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "blob/blob_store.h"
#include "core/status.h"
#include "http/http.h"
#include "jobs/jobs.h"
#include "queue/queue.h"

namespace imgpipe::exporter {

enum class DestinationType { kDicom, kDicomWeb };
std::string_view TypeName(DestinationType type);  // "dicom" | "dicomweb"

struct Destination {
  std::string name;
  DestinationType type = DestinationType::kDicom;
  // kDicom: the remote node.
  std::string host;
  int port = 104;
  std::string called_aet;
  std::string calling_aet = "IMGPIPE";
  // kDicomWeb: the service's base URL (http:// only); STOW-RS posts to {url}/studies.
  std::string url;
  http::HeaderList headers;                   // sent with every request; values may be secrets
  int max_attempts = 5;                       // 1..100
  std::chrono::milliseconds timeout{30'000};  // per association / request
};

// Parses and validates a destinations document; InvalidArgument names the first fault (never a
// header's value).
core::Result<std::vector<Destination>> ParseDestinations(std::string_view json);
// Reads and parses the file; an empty path gives no destinations.
core::Result<std::vector<Destination>> LoadDestinations(const std::string& path);
std::set<std::string> Names(const std::vector<Destination>& destinations);

// GET /api/destinations: {"destinations":[{"name","type"}]} (never a host, URL or header).
void RegisterRoutes(http::Router& router,
                    std::shared_ptr<const std::vector<Destination>> destinations);

// ---- STOW-RS (exposed for tests) ----
// A multipart/related body of `files` (application/dicom parts) with `boundary`.
std::string StowBody(const std::vector<std::string>& files, std::string_view boundary);
// A boundary that occurs in none of `files`.
std::string NewBoundary(const std::vector<std::string>& files);
// What a STOW-RS answer says: how many instances were stored, and an error naming those refused
// (empty when all were stored). 200 all stored; 202 some refused (FailedSOPSequence); 4xx/5xx
// none (the failed SOP instances named when the body lists them).
struct StowVerdict {
  int stored = 0;
  std::string error;
};
StowVerdict JudgeStowResponse(int status, std::string_view body, int sent);

// One attempt at sending `files` (DICOM Part 10) to `destination`: the instances stored, or an
// error naming what failed (Unavailable for the network, Aborted-like partial failures as
// Unavailable too: any failure is retried).
struct SendReport {
  int stored = 0;
  std::string error;  // empty: all stored
};
SendReport SendTo(const Destination& destination, const std::vector<std::string>& files);

struct ExportOptions {
  int concurrency = 2;  // receiving threads, 1..16
  std::chrono::milliseconds poll_wait{1'000};
  // A message's lease while it is sent; extended by a heartbeat while a send lasts.
  std::chrono::milliseconds lease{60'000};
  std::chrono::milliseconds backoff{1'000};  // first retry; doubles per attempt
  std::chrono::milliseconds max_backoff{60'000};
  // A job's outputs are read and sent this many bytes at a time (plus one instance): one C-STORE
  // association, or one run of STOW-RS requests, per chunk. Bounds the memory a study job of
  // thousands of images takes.
  size_t chunk_bytes = 64ull << 20;
};

class ExportPool {
 public:
  // `jobs`, `queues`, `blobs` and `destinations` must outlive the pool.
  static core::Result<std::unique_ptr<ExportPool>> Start(
      jobs::JobService& jobs, queue::QueueService& queues, blob::BlobStore& blobs,
      const std::vector<Destination>& destinations, const ExportOptions& options = {});
  // Stops receiving and waits for sends in progress to end. Idempotent.
  void Stop();
  ~ExportPool();

  ExportPool(const ExportPool&) = delete;
  ExportPool& operator=(const ExportPool&) = delete;

  class Impl;

 private:
  explicit ExportPool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace imgpipe::exporter
