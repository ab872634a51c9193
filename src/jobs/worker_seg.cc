// A job's DICOM Segmentation outputs: the masks of a segmentation algorithm as binary SEG
// instances (one per series of the job's images) referencing the source images.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "core/sha256.h"
#include "core/uid.h"
#include "jobs/worker_internal.h"

namespace imgpipe::jobs::internal {
namespace {

using core::Result;
using core::Status;
namespace json = boost::json;

const dicom::Code kTissue{"85756007", "SCT", "Tissue"};
const dicom::Code kAnatomicalStructure{"123037004", "SCT", "Anatomical Structure"};

struct SegmentKind {
  std::string label;
  dicom::Code category;
  dicom::Code type;
};

// The segmented property of an algorithm's mask (docs/algorithms.md, "DICOM SEG"): threshold's
// HU presets name what they keep; anything else is generic tissue.
SegmentKind KindOf(std::string_view algorithm, const algorithms::Params& params) {
  if (algorithm == "threshold" && params.Has("method") &&
      params.GetString("method") == "hu_range" && params.Has("preset")) {
    const std::string& preset = params.GetString("preset");
    if (preset == "bone") return {"Bone", kTissue, {"272673000", "SCT", "Bone"}};
    // A lung is an organ, so its category is Anatomical Structure (CID 7150), not Tissue.
    if (preset == "lung") return {"Lung", kAnatomicalStructure, {"39607008", "SCT", "Lung"}};
    if (preset == "soft_tissue") {
      return {"Soft tissue", kTissue, {"87784001", "SCT", "Soft tissue"}};
    }
  }
  std::string label(algorithm);
  if (!label.empty()) label[0] = static_cast<char>(std::toupper(label[0]));
  return {label + " mask", kTissue, kTissue};
}

// LO: at most 64 characters, no backslash.
std::string Lo(std::string s) {
  std::replace(s.begin(), s.end(), '\\', '/');
  if (s.size() > 64) s.resize(64);
  return s;
}

// CS from an algorithm name ([a-z0-9_]+): upper case, at most 16 characters.
std::string ContentLabel(std::string_view algorithm) {
  std::string label;
  for (char c : algorithm) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      label.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
  }
  if (label.size() > 16) label.resize(16);
  return label.empty() ? "SEGMENTATION" : label;
}

}  // namespace

std::string JobUid(std::string_view purpose, std::string_view job_id) {
  core::Sha256Digest digest = core::Sha256Of(std::string(purpose) + "/" + std::string(job_id));
  std::array<uint8_t, 16> uuid{};
  std::copy_n(digest.begin(), 16, uuid.begin());
  uuid[6] = static_cast<uint8_t>((uuid[6] & 0x0f) | 0x80);  // RFC 9562 version 8
  uuid[8] = static_cast<uint8_t>((uuid[8] & 0x3f) | 0x80);
  return core::UidFromUuid(uuid);
}

std::optional<dicom::BinaryMask> ToBinaryMask(const algorithms::Image& mask) {
  if (mask.empty() || mask.samples != 1 || mask.type != algorithms::PixelType::kU8) {
    return std::nullopt;
  }
  return dicom::BinaryMask{mask.rows, mask.columns, mask.pixels};
}

Result<SegOutputs> WriteSegOutputs(const RunEnv& env, const JobRecord& job,
                                   std::string_view algorithm, const algorithms::Params& params,
                                   const std::vector<pacs::InstanceRecord>& inputs,
                                   std::vector<std::optional<dicom::BinaryMask>>& masks) {
  SegOutputs result;
  // The images of each series, in the inputs' (instance number) order; series in order of first
  // appearance. A series is segmented only when every one of its images has a mask.
  std::vector<std::string> series_ids;
  std::vector<std::vector<size_t>> members;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto it = std::find(series_ids.begin(), series_ids.end(), inputs[i].series_id);
    if (it == series_ids.end()) {
      series_ids.push_back(inputs[i].series_id);
      members.emplace_back();
      it = series_ids.end() - 1;
    }
    members[it - series_ids.begin()].push_back(i);
  }
  const SegmentKind kind = KindOf(algorithm, params);
  dicom::SegmentationOptions options;
  options.series_instance_uid = JobUid("imgpipe seg series", job.job_id);
  options.series_description = Lo("imgpipe " + job.algorithm + " SEG");
  options.content_label = ContentLabel(algorithm);
  options.content_description = Lo("imgpipe " + job.algorithm + " " + job.params_json);
  options.segment_label = kind.label;
  options.algorithm_name = Lo(std::string(algorithm));
  options.category = kind.category;
  options.type = kind.type;
  const bool numbered = job.scope == "study";
  for (size_t k = 0; k < series_ids.size(); ++k) {
    std::vector<size_t>& images = members[k];
    std::stable_sort(images.begin(), images.end(), [&](size_t a, size_t b) {
      return inputs[a].instance_number < inputs[b].instance_number;
    });
    if (!std::all_of(images.begin(), images.end(),
                     [&](size_t i) { return masks[i].has_value(); })) {
      continue;
    }
    const std::string name = numbered ? "seg-" + std::to_string(k + 1) : "seg";
    std::vector<std::string> files;
    std::vector<dicom::BinaryMask> frame_masks;
    for (size_t i : images) {
      IMGPIPE_ASSIGN_OR_RETURN(std::string file, env.pacs.ReadFile(inputs[i]));
      files.push_back(std::move(file));
      frame_masks.push_back(std::move(*masks[i]));
    }
    options.sop_instance_uid = JobUid("imgpipe seg instance/" + name, job.job_id);
    options.instance_number = static_cast<int>(k + 1);
    std::vector<std::string_view> views(files.begin(), files.end());
    Result<std::string> seg = dicom::WriteSegmentation(views, frame_masks, options);
    if (!seg.ok() && seg.status().code() == core::StatusCode::kInvalidArgument) {
      // Images a SEG cannot hold together (sizes differ within the series): the other outputs
      // stand; the job says why this one is missing.
      spdlog::warn("job {}: no DICOM SEG for series {}: {}", job.job_id, series_ids[k],
                   seg.status().ToString());
      result.skipped.push_back(
          json::object{{"series_id", series_ids[k]}, {"reason", seg.status().ToString()}});
      continue;
    }
    IMGPIPE_RETURN_IF_ERROR(seg.status());
    const std::string file_name = name + ".dcm";
    IMGPIPE_RETURN_IF_ERROR(env.blobs.PutUnsynced(ResultKey(job.job_id, file_name), *seg));
    const std::string url = ResultUrl(job.job_id, file_name);
    result.outputs[name] = url;
    result.manifest.push_back(json::object{
        {"name", name}, {"series_id", series_ids[k]}, {"seg", url}, {"frames", images.size()}});
  }
  return result;
}

}  // namespace imgpipe::jobs::internal
