// Render: modality LUT, VOI window, MONOCHROME1 inversion, aspect correction, resize, encode.
// The grey path maps stored values through a table built over the frame's actual value range, so
// a 16-bit frame costs one table of (max - min + 1) entries plus one lookup per pixel.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <opencv2/imgproc.hpp>

#include "dicom/encode.h"
#include "dicom/internal.h"

namespace imgpipe::dicom {
namespace {

using core::Status;

struct Window {
  double center;
  double width;
};

// PS3.3 C.11.2.1.2.1, linear VOI function, output 0..255.
inline uint8_t ApplyWindow(double x, const Window& w) {
  const double c = w.center - 0.5;
  const double half = (w.width - 1) / 2;
  if (x <= c - half) return 0;
  if (x > c + half) return 255;
  return static_cast<uint8_t>(std::lround(((x - c) / (w.width - 1) + 0.5) * 255));
}

template <typename T>
void MinMax(const Frame& f, int64_t* lo, int64_t* hi) {
  const size_t n = f.pixels.size() / sizeof(T);
  const T* p = reinterpret_cast<const T*>(f.pixels.data());
  T mn = n ? p[0] : 0, mx = mn;
  for (size_t i = 1; i < n; ++i) {
    mn = std::min(mn, p[i]);
    mx = std::max(mx, p[i]);
  }
  *lo = mn;
  *hi = mx;
}

template <typename T>
void MapGrey(const Frame& f, const InstanceInfo& info, const Window& w, bool invert, int64_t lo,
             int64_t hi, uint8_t* out) {
  const size_t n = f.pixels.size() / sizeof(T);
  const T* p = reinterpret_cast<const T*>(f.pixels.data());
  auto value = [&](double stored) {
    uint8_t y = ApplyWindow(stored * info.rescale_slope + info.rescale_intercept, w);
    return invert ? static_cast<uint8_t>(255 - y) : y;
  };
  const uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
  if (range <= 65536) {
    uint8_t table[65536];
    for (uint64_t i = 0; i < range; ++i) table[i] = value(static_cast<double>(lo + int64_t(i)));
    for (size_t i = 0; i < n; ++i) out[i] = table[static_cast<int64_t>(p[i]) - lo];
  } else {
    for (size_t i = 0; i < n; ++i) out[i] = value(static_cast<double>(p[i]));
  }
}

core::Result<cv::Mat> GreyImage(const Frame& f, const InstanceInfo& info,
                                const RenderOptions& options) {
  int64_t lo = 0, hi = 0;
  switch (f.bytes_per_sample * (f.is_signed ? -1 : 1)) {
    case 1:
      MinMax<uint8_t>(f, &lo, &hi);
      break;
    case -1:
      MinMax<int8_t>(f, &lo, &hi);
      break;
    case 2:
      MinMax<uint16_t>(f, &lo, &hi);
      break;
    case -2:
      MinMax<int16_t>(f, &lo, &hi);
      break;
    case 4:
      MinMax<uint32_t>(f, &lo, &hi);
      break;
    default:
      MinMax<int32_t>(f, &lo, &hi);
      break;
  }
  Window w{info.window_center, info.window_width};
  if (!info.has_window) {
    double a = lo * info.rescale_slope + info.rescale_intercept;
    double b = hi * info.rescale_slope + info.rescale_intercept;
    if (a > b) std::swap(a, b);
    w = {(a + b) / 2 + 0.5, b - a + 1};
  }
  if (options.window_center) w.center = *options.window_center;
  if (options.window_width) w.width = *options.window_width;
  if (!std::isfinite(w.center) || !std::isfinite(w.width)) {
    return Status::InvalidArgument("window must be finite");
  }
  w.width = std::max(w.width, 1.0);
  const bool invert = info.photometric_interpretation == "MONOCHROME1";
  cv::Mat img(f.rows, f.columns, CV_8UC1);
  uint8_t* out = img.ptr<uint8_t>();
  switch (f.bytes_per_sample * (f.is_signed ? -1 : 1)) {
    case 1:
      MapGrey<uint8_t>(f, info, w, invert, lo, hi, out);
      break;
    case -1:
      MapGrey<int8_t>(f, info, w, invert, lo, hi, out);
      break;
    case 2:
      MapGrey<uint16_t>(f, info, w, invert, lo, hi, out);
      break;
    case -2:
      MapGrey<int16_t>(f, info, w, invert, lo, hi, out);
      break;
    case 4:
      MapGrey<uint32_t>(f, info, w, invert, lo, hi, out);
      break;
    default:
      MapGrey<int32_t>(f, info, w, invert, lo, hi, out);
      break;
  }
  return img;
}

// RGB frames pass through (16-bit samples scaled by BitsStored).
core::Result<cv::Mat> ColourImage(const Frame& f) {
  cv::Mat img(f.rows, f.columns, CV_8UC3);
  uint8_t* out = img.ptr<uint8_t>();
  const size_t n = static_cast<size_t>(f.rows) * f.columns;
  if (f.bytes_per_sample == 1) {
    const uint8_t* p = f.pixels.data();
    for (size_t i = 0; i < n; ++i, p += 3, out += 3) out[0] = p[0], out[1] = p[1], out[2] = p[2];
  } else if (f.bytes_per_sample == 2) {
    const int shift = std::max(f.bits_stored - 8, 0);
    for (size_t i = 0; i < n; ++i, out += 3) {
      for (int c = 0; c < 3; ++c) {
        uint16_t v;
        std::memcpy(&v, f.pixels.data() + (3 * i + c) * 2, 2);
        out[c] = static_cast<uint8_t>(std::min<int>(v >> shift, 255));
      }
    }
  } else {
    return Status::Unprocessable("32-bit colour rendering unsupported");
  }
  return img;
}

// The longest side aspect correction may produce (unless the image is longer itself): the file
// chooses the spacings, and "1\0.0001" would otherwise ask for a raster of billions of pixels
// (gigabytes and a minute of CPU for one preview request).
constexpr double kMaxCorrectedSide = 8192;

// Output size: square pixels (the finer spacing kept, within kMaxCorrectedSide), then fitted
// within `size` (shrink only).
cv::Size OutputSize(const InstanceInfo& info, int rows, int cols, int size) {
  double w = cols, h = rows;
  const double rs = info.pixel_spacing_row, cs = info.pixel_spacing_col;
  if (rs > 0 && cs > 0 && std::abs(rs - cs) > 1e-3 * std::max(rs, cs)) {
    if (rs > cs) {
      h = rows * rs / cs;
    } else {
      w = cols * cs / rs;
    }
    const double cap =
        std::max({kMaxCorrectedSide, static_cast<double>(rows), static_cast<double>(cols)});
    if (w > cap || h > cap) {
      const double scale = std::min(cap / w, cap / h);
      w *= scale;
      h *= scale;
    }
  }
  if (size > 0 && (w > size || h > size)) {
    const double scale = std::min(size / w, size / h);
    w *= scale;
    h *= scale;
  }
  return {std::max(1, static_cast<int>(std::lround(w))),
          std::max(1, static_cast<int>(std::lround(h)))};
}

core::Result<EncodedImage> RenderImpl(std::string_view file, const RenderOptions& options) {
  if (options.size < 0) return Status::InvalidArgument("size must be >= 0");
  IMGPIPE_ASSIGN_OR_RETURN(internal::Parsed parsed, internal::Parse(file));
  IMGPIPE_ASSIGN_OR_RETURN(Frame frame, internal::DecodeParsed(parsed, options.frame));
  cv::Mat img;
  if (frame.samples == 1) {
    IMGPIPE_ASSIGN_OR_RETURN(img, GreyImage(frame, parsed.info, options));
  } else {
    IMGPIPE_ASSIGN_OR_RETURN(img, ColourImage(frame));
  }
  cv::Size out_size = OutputSize(parsed.info, img.rows, img.cols, options.size);
  if (out_size.width != img.cols || out_size.height != img.rows) {
    const bool shrink = out_size.width <= img.cols && out_size.height <= img.rows;
    cv::Mat resized;
    cv::resize(img, resized, out_size, 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
    img = resized;
  }
  EncodedImage result;
  if (!img.isContinuous()) img = img.clone();
  if (options.format == ImageFormat::kJpeg) {
    const int quality = std::clamp(options.jpeg_quality, 1, 100);
    IMGPIPE_ASSIGN_OR_RETURN(result.bytes, internal::EncodeJpeg(img.data, img.cols, img.rows,
                                                                img.channels(), img.step, quality));
    result.media_type = "image/jpeg";
  } else {
    IMGPIPE_ASSIGN_OR_RETURN(
        result.bytes, internal::EncodePng(img.data, img.cols, img.rows, img.channels(), img.step));
    result.media_type = "image/png";
  }
  result.width = img.cols;
  result.height = img.rows;
  return result;
}

}  // namespace

core::Result<EncodedImage> Render(std::string_view file, const RenderOptions& options) {
  try {
    return RenderImpl(file, options);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("rendering DICOM: ") + e.what());
  }
}

}  // namespace imgpipe::dicom
