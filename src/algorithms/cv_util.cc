// Image <-> cv::Mat, real values, masks and overlays, progress steps.
#include <opencv2/core.hpp>

#include "algorithms/internal.h"

namespace imgpipe::algorithms::internal {

using core::Status;

int CvType(PixelType type, int samples) {
  switch (type) {
    case PixelType::kU8:
      return CV_MAKETYPE(CV_8U, samples);
    case PixelType::kU16:
      return CV_MAKETYPE(CV_16U, samples);
    case PixelType::kS16:
      return CV_MAKETYPE(CV_16S, samples);
    case PixelType::kF32:
      return CV_MAKETYPE(CV_32F, samples);
  }
  return CV_8UC1;
}

cv::Mat View(const Image& image) {
  // OpenCV has no const Mat header; callers promise not to write through it.
  return cv::Mat(image.rows, image.columns, CvType(image.type, image.samples),
                 const_cast<uint8_t*>(image.pixels.data()));
}

core::Result<Image> FromMat(const cv::Mat& mat, const Image& like) {
  PixelType type;
  switch (mat.depth()) {
    case CV_8U:
      type = PixelType::kU8;
      break;
    case CV_16U:
      type = PixelType::kU16;
      break;
    case CV_16S:
      type = PixelType::kS16;
      break;
    case CV_32F:
      type = PixelType::kF32;
      break;
    default:
      return Status::Internal("unexpected OpenCV depth " + std::to_string(mat.depth()));
  }
  if (mat.channels() != 1 && mat.channels() != 3) {
    return Status::Internal("unexpected channel count " + std::to_string(mat.channels()));
  }
  Image out = like;
  out.rows = mat.rows;
  out.columns = mat.cols;
  out.samples = mat.channels();
  out.type = type;
  out.pixels.resize(mat.total() * mat.elemSize());
  const size_t row_bytes = static_cast<size_t>(mat.cols) * mat.elemSize();
  for (int r = 0; r < mat.rows; ++r) {
    std::memcpy(out.pixels.data() + r * row_bytes, mat.ptr(r), row_bytes);
  }
  return out;
}

cv::Mat RealValues(const Image& image) {
  cv::Mat real;
  View(image).convertTo(real, CV_MAKETYPE(CV_32F, image.samples), image.rescale_slope,
                        image.rescale_intercept);
  return real;
}

core::Result<Image> FromRealValues(const cv::Mat& real, const Image& like) {
  cv::Mat stored;
  // stored = (real - intercept) / slope; convertTo rounds and saturates.
  const double slope = like.rescale_slope != 0 ? like.rescale_slope : 1;
  real.convertTo(stored, CvType(like.type, real.channels()), 1 / slope,
                 -like.rescale_intercept / slope);
  return FromMat(stored, like);
}

void StoredRange(const Image& image, double* lo, double* hi) {
  cv::minMaxLoc(View(image).reshape(1), lo, hi);
}

void RealRange(const Image& image, double* lo, double* hi) {
  double a = 0, b = 0;
  StoredRange(image, &a, &b);
  a = a * image.rescale_slope + image.rescale_intercept;
  b = b * image.rescale_slope + image.rescale_intercept;
  *lo = std::min(a, b);
  *hi = std::max(a, b);
}

Status RequireGrey(const Image& image, std::string_view algorithm) {
  if (image.samples != 1) {
    return Status::Unprocessable(std::string(algorithm) +
                                 " needs a grey image (1 sample per pixel); got RGB");
  }
  return Status::Ok();
}

Image MaskImage(const cv::Mat& mask, const Image& like) {
  Image out = Image::Make(like.rows, like.columns, 1, PixelType::kU8);
  out.modality = like.modality;
  out.pixel_spacing_row = like.pixel_spacing_row;
  out.pixel_spacing_col = like.pixel_spacing_col;
  for (int r = 0; r < mask.rows; ++r) {
    std::memcpy(out.pixels.data() + static_cast<size_t>(r) * like.columns, mask.ptr(r),
                like.columns);
  }
  return out;
}

core::Result<Output> MaskOutput(const Image& input, const cv::Mat& mask, cv::Vec3b rgb,
                                double alpha, boost::json::object summary) {
  Output out;
  out.image = MaskImage(mask, input);
  out.mask = out.image;
  IMGPIPE_ASSIGN_OR_RETURN(out.overlay, Overlay(input, mask, rgb, alpha));
  out.summary = std::move(summary);
  return out;
}

core::Result<Image> Overlay(const Image& input, const cv::Mat& mask, cv::Vec3b rgb, double alpha) {
  IMGPIPE_ASSIGN_OR_RETURN(Image shown, WindowToU8(input));
  Image out = Image::Make(input.rows, input.columns, 3, PixelType::kU8);
  out.modality = input.modality;
  out.pixel_spacing_row = input.pixel_spacing_row;
  out.pixel_spacing_col = input.pixel_spacing_col;
  const size_t n = input.PixelCount();
  const uint8_t* m = mask.ptr<uint8_t>();
  for (size_t i = 0; i < n; ++i) {
    for (int c = 0; c < 3; ++c) {
      const double v = shown.pixels[i * shown.samples + (shown.samples == 3 ? c : 0)];
      out.pixels[3 * i + c] = m[i] ? cv::saturate_cast<uint8_t>(v * (1 - alpha) + rgb[c] * alpha)
                                   : static_cast<uint8_t>(v);
    }
  }
  return out;
}

Output ImageOutput(Image image, boost::json::object summary) {
  Output out;
  out.image = std::move(image);
  out.summary = std::move(summary);
  return out;
}

Status Steps::Next() {
  ++done_;
  if (ctx_.progress) ctx_.progress(std::min(done_, total_), total_);
  return Check();
}

Status Steps::Check() const {
  if (ctx_.cancelled && ctx_.cancelled()) return Status::Unavailable("cancelled");
  return Status::Ok();
}

std::vector<std::string> AllScopes() { return {"image", "series", "study"}; }

}  // namespace imgpipe::algorithms::internal
