// The worker's run of one job (worker_run.cc): inputs, the algorithm, outputs. Internal to
// src/jobs.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "algorithms/algorithms.h"
#include "blob/blob_store.h"
#include "dicom/dicom.h"
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

// A UID derived from the job: the same on every retry, distinct per purpose (an RFC 9562 version 8
// UUID from SHA-256(purpose + "/" + job_id), as 2.25.x).
std::string JobUid(std::string_view purpose, std::string_view job_id);

// A segmentation algorithm's mask (U8 grey, 0 / non-zero) for WriteSegmentation; nullopt for
// another pixel type.
std::optional<dicom::BinaryMask> ToBinaryMask(const algorithms::Image& mask);

// The DICOM SEG outputs of a job (worker_seg.cc).
struct SegOutputs {
  boost::json::object outputs;  // output name -> URL ("seg", or "seg-{k}" for study jobs)
  boost::json::array manifest;  // {"name", "series_id", "seg", "frames"} per SEG written
  boost::json::array skipped;   // {"series_id", "reason"} per series that could not be one SEG
};

// Writes one binary SEG per series of `inputs` whose images all have a mask (masks[i] belongs
// to inputs[i]; moved from), frames in instance number order, under results/{job}/: "seg.dcm"
// for image and series jobs, "seg-{k}.dcm" for study jobs (k = 1.. per series in the inputs'
// order). Blobs are written unsynced. The segment is described from `algorithm` (canonical
// name) and `params` (docs/algorithms.md). A series whose images a SEG cannot hold (sizes
// differ) is skipped and listed; other errors fail.
core::Result<SegOutputs> WriteSegOutputs(const RunEnv& env, const JobRecord& job,
                                         std::string_view algorithm,
                                         const algorithms::Params& params,
                                         const std::vector<pacs::InstanceRecord>& inputs,
                                         std::vector<std::optional<dicom::BinaryMask>>& masks);

}  // namespace imgpipe::jobs::internal
