// The worker's run of one job (worker_run.cc): inputs, the algorithm, outputs. Internal to
// src/jobs.
#pragma once

#include <atomic>
#include <string>

#include "algorithms/algorithms.h"
#include "blob/blob_store.h"
#include "jobs/jobs.h"
#include "pacs/pacs.h"

namespace imgpipe::jobs::internal {

struct RunEnv {
  JobService& jobs;
  pacs::Pacs& pacs;
  blob::BlobStore& blobs;
  const algorithms::Registry& registry;
  int image_parallelism = 1;
};

// Runs `job` (status "running") and writes its outputs under results/{job_id}/, durable when it
// returns ok. The outcome has status succeeded, outputs, summary and duration; errors are the
// first failure (Unavailable("cancelled") when `cancelled` turned true). Partial outputs of a
// failed run may remain: DeleteOutputs removes them.
core::Result<JobOutcome> RunJob(const RunEnv& env, const JobRecord& job,
                                const std::atomic<bool>& cancelled);

// Removes every blob under results/{job_id}/.
core::Status DeleteOutputs(blob::BlobStore& blobs, std::string_view job_id);

// "/api/results/{job_id}/{name}".
std::string ResultUrl(std::string_view job_id, std::string_view name);
// "results/{job_id}/{name}".
std::string ResultKey(std::string_view job_id, std::string_view name);

}  // namespace imgpipe::jobs::internal
