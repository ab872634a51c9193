// The processing API (DESIGN.md "HTTP API", API_BASE = /api): provisioning, the router's
// POST /api/process/{algorithm}, jobs, results, algorithms and queues.
//
// Client authentication: the client_id is the capability. Routes that need one take it from the
// `X-Client-Id` header or the `client_id` query parameter (browsers' <img src> can only do the
// latter); for POST /api/process, from the body. Missing or unknown: 401; a job or result the
// client neither owns nor receives (SubmitRequest::notify_clients): 403. Only the owner cancels.
#pragma once

#include <string>
#include <vector>

#include "algorithms/algorithms.h"
#include "blob/blob_store.h"
#include "core/rate_limiter.h"
#include "http/http.h"
#include "jobs/jobs.h"
#include "queue/queue.h"

namespace imgpipe::jobs {

struct RoutesOptions {
  // Largest JSON body POST /api/process accepts (413 past it), and its nesting depth (400).
  size_t max_json_bytes = 64 << 10;
  int max_json_depth = 32;
  // Rate limits, 429 with Retry-After past them (a rate of 0 turns one off): submissions per
  // client and per client address (http::ClientAddress), provisions per client address.
  core::RateLimiter::Options submits_per_client, submits_per_address, provisions_per_address;
  std::vector<std::string> trusted_proxies;  // see http::ClientAddress
};

// Registers the /api routes on `router`. Everything passed must outlive the router.
void RegisterRoutes(http::Router& router, JobService& jobs, queue::QueueService& queues,
                    blob::BlobStore& blobs, const algorithms::Registry& registry,
                    const RoutesOptions& options = {});

// The job as the API shows it: {"job_id","algorithm","study_id","series_id","image_id","scope",
// "params","status","progress":{"done","total"},"attempts","outputs","summary","error",
// "created_at_ms","started_at_ms","finished_at_ms","duration_ms","exports":[{"destination",
// "status","attempts","error","sent","updated_at_ms"}]}; never the client id.
boost::json::object JobJson(const JobRecord& job);

}  // namespace imgpipe::jobs
