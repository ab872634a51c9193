// threshold: segmentation by Otsu's threshold or by a range of real values (HU presets for CT).
#include <cmath>
#include <opencv2/core.hpp>

#include "algorithms/internal.h"

namespace imgpipe::algorithms::internal {
namespace {

using core::Status;

struct Preset {
  const char* name;
  double min, max;  // HU
};
constexpr Preset kPresets[] = {
    {"bone", 300, 3000}, {"lung", -1000, -400}, {"soft_tissue", -100, 300}};

constexpr int kFloatBins = 4096;

// Otsu over a histogram of stored values: one bin per value for integer types (exact), 4096 bins
// for float. Returns the stored threshold t; the foreground is stored > t.
double OtsuStored(const Image& image) {
  double lo = 0, hi = 0;
  StoredRange(image, &lo, &hi);
  if (hi <= lo) return lo;
  const bool exact = image.type != PixelType::kF32;
  const int bins = exact ? static_cast<int>(hi - lo) + 1 : kFloatBins;
  const double bin_width = exact ? 1.0 : (hi - lo) / (bins - 1);
  std::vector<double> hist(bins, 0);
  cv::Mat real;  // stored values as double, whatever the type
  View(image).convertTo(real, CV_64F);
  const double* v = real.ptr<double>();
  const size_t n = image.PixelCount();
  for (size_t i = 0; i < n; ++i) hist[static_cast<int>(std::lround((v[i] - lo) / bin_width))] += 1;
  double total_sum = 0;
  for (int b = 0; b < bins; ++b) total_sum += b * hist[b];
  // Between-class variance per split; an empty gap between two modes is a plateau of equal
  // values, and the threshold goes to its middle rather than to the edge of the lower mode.
  double w0 = 0, sum0 = 0, best = -1;
  int best_first = 0, best_last = 0;
  for (int b = 0; b < bins - 1; ++b) {
    w0 += hist[b];
    sum0 += b * hist[b];
    const double w1 = static_cast<double>(n) - w0;
    if (w0 == 0 || w1 == 0) continue;
    const double mu0 = sum0 / w0, mu1 = (total_sum - sum0) / w1;
    const double between = w0 * w1 * (mu0 - mu1) * (mu0 - mu1);
    if (between > best * (1 + 1e-12)) {
      best = between;
      best_first = best_last = b;
    } else if (between >= best * (1 - 1e-12) && best_last == b - 1) {
      best_last = b;
    }
  }
  const int best_bin = (best_first + best_last) / 2;
  return lo + best_bin * bin_width;
}

class Threshold : public Algorithm {
 public:
  Threshold() {
    info_.name = "threshold";
    info_.description =
        "Threshold segmentation: Otsu's automatic threshold, or a range of real values (HU "
        "presets bone, lung, soft_tissue for CT; custom min/max for any image). Outputs the "
        "mask (0/255) and an overlay.";
    info_.params = {
        {"method",
         ParamType::kString,
         "otsu: automatic threshold, foreground above it; hu_range: min <= value <= max",
         std::string("otsu"),
         {},
         {},
         {"otsu", "hu_range"}},
        {"preset",
         ParamType::kString,
         "hu_range: bone 300..3000 HU, lung -1000..-400 HU, soft_tissue -100..300 HU (CT only), "
         "or custom (min and max)",
         std::string("bone"),
         {},
         {},
         {"bone", "lung", "soft_tissue", "custom"}},
        {"min",
         ParamType::kNumber,
         "hu_range custom: lowest value kept, real units (HU for CT)",
         std::nullopt,
         -1e6,
         1e6,
         {}},
        {"max",
         ParamType::kNumber,
         "hu_range custom: highest value kept, real units (HU for CT)",
         std::nullopt,
         -1e6,
         1e6,
         {}},
    };
    info_.scopes = AllScopes();
  }
  const AlgorithmInfo& info() const override { return info_; }

 protected:
  core::Result<Output> DoRun(const Image& image, const Params& params,
                             const RunContext& ctx) const override {
    IMGPIPE_RETURN_IF_ERROR(RequireGrey(image, "threshold"));
    Steps steps(ctx, 3);
    boost::json::object summary;
    const std::string& method = params.GetString("method");
    summary["method"] = method;
    const bool has_range = params.Has("min") || params.Has("max");
    cv::Mat mask;
    if (method == "otsu") {
      if (has_range) return Status::InvalidArgument("min and max apply to method hu_range only");
      const double t = OtsuStored(image);
      IMGPIPE_RETURN_IF_ERROR(steps.Next());
      cv::compare(View(image), cv::Scalar(t), mask, cv::CMP_GT);
      summary["threshold"] = t * image.rescale_slope + image.rescale_intercept;
      summary["threshold_stored"] = t;
    } else {
      const std::string& preset = params.GetString("preset");
      double min = 0, max = 0;
      if (preset == "custom") {
        if (!params.Has("min") || !params.Has("max")) {
          return Status::InvalidArgument("preset custom needs min and max");
        }
        min = params.GetNumber("min");
        max = params.GetNumber("max");
        if (min > max) return Status::InvalidArgument("min must not exceed max");
      } else {
        if (has_range) return Status::InvalidArgument("min and max apply to preset custom only");
        if (image.modality != "CT") {
          return Status::Unprocessable("preset " + preset +
                                       " is in Hounsfield units and needs a CT image; image "
                                       "modality is '" +
                                       image.modality + "' (use preset custom)");
        }
        for (const Preset& p : kPresets) {
          if (preset == p.name) min = p.min, max = p.max;
        }
      }
      summary["preset"] = preset;
      summary["min"] = min;
      summary["max"] = max;
      const cv::Mat real = RealValues(image);
      IMGPIPE_RETURN_IF_ERROR(steps.Next());
      cv::inRange(real, cv::Scalar(min), cv::Scalar(max), mask);
    }
    const int count = cv::countNonZero(mask);
    summary["mask_pixels"] = count;
    summary["mask_fraction"] = static_cast<double>(count) / image.PixelCount();
    IMGPIPE_RETURN_IF_ERROR(steps.Next());
    IMGPIPE_ASSIGN_OR_RETURN(
        Output out, MaskOutput(image, mask, cv::Vec3b(255, 60, 60), 0.45, std::move(summary)));
    IMGPIPE_RETURN_IF_ERROR(steps.Next());
    return out;
  }

 private:
  AlgorithmInfo info_;
};

}  // namespace

std::unique_ptr<Algorithm> NewThreshold() { return std::make_unique<Threshold>(); }

}  // namespace imgpipe::algorithms::internal
