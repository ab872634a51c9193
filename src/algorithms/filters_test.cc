// denoise, clahe, resize: filters that keep the pixel type and modality LUT.
#include <gtest/gtest.h>

#include <random>

#include "algorithms/algorithms.h"
#include "algorithms/test_util.h"

namespace imgpipe::algorithms {
namespace {

using testing::At;
using testing::MakeImage;
using testing::RunBuiltIn;
using testing::Stats;

constexpr PixelType kGreyTypes[] = {PixelType::kU8, PixelType::kU16, PixelType::kS16,
                                    PixelType::kF32};

// A flat image at `level` with Gaussian noise of standard deviation `sd`.
Image Noisy(PixelType type, double level, double sd, int n = 64) {
  std::mt19937 rng(42);
  std::normal_distribution<double> noise(0, sd);
  return MakeImage(n, n, type, [&](int, int) { return level + noise(rng); });
}

class DenoiseTest : public ::testing::TestWithParam<PixelType> {};

TEST_P(DenoiseTest, GaussianReducesNoiseAndKeepsTypeAndRescale) {
  Image image = Noisy(GetParam(), 100, 10);
  image.rescale_slope = 2;
  image.rescale_intercept = -7;
  core::Result<Output> out = RunBuiltIn("denoise", image, R"({"sigma": 2})");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->image.type, GetParam());
  EXPECT_EQ(out->image.rows, 64);
  EXPECT_EQ(out->image.rescale_slope, 2);
  EXPECT_EQ(out->image.rescale_intercept, -7);
  double m0, v0, m1, v1;
  Stats(image, 0, 64, 0, 64, &m0, &v0);
  Stats(out->image, 0, 64, 0, 64, &m1, &v1);
  EXPECT_GT(v0, 80);
  EXPECT_LT(v1, v0 / 10);
  EXPECT_NEAR(m1, m0, 1);
  EXPECT_FALSE(out->mask.has_value());
}

TEST_P(DenoiseTest, MedianRemovesAnImpulse) {
  for (int k : {3, 7}) {
    Image image = MakeImage(32, 32, GetParam(), [](int r, int c) {
      return r == 10 && c == 10 ? 250 : (GetParam() == PixelType::kS16 ? -50 : 50);
    });
    core::Result<Output> out = RunBuiltIn(
        "denoise", image, R"({"method":"median","kernel_size":)" + std::to_string(k) + "}");
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->image.type, GetParam());
    EXPECT_EQ(At(out->image, 10, 10), At(image, 0, 0)) << k;
    EXPECT_EQ(At(out->image, 31, 31), At(image, 0, 0)) << k;
  }
}

TEST_P(DenoiseTest, BilateralSmoothsButKeepsAStep) {
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0, 5);
  // Two flat halves 200 apart (real units, slope 1 intercept -1024 as in CT) plus noise.
  Image image =
      MakeImage(48, 48, GetParam(), [&](int, int c) { return (c < 24 ? 20 : 220) + noise(rng); });
  image.rescale_intercept = GetParam() == PixelType::kU8 ? 0 : -1024;
  core::Result<Output> out =
      RunBuiltIn("denoise", image, R"({"method":"bilateral","sigma_space":3,"sigma_color":30})");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  double m0, v0, m1, v1;
  Stats(image, 0, 48, 0, 20, &m0, &v0);
  Stats(out->image, 0, 48, 0, 20, &m1, &v1);
  EXPECT_LT(v1, v0 / 2);
  // The step survives: the columns next to it stay ~200 apart.
  double left, right, unused;
  Stats(out->image, 0, 48, 22, 23, &left, &unused);
  Stats(out->image, 0, 48, 25, 26, &right, &unused);
  EXPECT_GT(right - left, 180);
}

INSTANTIATE_TEST_SUITE_P(Types, DenoiseTest, ::testing::ValuesIn(kGreyTypes),
                         [](const auto& info) { return std::string(PixelTypeName(info.param)); });

TEST(DenoiseTest, EvenKernelAndRgb) {
  Image image = Noisy(PixelType::kU8, 100, 5, 16);
  EXPECT_EQ(RunBuiltIn("denoise", image, R"({"method":"median","kernel_size":4})").status().code(),
            core::StatusCode::kInvalidArgument);
  Image rgb = MakeImage(
      16, 16, PixelType::kU8, [](int r, int c) { return (r + c) % 2 * 100; }, 3);
  for (const char* method : {"gaussian", "median", "bilateral"}) {
    core::Result<Output> out =
        RunBuiltIn("denoise", rgb, std::string(R"({"method":")") + method + "\"}");
    ASSERT_TRUE(out.ok()) << method << ": " << out.status().ToString();
    EXPECT_EQ(out->image.samples, 3);
  }
}

// Low contrast: every pixel within 11 levels of `base` (evenly spread, so every tile's histogram
// is dense), the value range set wider by two outliers.
Image LowContrast(PixelType type, double base, int n = 256) {
  return MakeImage(n, n, type, [&](int r, int c) {
    if (r == 0 && c == 0) return base - 50;
    if (r == n - 1 && c == n - 1) return base + 100;
    return base + ((r * 31 + c * 17) % 110) / 10.0;
  });
}

TEST(ClaheTest, IncreasesContrastOnEachPixelType) {
  for (PixelType type : kGreyTypes) {
    const double base = type == PixelType::kS16 ? -500 : (type == PixelType::kU8 ? 100 : 1000);
    Image image = LowContrast(type, base);
    image.rescale_intercept = type == PixelType::kS16 ? -1024 : 0;
    core::Result<Output> out = RunBuiltIn("clahe", image, R"({"clip_limit": 4, "tile_grid": 4})");
    ASSERT_TRUE(out.ok()) << PixelTypeName(type) << ": " << out.status().ToString();
    EXPECT_EQ(out->image.type, type);
    EXPECT_EQ(out->image.rescale_intercept, image.rescale_intercept);
    double m0, v0, m1, v1;
    Stats(image, 8, 248, 8, 248, &m0, &v0);
    Stats(out->image, 8, 248, 8, 248, &m1, &v1);
    EXPECT_GT(v1, 4 * v0) << PixelTypeName(type) << " variance " << v0 << " -> " << v1;
    if (type != PixelType::kU8) {  // 16-bit and float keep their value range
      for (int r = 0; r < 256; ++r) {
        for (int c = 0; c < 256; ++c) {
          ASSERT_GE(At(out->image, r, c), base - 50);
          ASSERT_LE(At(out->image, r, c), base + 100);
        }
      }
    }
  }
}

TEST(ClaheTest, RgbAndTileGridLimits) {
  Image grey = LowContrast(PixelType::kU8, 100, 64);
  Image rgb = MakeImage(
      64, 64, PixelType::kU8, [&](int r, int c) { return At(grey, r, c); }, 3);
  core::Result<Output> out = RunBuiltIn("clahe", rgb);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->image.samples, 3);
  Image small = LowContrast(PixelType::kU16, 1000, 4);
  EXPECT_EQ(RunBuiltIn("clahe", small, R"({"tile_grid": 8})").status().code(),
            core::StatusCode::kInvalidArgument);
  // A flat 16-bit image stays as it is.
  Image flat = MakeImage(16, 16, PixelType::kU16, [](int, int) { return 1234; });
  out = RunBuiltIn("clahe", flat, R"({"tile_grid": 2})");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->image.pixels, flat.pixels);
}

TEST(ResizeTest, DimensionsTypeAndSpacing) {
  for (PixelType type : kGreyTypes) {
    Image image = MakeImage(40, 60, type, [](int, int) { return 77; });
    image.pixel_spacing_row = image.pixel_spacing_col = 0.5;
    image.rescale_intercept = -1024;
    core::Result<Output> out = RunBuiltIn("resize", image, R"({"width": 30, "height": 10})");
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->image.columns, 30);
    EXPECT_EQ(out->image.rows, 10);
    EXPECT_EQ(out->image.type, type);
    EXPECT_EQ(out->image.rescale_intercept, -1024);
    EXPECT_DOUBLE_EQ(out->image.pixel_spacing_row, 2.0);
    EXPECT_DOUBLE_EQ(out->image.pixel_spacing_col, 1.0);
    EXPECT_EQ(At(out->image, 5, 15), 77);
    EXPECT_EQ(out->summary.at("interpolation"), "area");
  }
  Image image = MakeImage(40, 60, PixelType::kS16, [](int r, int) { return r * 10 - 200; });
  core::Result<Output> out = RunBuiltIn("resize", image, R"({"width": 120})");  // keeps aspect
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->image.rows, 80);
  EXPECT_EQ(out->summary.at("interpolation"), "linear");
  out = RunBuiltIn("resize", image, R"({"scale": 0.25, "interpolation": "cubic"})");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->image.rows, 10);
  EXPECT_EQ(out->image.columns, 15);
  out = RunBuiltIn("resize", image);  // half size by default
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->image.columns, 30);
  EXPECT_EQ(RunBuiltIn("resize", image, R"({"scale": 2, "width": 3})").status().code(),
            core::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunBuiltIn("resize", image, R"({"height": 16000})").status().code(),
            core::StatusCode::kInvalidArgument);  // width would be 24000
}

}  // namespace
}  // namespace imgpipe::algorithms
