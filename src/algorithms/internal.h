// Helpers shared by the built-in algorithms; not part of the module's public face.
#pragma once

#include <memory>
#include <opencv2/core.hpp>

#include "algorithms/algorithms.h"

namespace imgpipe::algorithms::internal {

// The OpenCV type of an image (CV_8UC1, CV_16SC1, CV_8UC3, ...).
int CvType(PixelType type, int samples);
// A Mat header over the image's pixels, no copy. The image must outlive the Mat, which must not
// be written to.
cv::Mat View(const Image& image);
// A copy of `mat` (8U, 16U, 16S or 32F; 1 or 3 channels) as an Image carrying `like`'s metadata
// (modality LUT, modality, spacing, window).
core::Result<Image> FromMat(const cv::Mat& mat, const Image& like);
// Real values (stored * slope + intercept) as CV_32FC(samples).
cv::Mat RealValues(const Image& image);
// Real values back to stored ones of `like`'s type and LUT (rounded, saturated).
core::Result<Image> FromRealValues(const cv::Mat& real, const Image& like);
// Smallest and largest stored value (over all samples).
void StoredRange(const Image& image, double* lo, double* hi);
// Smallest and largest real value.
void RealRange(const Image& image, double* lo, double* hi);

// Unprocessable unless the image is grey (samples == 1).
core::Status RequireGrey(const Image& image, std::string_view algorithm);

// An 8-bit grey mask as an Image (U8, 0/255) with `like`'s geometry.
Image MaskImage(const cv::Mat& mask, const Image& like);
// The input windowed to 8 bits (its own window), as RGB, with `mask` blended in `rgb` at `alpha`
// (0..1) where mask != 0.
core::Result<Image> Overlay(const Image& input, const cv::Mat& mask, cv::Vec3b rgb, double alpha);
// The Output of a segmentation-like algorithm: the mask as both image and mask, and the overlay.
core::Result<Output> MaskOutput(const Image& input, const cv::Mat& mask, cv::Vec3b rgb,
                                double alpha, boost::json::object summary);

// An Output holding only `image` and `summary`.
Output ImageOutput(Image image, boost::json::object summary);

// Progress and cancellation over `total` steps.
class Steps {
 public:
  Steps(const RunContext& ctx, int total) : ctx_(ctx), total_(total) {}
  // Reports one more step done, then Unavailable("cancelled") if the run was cancelled.
  core::Status Next();
  // Unavailable("cancelled") if the run was cancelled (no progress report).
  core::Status Check() const;

 private:
  const RunContext& ctx_;
  int total_;
  int done_ = 0;
};

// The built-ins, each in its own file.
std::unique_ptr<Algorithm> NewDenoise();
std::unique_ptr<Algorithm> NewClahe();
std::unique_ptr<Algorithm> NewCanny();
std::unique_ptr<Algorithm> NewWindowLevel();
std::unique_ptr<Algorithm> NewThreshold();
std::unique_ptr<Algorithm> NewResize();
std::unique_ptr<Algorithm> NewDeidentify();

// The scopes every built-in accepts.
std::vector<std::string> AllScopes();

}  // namespace imgpipe::algorithms::internal
