// resize: to a target width/height or by a scale factor. Keeps the pixel type and modality LUT;
// the pixel spacing follows the new size.
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "algorithms/internal.h"

namespace imgpipe::algorithms::internal {
namespace {

using core::Status;

constexpr int kMaxSide = 16384;

class Resize : public Algorithm {
 public:
  Resize() {
    info_.name = "resize";
    info_.description =
        "Resize to width/height (one of them keeps the aspect ratio) or by scale; half size "
        "when none is given. Keeps the pixel type and rescale.";
    info_.params = {
        {"width", ParamType::kInteger, "target columns", std::nullopt, 1.0, double{kMaxSide}, {}},
        {"height", ParamType::kInteger, "target rows", std::nullopt, 1.0, double{kMaxSide}, {}},
        {"scale",
         ParamType::kNumber,
         "factor for both sides (not with width/height)",
         std::nullopt,
         0.01,
         16.0,
         {}},
        {"interpolation",
         ParamType::kString,
         "auto (area when shrinking, linear when enlarging), nearest, linear, cubic or area",
         std::string("auto"),
         {},
         {},
         {"auto", "nearest", "linear", "cubic", "area"}},
    };
    info_.scopes = AllScopes();
  }
  const AlgorithmInfo& info() const override { return info_; }

 protected:
  core::Result<Output> DoRun(const Image& image, const Params& params,
                             const RunContext& ctx) const override {
    Steps steps(ctx, 2);
    const bool has_w = params.Has("width"), has_h = params.Has("height");
    int w = 0, h = 0;
    if (params.Has("scale")) {
      if (has_w || has_h) return Status::InvalidArgument("give either scale or width/height");
      const double s = params.GetNumber("scale");
      w = static_cast<int>(std::lround(image.columns * s));
      h = static_cast<int>(std::lround(image.rows * s));
    } else if (has_w || has_h) {
      w = has_w ? static_cast<int>(params.GetInt("width")) : 0;
      h = has_h ? static_cast<int>(params.GetInt("height")) : 0;
      if (!has_w) w = static_cast<int>(std::lround(image.columns * double(h) / image.rows));
      if (!has_h) h = static_cast<int>(std::lround(image.rows * double(w) / image.columns));
    } else {
      w = static_cast<int>(std::lround(image.columns * 0.5));
      h = static_cast<int>(std::lround(image.rows * 0.5));
    }
    w = std::max(w, 1);
    h = std::max(h, 1);
    if (w > kMaxSide || h > kMaxSide) {
      return Status::InvalidArgument("resized image would be " + std::to_string(w) + "x" +
                                     std::to_string(h) + "; at most " + std::to_string(kMaxSide) +
                                     " per side");
    }
    const std::string& name = params.GetString("interpolation");
    int interpolation = cv::INTER_LINEAR;
    if (name == "nearest") {
      interpolation = cv::INTER_NEAREST;
    } else if (name == "cubic") {
      interpolation = cv::INTER_CUBIC;
    } else if (name == "area" || (name == "auto" && w <= image.columns && h <= image.rows)) {
      interpolation = cv::INTER_AREA;
    }
    cv::Mat out;
    cv::resize(View(image), out, cv::Size(w, h), 0, 0, interpolation);
    IMGPIPE_RETURN_IF_ERROR(steps.Next());
    IMGPIPE_ASSIGN_OR_RETURN(Image result, FromMat(out, image));
    result.pixel_spacing_row = image.pixel_spacing_row * image.rows / h;
    result.pixel_spacing_col = image.pixel_spacing_col * image.columns / w;
    boost::json::object summary;
    summary["width"] = w;
    summary["height"] = h;
    summary["interpolation"] =
        interpolation == cv::INTER_AREA
            ? "area"
            : (interpolation == cv::INTER_NEAREST
                   ? "nearest"
                   : (interpolation == cv::INTER_CUBIC ? "cubic" : "linear"));
    IMGPIPE_RETURN_IF_ERROR(steps.Next());
    return ImageOutput(std::move(result), std::move(summary));
  }

 private:
  AlgorithmInfo info_;
};

}  // namespace

std::unique_ptr<Algorithm> NewResize() { return std::make_unique<Resize>(); }

}  // namespace imgpipe::algorithms::internal
