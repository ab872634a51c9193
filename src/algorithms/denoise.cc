// denoise: Gaussian, median or bilateral smoothing. The output keeps the input's pixel type and
// modality LUT; the bilateral's colour sigma is in real units (HU for CT).
#include <algorithm>
#include <opencv2/imgproc.hpp>

#include "algorithms/internal.h"

namespace imgpipe::algorithms::internal {
namespace {

using core::Status;

// Median for kernels OpenCV does not take at this depth (> 5 for 16-bit and float; any for
// S16): per pixel, nth_element over the window, borders replicated. Checks cancellation every
// 32 rows.
template <typename T>
Status MedianGeneric(const cv::Mat& in, cv::Mat& out, int k, const Steps& steps) {
  const int h = k / 2;
  cv::Mat padded;
  cv::copyMakeBorder(in, padded, h, h, h, h, cv::BORDER_REPLICATE);
  out.create(in.size(), in.type());
  const int ch = in.channels();
  std::vector<T> window(static_cast<size_t>(k) * k);
  for (int r = 0; r < in.rows; ++r) {
    if (r % 32 == 0) IMGPIPE_RETURN_IF_ERROR(steps.Check());
    T* o = out.ptr<T>(r);
    for (int c = 0; c < in.cols; ++c) {
      for (int s = 0; s < ch; ++s) {
        size_t n = 0;
        for (int dr = 0; dr < k; ++dr) {
          const T* p = padded.ptr<T>(r + dr);
          for (int dc = 0; dc < k; ++dc) window[n++] = p[(c + dc) * ch + s];
        }
        std::nth_element(window.begin(), window.begin() + n / 2, window.end());
        o[c * ch + s] = window[n / 2];
      }
    }
  }
  return Status::Ok();
}

Status Median(const cv::Mat& in, cv::Mat& out, int k, const Steps& steps) {
  if (in.depth() == CV_8U || (k <= 5 && in.depth() != CV_16S)) {
    cv::medianBlur(in, out, k);
    return Status::Ok();
  }
  switch (in.depth()) {
    case CV_16U:
      return MedianGeneric<uint16_t>(in, out, k, steps);
    case CV_16S:
      return MedianGeneric<int16_t>(in, out, k, steps);
    default:
      return MedianGeneric<float>(in, out, k, steps);
  }
}

class Denoise : public Algorithm {
 public:
  Denoise() {
    info_.name = "denoise";
    info_.description =
        "Noise reduction: Gaussian blur, median filter or edge-preserving bilateral filter. "
        "Keeps the pixel type and rescale.";
    info_.params = {
        {"method",
         ParamType::kString,
         "gaussian, median or bilateral",
         std::string("gaussian"),
         {},
         {},
         {"gaussian", "median", "bilateral"}},
        {"sigma", ParamType::kNumber, "gaussian: standard deviation in pixels", 1.0, 0.1, 20.0, {}},
        {"kernel_size",
         ParamType::kInteger,
         "median: window side in pixels (odd)",
         int64_t{3},
         3.0,
         11.0,
         {}},
        {"sigma_space",
         ParamType::kNumber,
         "bilateral: spatial standard deviation in pixels",
         3.0,
         0.5,
         20.0,
         {}},
        {"sigma_color",
         ParamType::kNumber,
         "bilateral: value standard deviation in real units (HU for CT); 0 = a tenth of the "
         "image's window width, else of its value range",
         0.0,
         0.0,
         1e6,
         {}},
    };
    info_.scopes = AllScopes();
  }
  const AlgorithmInfo& info() const override { return info_; }

 protected:
  core::Result<Output> DoRun(const Image& image, const Params& params,
                             const RunContext& ctx) const override {
    Steps steps(ctx, 2);
    const std::string& method = params.GetString("method");
    const cv::Mat in = View(image);
    cv::Mat out;
    boost::json::object summary;
    summary["method"] = method;
    if (method == "gaussian") {
      const double sigma = params.GetNumber("sigma");
      cv::GaussianBlur(in, out, cv::Size(), sigma, sigma, cv::BORDER_REPLICATE);
      summary["sigma"] = sigma;
    } else if (method == "median") {
      const int k = static_cast<int>(params.GetInt("kernel_size"));
      if (k % 2 == 0) return Status::InvalidArgument("kernel_size must be odd");
      IMGPIPE_RETURN_IF_ERROR(Median(in, out, k, steps));
      summary["kernel_size"] = k;
    } else {
      if (image.samples == 3 && image.type != PixelType::kU8) {
        return Status::Unprocessable("denoise bilateral takes RGB images only with 8-bit samples");
      }
      double sigma_color = params.GetNumber("sigma_color");
      if (sigma_color == 0) {
        double lo = 0, hi = 0;
        RealRange(image, &lo, &hi);
        sigma_color = std::max((image.window_width ? *image.window_width : hi - lo) / 10, 1e-3);
      }
      const double sigma_space = params.GetNumber("sigma_space");
      const int d = 2 * static_cast<int>(std::ceil(2 * sigma_space)) + 1;
      // OpenCV's bilateral takes 8U and 32F only: filter real values, then store them back.
      cv::Mat real = RealValues(image);
      cv::Mat filtered;
      cv::bilateralFilter(real, filtered, d, sigma_color, sigma_space, cv::BORDER_REPLICATE);
      IMGPIPE_RETURN_IF_ERROR(steps.Next());
      IMGPIPE_ASSIGN_OR_RETURN(Image stored, FromRealValues(filtered, image));
      summary["sigma_space"] = sigma_space;
      summary["sigma_color"] = sigma_color;
      IMGPIPE_RETURN_IF_ERROR(steps.Next());
      return ImageOutput(std::move(stored), std::move(summary));
    }
    IMGPIPE_RETURN_IF_ERROR(steps.Next());
    IMGPIPE_ASSIGN_OR_RETURN(Image result, FromMat(out, image));
    IMGPIPE_RETURN_IF_ERROR(steps.Next());
    return ImageOutput(std::move(result), std::move(summary));
  }

 private:
  AlgorithmInfo info_;
};

}  // namespace

std::unique_ptr<Algorithm> NewDenoise() { return std::make_unique<Denoise>(); }

}  // namespace imgpipe::algorithms::internal
