// Image: construction, conversion from a decoded DICOM frame, and windowing to 8 bits.
#include <cmath>
#include <cstring>
#include <opencv2/core.hpp>

#include "algorithms/algorithms.h"
#include "algorithms/internal.h"

namespace imgpipe::algorithms {

using core::Status;

int BytesPerSample(PixelType type) {
  switch (type) {
    case PixelType::kU8:
      return 1;
    case PixelType::kU16:
    case PixelType::kS16:
      return 2;
    case PixelType::kF32:
      return 4;
  }
  return 1;
}

std::string_view PixelTypeName(PixelType type) {
  switch (type) {
    case PixelType::kU8:
      return "u8";
    case PixelType::kU16:
      return "u16";
    case PixelType::kS16:
      return "s16";
    case PixelType::kF32:
      return "f32";
  }
  return "?";
}

Image Image::Make(int rows, int columns, int samples, PixelType type) {
  Image image;
  image.rows = rows;
  image.columns = columns;
  image.samples = samples;
  image.type = type;
  image.pixels.assign(static_cast<size_t>(std::max(rows, 0)) * std::max(columns, 0) * samples *
                          BytesPerSample(type),
                      0);
  return image;
}

namespace {

template <typename From, typename To>
void Widen(const std::vector<uint8_t>& in, std::vector<uint8_t>& out) {
  const size_t n = in.size() / sizeof(From);
  out.resize(n * sizeof(To));
  for (size_t i = 0; i < n; ++i) {
    From v;
    std::memcpy(&v, in.data() + i * sizeof(From), sizeof(From));
    const To w = static_cast<To>(v);
    std::memcpy(out.data() + i * sizeof(To), &w, sizeof(To));
  }
}

// PS3.3 C.11.2.1.2.1, linear VOI function, output 0..255 (the same function the PACS preview
// uses, so a windowed result looks like the preview).
inline uint8_t ApplyWindow(double x, double center, double width) {
  const double c = center - 0.5;
  const double half = (width - 1) / 2;
  if (x <= c - half) return 0;
  if (x > c + half) return 255;
  return static_cast<uint8_t>(std::lround(((x - c) / (width - 1) + 0.5) * 255));
}

}  // namespace

core::Result<Image> ImageFromFrame(const dicom::Frame& frame, const dicom::InstanceInfo& info) {
  if (frame.rows <= 0 || frame.columns <= 0) return Status::Unprocessable("frame has no pixels");
  if (frame.samples != 1 && frame.samples != 3) {
    return Status::Unprocessable("frame has " + std::to_string(frame.samples) +
                                 " samples per pixel; 1 or 3 supported");
  }
  const int bps = frame.bytes_per_sample;
  if (bps != 1 && bps != 2 && bps != 4) {
    return Status::Unprocessable("frame has " + std::to_string(bps) + " bytes per sample");
  }
  const size_t expected = static_cast<size_t>(frame.rows) * frame.columns * frame.samples * bps;
  if (frame.pixels.size() != expected) {
    return Status::Unprocessable("frame has " + std::to_string(frame.pixels.size()) +
                                 " pixel bytes, expected " + std::to_string(expected));
  }
  Image image;
  image.rows = frame.rows;
  image.columns = frame.columns;
  image.samples = frame.samples;
  if (bps == 1 && !frame.is_signed) {
    image.type = PixelType::kU8;
    image.pixels = frame.pixels;
  } else if (bps == 1) {
    image.type = PixelType::kS16;
    Widen<int8_t, int16_t>(frame.pixels, image.pixels);
  } else if (bps == 2) {
    image.type = frame.is_signed ? PixelType::kS16 : PixelType::kU16;
    image.pixels = frame.pixels;
  } else {
    image.type = PixelType::kF32;
    if (frame.is_signed) {
      Widen<int32_t, float>(frame.pixels, image.pixels);
    } else {
      Widen<uint32_t, float>(frame.pixels, image.pixels);
    }
  }
  if (frame.samples == 1) {
    image.rescale_slope = info.rescale_slope != 0 ? info.rescale_slope : 1;
    image.rescale_intercept = info.rescale_intercept;
    if (info.has_window && info.window_width >= 1) {
      image.window_center = info.window_center;
      image.window_width = info.window_width;
    }
    image.monochrome1 = info.photometric_interpretation == "MONOCHROME1";
  }
  image.modality = info.modality;
  image.pixel_spacing_row = info.pixel_spacing_row;
  image.pixel_spacing_col = info.pixel_spacing_col;
  return image;
}

core::Result<Image> WindowToU8(const Image& image, std::optional<double> center,
                               std::optional<double> width) {
  if (image.empty()) return Status::Unprocessable("image is empty");
  double c = 0, w = 0;
  if (image.window_center && image.window_width) {
    c = *image.window_center;
    w = *image.window_width;
  } else {
    double lo = 0, hi = 0;
    internal::RealRange(image, &lo, &hi);
    c = (lo + hi) / 2 + 0.5;
    w = hi - lo + 1;
  }
  if (center) c = *center;
  if (width) w = *width;
  if (!std::isfinite(c) || !std::isfinite(w) || w < 1) {
    return Status::InvalidArgument("window width must be >= 1 (and center finite)");
  }
  Image out = Image::Make(image.rows, image.columns, image.samples, PixelType::kU8);
  out.modality = image.modality;
  out.pixel_spacing_row = image.pixel_spacing_row;
  out.pixel_spacing_col = image.pixel_spacing_col;
  const size_t n = image.PixelCount() * image.samples;
  uint8_t* o = out.pixels.data();
  auto shown = [&](float real) {
    const uint8_t y = ApplyWindow(real, c, w);
    return image.monochrome1 ? static_cast<uint8_t>(255 - y) : y;
  };
  if (image.type == PixelType::kF32) {
    const cv::Mat real = internal::RealValues(image);
    const float* in = real.ptr<float>();
    for (size_t i = 0; i < n; ++i) o[i] = shown(in[i]);
    return out;
  }
  // Integer samples: one table entry per stored value in the image's range, computed through
  // RealValues itself (so every pixel gets exactly what the per-pixel path gives), then a lookup
  // per pixel: a 512x512 CT slice has ~4,000 distinct values for 262,144 pixels.
  double lo = 0, hi = 0;
  internal::StoredRange(image, &lo, &hi);
  const int first = static_cast<int>(lo);
  Image values = Image::Make(1, static_cast<int>(hi) - first + 1, 1, image.type);
  values.rescale_slope = image.rescale_slope;
  values.rescale_intercept = image.rescale_intercept;
  for (int v = first, i = 0; v <= static_cast<int>(hi); ++v, ++i) {
    switch (image.type) {
      case PixelType::kU8:
        values.data<uint8_t>()[i] = static_cast<uint8_t>(v);
        break;
      case PixelType::kU16:
        values.data<uint16_t>()[i] = static_cast<uint16_t>(v);
        break;
      default:
        values.data<int16_t>()[i] = static_cast<int16_t>(v);
        break;
    }
  }
  const cv::Mat real = internal::RealValues(values);
  std::vector<uint8_t> table(static_cast<size_t>(values.columns));
  for (size_t i = 0; i < table.size(); ++i) table[i] = shown(real.ptr<float>()[i]);
  switch (image.type) {
    case PixelType::kU8:
      for (size_t i = 0; i < n; ++i) o[i] = table[image.data<uint8_t>()[i] - first];
      break;
    case PixelType::kU16:
      for (size_t i = 0; i < n; ++i) o[i] = table[image.data<uint16_t>()[i] - first];
      break;
    default:
      for (size_t i = 0; i < n; ++i) o[i] = table[image.data<int16_t>()[i] - first];
      break;
  }
  return out;
}

}  // namespace imgpipe::algorithms
