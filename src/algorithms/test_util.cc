#include "algorithms/test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <opencv2/core.hpp>

namespace imgpipe::algorithms::testing {

Image MakeImage(int rows, int columns, PixelType type,
                const std::function<double(int r, int c)>& fn, int samples) {
  Image image = Image::Make(rows, columns, samples, type);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < columns; ++c) {
      const double v = fn(r, c);
      for (int s = 0; s < samples; ++s) {
        const size_t i = (static_cast<size_t>(r) * columns + c) * samples + s;
        switch (type) {
          case PixelType::kU8:
            image.data<uint8_t>()[i] = cv::saturate_cast<uint8_t>(v);
            break;
          case PixelType::kU16:
            image.data<uint16_t>()[i] = cv::saturate_cast<uint16_t>(v);
            break;
          case PixelType::kS16:
            image.data<int16_t>()[i] = cv::saturate_cast<int16_t>(v);
            break;
          case PixelType::kF32:
            image.data<float>()[i] = static_cast<float>(v);
            break;
        }
      }
    }
  }
  return image;
}

double At(const Image& image, int r, int c, int s) {
  const size_t i = (static_cast<size_t>(r) * image.columns + c) * image.samples + s;
  switch (image.type) {
    case PixelType::kU8:
      return image.data<uint8_t>()[i];
    case PixelType::kU16:
      return image.data<uint16_t>()[i];
    case PixelType::kS16:
      return image.data<int16_t>()[i];
    case PixelType::kF32:
      return image.data<float>()[i];
  }
  return 0;
}

void Stats(const Image& image, int r0, int r1, int c0, int c1, double* mean, double* variance) {
  double sum = 0, sum2 = 0;
  const double n = static_cast<double>(r1 - r0) * (c1 - c0);
  for (int r = r0; r < r1; ++r) {
    for (int c = c0; c < c1; ++c) {
      const double v = At(image, r, c);
      sum += v;
      sum2 += v * v;
    }
  }
  *mean = sum / n;
  *variance = sum2 / n - *mean * *mean;
}

const Algorithm& Get(std::string_view name) {
  const Algorithm* a = Registry::BuiltIn().Find(name);
  EXPECT_NE(a, nullptr) << name;
  return *a;
}

Params ParamsFor(std::string_view name, std::string_view json) {
  core::Result<Params> p = ValidateParams(Get(name).info(), boost::json::parse(json));
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : Params();
}

core::Result<Output> RunBuiltIn(std::string_view name, const Image& image, std::string_view json,
                                const RunContext& ctx) {
  core::Result<Params> p = ValidateParams(Get(name).info(), boost::json::parse(json));
  if (!p.ok()) return p.status();
  return Get(name).Run(image, *p, ctx);
}

const std::string& AnyDicomFile() {
  static const std::string* file = new std::string(dicom::MakeDemoDataset().front().bytes);
  return *file;
}

}  // namespace imgpipe::algorithms::testing
