// canny: Canny edge detection on real values (any grey pixel type; RGB via its luminance).
//
// The image's real values (float) are blurred, Sobel gradients taken and divided by 8, so a
// gradient is in real units per pixel (HU/pixel for CT). Those gradients are scaled into 16-bit
// and handed to OpenCV's Canny (its dx/dy form, L2 magnitude), so absolute thresholds mean the
// same on U8, U16, S16 and float images; relative thresholds are fractions of the largest
// gradient magnitude.
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "algorithms/internal.h"

namespace imgpipe::algorithms::internal {
namespace {

using core::Status;

// Largest scaled gradient component; L2 magnitudes squared stay within int32 (2 * 16000^2).
constexpr double kGradientScale = 16000;

class Canny : public Algorithm {
 public:
  Canny() {
    info_.name = "canny";
    info_.description =
        "Canny edge detection. Outputs an 8-bit edge map (0/255) and the edges drawn on the "
        "windowed image.";
    info_.params = {
        {"low",
         ParamType::kNumber,
         "hysteresis low threshold (see threshold_mode)",
         0.1,
         0.0,
         1e6,
         {}},
        {"high",
         ParamType::kNumber,
         "hysteresis high threshold (see threshold_mode)",
         0.3,
         0.0,
         1e6,
         {}},
        {"threshold_mode",
         ParamType::kString,
         "relative: fractions of the largest gradient magnitude (0..1); absolute: gradient "
         "magnitude in real units per pixel (HU/pixel for CT)",
         std::string("relative"),
         {},
         {},
         {"relative", "absolute"}},
        {"sigma",
         ParamType::kNumber,
         "Gaussian pre-blur standard deviation in pixels; 0 = none",
         1.4,
         0.0,
         10.0,
         {}},
    };
    info_.scopes = AllScopes();
  }
  const AlgorithmInfo& info() const override { return info_; }

 protected:
  core::Result<Output> DoRun(const Image& image, const Params& params,
                             const RunContext& ctx) const override {
    Steps steps(ctx, 3);
    double low = params.GetNumber("low"), high = params.GetNumber("high");
    const bool relative = params.GetString("threshold_mode") == "relative";
    if (low > high) return Status::InvalidArgument("low must not exceed high");
    if (relative && high > 1) {
      return Status::InvalidArgument("high must be within 0..1 with threshold_mode relative");
    }
    cv::Mat real = RealValues(image);
    if (image.samples == 3) cv::cvtColor(real, real, cv::COLOR_RGB2GRAY);
    const double sigma = params.GetNumber("sigma");
    if (sigma > 0) cv::GaussianBlur(real, real, cv::Size(), sigma, sigma, cv::BORDER_REPLICATE);
    cv::Mat dx, dy;
    cv::Sobel(real, dx, CV_32F, 1, 0, 3, 1.0 / 8, 0, cv::BORDER_REPLICATE);
    cv::Sobel(real, dy, CV_32F, 0, 1, 3, 1.0 / 8, 0, cv::BORDER_REPLICATE);
    cv::Mat magnitude;
    cv::magnitude(dx, dy, magnitude);
    double max_gradient = 0;
    cv::minMaxLoc(magnitude, nullptr, &max_gradient);
    IMGPIPE_RETURN_IF_ERROR(steps.Next());
    if (relative) {
      low *= max_gradient;
      high *= max_gradient;
    }
    cv::Mat edges = cv::Mat::zeros(real.size(), CV_8U);
    if (max_gradient > 0 && std::isfinite(max_gradient)) {
      // Components are at most max_gradient, so they fit in 16 bits after this scale.
      const double scale = kGradientScale / max_gradient;
      cv::Mat dx16, dy16;
      dx.convertTo(dx16, CV_16S, scale);
      dy.convertTo(dy16, CV_16S, scale);
      // A zero high threshold would mark flat noise; keep at least one scaled unit.
      cv::Canny(dx16, dy16, edges, std::max(low * scale, 1.0), std::max(high * scale, 1.0),
                /*L2gradient=*/true);
    }
    IMGPIPE_RETURN_IF_ERROR(steps.Next());
    const int count = cv::countNonZero(edges);
    boost::json::object summary;
    summary["edge_pixels"] = count;
    summary["edge_fraction"] = static_cast<double>(count) / image.PixelCount();
    summary["max_gradient"] = max_gradient;
    summary["low"] = low;  // absolute, real units per pixel
    summary["high"] = high;
    IMGPIPE_ASSIGN_OR_RETURN(
        Output out, MaskOutput(image, edges, cv::Vec3b(255, 40, 40), 1.0, std::move(summary)));
    IMGPIPE_RETURN_IF_ERROR(steps.Next());
    return out;
  }

 private:
  AlgorithmInfo info_;
};

}  // namespace

std::unique_ptr<Algorithm> NewCanny() { return std::make_unique<Canny>(); }

}  // namespace imgpipe::algorithms::internal
