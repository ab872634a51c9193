// One job's run: read the inputs through the PACS, run the algorithm on each image (several at
// once for series and study jobs), write the outputs. See worker.h for the output layout.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

#include "core/uid.h"
#include "dicom/dicom.h"
#include "jobs/worker_internal.h"

namespace imgpipe::jobs::internal {
namespace {

using core::Result;
using core::Status;
using Clock = std::chrono::steady_clock;
namespace json = boost::json;

// Progress events of a series job at most this often (and always for the last image).
constexpr auto kProgressInterval = std::chrono::milliseconds(250);

// The derived series of a job: one UID per job, the same on every retry.
std::string DerivedSeriesUid(std::string_view job_id) {
  return JobUid("imgpipe derived series", job_id);
}

std::string Truncate(std::string s, size_t max) {
  if (s.size() > max) s.resize(max);
  return s;
}

// Everything one image's run needs besides the image.
struct ImageTask {
  const RunEnv& env;
  const JobRecord& job;
  const algorithms::Algorithm& algorithm;
  const algorithms::Params& params;
  const std::atomic<bool>& cancelled;
  std::string derived_series_uid;
  std::string run_key;
};

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Runs the algorithm on `instance` and stores its outputs under results/{job}/{prefix}; returns
// {"image_id", name -> URL..., "summary"}, and the mask in `mask` when the algorithm made one
// (for the job's DICOM SEG). Blobs are written unsynced: the caller syncs.
Result<json::object> RunImage(const ImageTask& t, const pacs::InstanceRecord& instance,
                              std::string_view prefix, std::optional<dicom::BinaryMask>& mask_out) {
  const auto start = Clock::now();
  IMGPIPE_ASSIGN_OR_RETURN(std::string file, t.env.pacs.ReadFile(instance));
  // Parsed once: its info, its frame and the derived DICOM all come from this parse.
  IMGPIPE_ASSIGN_OR_RETURN(dicom::ParsedFile source, dicom::ParsedFile::Parse(file));
  if (source.info().number_of_frames < 1) {
    return Status::Unprocessable("image " + instance.image_id + " has no pixel data");
  }
  IMGPIPE_ASSIGN_OR_RETURN(dicom::Frame frame, source.DecodeFrame(1));
  IMGPIPE_ASSIGN_OR_RETURN(algorithms::Image image,
                           algorithms::ImageFromFrame(frame, source.info()));
  algorithms::RunContext ctx;
  ctx.cancelled = [&t] { return t.cancelled.load(std::memory_order_relaxed); };
  ctx.source_file = file;
  ctx.run_key = t.run_key;
  const auto loaded = Clock::now();
  IMGPIPE_ASSIGN_OR_RETURN(algorithms::Output out, t.algorithm.Run(image, t.params, ctx));
  const auto ran = Clock::now();

  const std::string& job_id = t.job.job_id;
  json::object entry{{"image_id", instance.image_id}, {"series_id", instance.series_id}};
  auto put = [&](std::string_view name, std::string_view bytes) -> Status {
    std::string full = std::string(prefix) + std::string(name);
    IMGPIPE_RETURN_IF_ERROR(t.env.blobs.PutUnsynced(ResultKey(job_id, full), bytes));
    entry[name.substr(0, name.find('.'))] = ResultUrl(job_id, full);
    return Status::Ok();
  };
  IMGPIPE_ASSIGN_OR_RETURN(std::string png, algorithms::ToPng(out.image));
  IMGPIPE_RETURN_IF_ERROR(put("image.png", png));
  std::string dicom_file;
  if (out.dicom) {
    dicom_file = std::move(*out.dicom);
  } else {
    dicom::DerivedOptions options;
    options.series_instance_uid = t.derived_series_uid;
    options.instance_number = static_cast<int>(std::max<int64_t>(1, instance.instance_number));
    options.series_description = Truncate("imgpipe " + t.job.algorithm, 64);
    options.derivation_description =
        Truncate("imgpipe " + t.job.algorithm + " " + t.job.params_json, 1024);
    IMGPIPE_ASSIGN_OR_RETURN(
        dicom_file,
        dicom::WriteDerivedImage(source, algorithms::ToDerivedImage(out.image), options));
  }
  IMGPIPE_RETURN_IF_ERROR(put("result.dcm", dicom_file));
  if (out.mask) {
    // Segmentations return the mask as their image too: encode it once.
    const bool same = out.mask->pixels == out.image.pixels && out.mask->type == out.image.type &&
                      out.mask->rows == out.image.rows;
    std::string mask;
    if (same) {
      mask = png;
    } else {
      IMGPIPE_ASSIGN_OR_RETURN(mask, algorithms::ToPng(*out.mask));
    }
    IMGPIPE_RETURN_IF_ERROR(put("mask.png", mask));
    mask_out = ToBinaryMask(*out.mask);
  }
  if (out.overlay) {
    IMGPIPE_ASSIGN_OR_RETURN(std::string overlay, algorithms::ToPng(*out.overlay));
    IMGPIPE_RETURN_IF_ERROR(put("overlay.png", overlay));
  }
  if (!out.log.empty()) IMGPIPE_RETURN_IF_ERROR(put("log.txt", out.log));
  entry["summary"] = std::move(out.summary);
  // Where the time went (ms): reading and decoding the source, the algorithm, writing outputs.
  entry["timing_ms"] = {{"load", std::chrono::duration<double, std::milli>(loaded - start).count()},
                        {"run", std::chrono::duration<double, std::milli>(ran - loaded).count()},
                        {"store", MsSince(ran)}};
  return entry;
}

Result<std::vector<pacs::InstanceRecord>> Inputs(pacs::Pacs& pacs, const JobRecord& job) {
  std::vector<pacs::InstanceRecord> inputs;
  if (job.scope == "image") {
    IMGPIPE_ASSIGN_OR_RETURN(auto one, pacs.GetInstance(job.study_id, job.series_id, job.image_id));
    inputs.push_back(std::move(one));
  } else if (job.scope == "series") {
    IMGPIPE_ASSIGN_OR_RETURN(inputs, pacs.ListInstances(job.study_id, job.series_id));
  } else {
    IMGPIPE_ASSIGN_OR_RETURN(inputs, pacs.ListStudyInstances(job.study_id));
  }
  if (inputs.empty()) return Status::NotFound("the job's " + job.scope + " holds no images");
  return inputs;
}

// Series and study jobs: every image, `parallelism` at a time, progress as they finish.
Result<JobOutcome> RunMany(const ImageTask& t, const std::vector<pacs::InstanceRecord>& inputs) {
  const int total = static_cast<int>(inputs.size());
  std::vector<json::object> entries(inputs.size());
  std::vector<std::optional<dicom::BinaryMask>> masks(inputs.size());
  std::mutex mu;
  Status first_error;
  int done = 0;
  auto last_progress = std::chrono::steady_clock::time_point{};
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (size_t i; !failed && (i = next.fetch_add(1)) < inputs.size();) {
      Result<json::object> entry = RunImage(t, inputs[i], std::to_string(i + 1) + "/", masks[i]);
      std::lock_guard lock(mu);
      if (!entry.ok()) {
        if (first_error.ok()) first_error = entry.status();
        failed = true;
        return;
      }
      entries[i] = std::move(*entry);
      ++done;
      auto now = std::chrono::steady_clock::now();
      if (done == total || now - last_progress >= kProgressInterval) {
        last_progress = now;
        // Progress is best effort: a failed report does not fail the job.
        Status st = t.env.jobs.ReportProgress(t.job.job_id, done, total);
        if (!st.ok())
          spdlog::warn("job {}: progress not reported: {}", t.job.job_id, st.ToString());
      }
    }
  };
  const int threads = std::clamp(t.env.image_parallelism, 1, total);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
  if (!first_error.ok()) return first_error;

  JobOutcome outcome;
  IMGPIPE_ASSIGN_OR_RETURN(SegOutputs segs, WriteSegOutputs(t.env, t.job, t.algorithm.info().name,
                                                            t.params, inputs, masks));
  json::array manifest;
  for (auto& e : entries) manifest.push_back(std::move(e));
  json::object manifest_json{{"job_id", t.job.job_id}, {"images", manifest}};
  if (!segs.manifest.empty()) manifest_json["segmentations"] = segs.manifest;
  IMGPIPE_RETURN_IF_ERROR(t.env.blobs.PutUnsynced(ResultKey(t.job.job_id, "manifest.json"),
                                                  json::serialize(manifest_json)));
  outcome.outputs["manifest"] = ResultUrl(t.job.job_id, "manifest.json");
  for (auto& [name, url] : segs.outputs) outcome.outputs[name] = url;
  if (!segs.skipped.empty()) outcome.summary["seg_skipped"] = std::move(segs.skipped);
  // The first image's outputs stand for the job where one picture is shown.
  for (const char* name : {"image", "dicom"}) {
    const json::object& first = manifest.front().as_object();
    std::string_view key = std::string_view(name) == "dicom" ? "result" : "image";
    if (const json::value* url = first.if_contains(key)) outcome.outputs[name] = *url;
  }
  outcome.summary["images"] = total;
  return outcome;
}

}  // namespace

std::string ResultUrl(std::string_view job_id, std::string_view name) {
  return "/api/results/" + std::string(job_id) + "/" + std::string(name);
}

std::string ResultKey(std::string_view job_id, std::string_view name) {
  return "results/" + std::string(job_id) + "/" + std::string(name);
}

Result<JobOutcome> RunJob(const RunEnv& env, const JobRecord& job,
                          const std::atomic<bool>& cancelled) {
  const auto start = Clock::now();
  const algorithms::Algorithm* algorithm = env.registry.Find(job.algorithm);
  if (algorithm == nullptr) {
    return Status::NotFound("algorithm " + job.algorithm + " is not available on this worker");
  }
  IMGPIPE_ASSIGN_OR_RETURN(
      algorithms::Params params,
      algorithms::ValidateParams(algorithm->info(), json::parse(job.params_json)));
  IMGPIPE_ASSIGN_OR_RETURN(auto inputs, Inputs(env.pacs, job));
  ImageTask task{env,
                 job,
                 *algorithm,
                 params,
                 cancelled,
                 DerivedSeriesUid(job.job_id),
                 env.jobs.RunKey(job.job_id)};
  JobOutcome outcome;
  if (job.scope == "image") {
    std::vector<std::optional<dicom::BinaryMask>> masks(1);
    IMGPIPE_ASSIGN_OR_RETURN(json::object entry, RunImage(task, inputs.front(), "", masks[0]));
    for (const char* name : {"image", "mask", "overlay", "log"}) {
      if (const json::value* url = entry.if_contains(name)) outcome.outputs[name] = *url;
    }
    outcome.outputs["dicom"] = entry.at("result");
    outcome.summary = std::move(entry.at("summary").as_object());
    outcome.summary["timing_ms"] = std::move(entry.at("timing_ms"));
    IMGPIPE_ASSIGN_OR_RETURN(
        SegOutputs segs, WriteSegOutputs(env, job, algorithm->info().name, params, inputs, masks));
    for (auto& [name, url] : segs.outputs) outcome.outputs[name] = url;
    if (!segs.skipped.empty()) outcome.summary["seg_skipped"] = std::move(segs.skipped);
  } else {
    IMGPIPE_ASSIGN_OR_RETURN(outcome, RunMany(task, inputs));
  }
  // Every output durable before the caller records the job as succeeded.
  const auto sync_start = Clock::now();
  IMGPIPE_RETURN_IF_ERROR(env.blobs.Sync());
  if (json::value* timing = outcome.summary.if_contains("timing_ms")) {
    timing->as_object()["sync"] = MsSince(sync_start);
  }
  outcome.status = std::string(kStatusSucceeded);
  outcome.duration_ms = MsSince(start);
  return outcome;
}

Status DeleteOutputs(blob::BlobStore& blobs, std::string_view job_id) {
  std::vector<std::string> keys;
  IMGPIPE_RETURN_IF_ERROR(blobs.List(ResultKey(job_id, ""), [&](const blob::BlobInfo& info) {
    keys.push_back(info.key);
    return true;
  }));
  for (const std::string& key : keys) IMGPIPE_RETURN_IF_ERROR(blobs.Delete(key));
  return Status::Ok();
}

}  // namespace imgpipe::jobs::internal
