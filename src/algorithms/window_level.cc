// window_level: the VOI window applied to real values, to 8 bits (WindowToU8 as an algorithm).
#include "algorithms/internal.h"

namespace imgpipe::algorithms::internal {
namespace {

using core::Status;

class WindowLevel : public Algorithm {
 public:
  WindowLevel() {
    info_.name = "window_level";
    info_.description =
        "Window/level (VOI) to 8 bits: real values center - width/2 and below -> 0, "
        "center + width/2 and above -> 255, linear between.";
    info_.params = {
        {"center",
         ParamType::kNumber,
         "window center in real units (HU for CT); default: the image's window, else the middle "
         "of its value range",
         std::nullopt,
         -1e6,
         1e6,
         {}},
        {"width",
         ParamType::kNumber,
         "window width in real units; default: the image's window, else its value range",
         std::nullopt,
         1.0,
         2e6,
         {}},
    };
    info_.scopes = AllScopes();
  }
  const AlgorithmInfo& info() const override { return info_; }

 protected:
  core::Result<Output> DoRun(const Image& image, const Params& params,
                             const RunContext& ctx) const override {
    Steps steps(ctx, 1);
    std::optional<double> center, width;
    if (params.Has("center")) center = params.GetNumber("center");
    if (params.Has("width")) width = params.GetNumber("width");
    IMGPIPE_ASSIGN_OR_RETURN(Image out, WindowToU8(image, center, width));
    boost::json::object summary;
    // The window actually used, for the record.
    double lo = 0, hi = 0;
    RealRange(image, &lo, &hi);
    summary["center"] = center ? *center
                               : (image.window_center && image.window_width ? *image.window_center
                                                                            : (lo + hi) / 2 + 0.5);
    summary["width"] =
        width ? *width
              : (image.window_center && image.window_width ? *image.window_width : hi - lo + 1);
    IMGPIPE_RETURN_IF_ERROR(steps.Next());
    return ImageOutput(std::move(out), std::move(summary));
  }

 private:
  AlgorithmInfo info_;
};

}  // namespace

std::unique_ptr<Algorithm> NewWindowLevel() { return std::make_unique<WindowLevel>(); }

}  // namespace imgpipe::algorithms::internal
