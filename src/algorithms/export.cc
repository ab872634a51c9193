// Turning algorithm results into what the worker stores: a PNG for the browser, and pixels for a
// derived DICOM instance.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "algorithms/internal.h"

namespace imgpipe::algorithms {

core::Result<std::string> ToPng(const Image& image) {
  IMGPIPE_ASSIGN_OR_RETURN(Image u8, WindowToU8(image));
  return dicom::EncodePng(u8.pixels, u8.rows, u8.columns, u8.samples);
}

namespace {

// F32 (grey) to 16-bit stored values plus the LUT that maps them back to real values.
void FloatToSixteenBits(const Image& image, dicom::DerivedImage* out) {
  const size_t n = image.PixelCount() * image.samples;
  const float* v = image.data<float>();
  double lo = 0, hi = 0;
  internal::StoredRange(image, &lo, &hi);  // F32 is stored as real values * slope + intercept
  bool integral = lo >= -32768 && hi <= 32767;
  for (size_t i = 0; integral && i < n; ++i) integral = std::nearbyint(v[i]) == v[i];
  out->bits = 16;
  out->pixels.resize(n * 2);
  const double slope = image.rescale_slope;
  const double intercept = image.rescale_intercept;
  if (integral) {
    out->is_signed = true;
    for (size_t i = 0; i < n; ++i) {
      int16_t s = static_cast<int16_t>(v[i]);
      std::memcpy(&out->pixels[2 * i], &s, 2);
    }
    out->rescale_slope = slope;
    out->rescale_intercept = intercept;
    return;
  }
  // stored = (v - lo) / step, 0..65535; real = (stored * step + lo) * slope + intercept.
  const double step = hi > lo ? (hi - lo) / 65535.0 : 1.0;
  out->is_signed = false;
  for (size_t i = 0; i < n; ++i) {
    double s = std::clamp(std::round((v[i] - lo) / step), 0.0, 65535.0);
    uint16_t u = static_cast<uint16_t>(s);
    std::memcpy(&out->pixels[2 * i], &u, 2);
  }
  out->rescale_slope = step * slope;
  out->rescale_intercept = lo * slope + intercept;
}

}  // namespace

dicom::DerivedImage ToDerivedImage(const Image& image) {
  dicom::DerivedImage out;
  out.rows = image.rows;
  out.columns = image.columns;
  out.samples = image.samples;
  out.pixel_spacing_row = image.pixel_spacing_row;
  out.pixel_spacing_col = image.pixel_spacing_col;
  if (image.type == PixelType::kF32 && image.samples == 1) {
    FloatToSixteenBits(image, &out);
  } else if (image.type == PixelType::kF32) {
    // RGB float results do not occur among the built-ins; store them windowed to 8 bits.
    core::Result<Image> u8 = WindowToU8(image);
    if (u8.ok()) return ToDerivedImage(*u8);
  } else {
    out.bits = BytesPerSample(image.type) * 8;
    out.is_signed = image.type == PixelType::kS16;
    out.pixels = image.pixels;
    if (image.samples == 1 && (image.rescale_slope != 1 || image.rescale_intercept != 0)) {
      out.rescale_slope = image.rescale_slope;
      out.rescale_intercept = image.rescale_intercept;
    }
  }
  if (image.samples == 1 && image.window_center && image.window_width && *image.window_width > 0) {
    out.window_center = image.window_center;
    out.window_width = image.window_width;
  }
  return out;
}

}  // namespace imgpipe::algorithms
