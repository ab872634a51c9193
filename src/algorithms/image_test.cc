// ImageFromFrame, WindowToU8 and the window_level algorithm.
#include <gtest/gtest.h>

#include <cstring>

#include "algorithms/algorithms.h"
#include "algorithms/test_util.h"

namespace imgpipe::algorithms {
namespace {

using testing::At;
using testing::MakeImage;
using testing::RunBuiltIn;

template <typename T>
dicom::Frame MakeFrame(int rows, int columns, std::vector<T> values, bool is_signed,
                       int samples = 1) {
  dicom::Frame f;
  f.rows = rows;
  f.columns = columns;
  f.samples = samples;
  f.is_signed = is_signed;
  f.bytes_per_sample = sizeof(T);
  f.bits_stored = 8 * sizeof(T);
  f.pixels.resize(values.size() * sizeof(T));
  std::memcpy(f.pixels.data(), values.data(), f.pixels.size());
  return f;
}

TEST(ImageFromFrameTest, MapsBitsAndSign) {
  dicom::InstanceInfo info;
  info.modality = "CT";
  info.rescale_slope = 2;
  info.rescale_intercept = -1024;
  info.has_window = true;
  info.window_center = 40;
  info.window_width = 400;
  info.pixel_spacing_row = 0.7;
  info.pixel_spacing_col = 0.8;

  core::Result<Image> s16 = ImageFromFrame(MakeFrame<int16_t>(1, 2, {-5, 300}, true), info);
  ASSERT_TRUE(s16.ok()) << s16.status().ToString();
  EXPECT_EQ(s16->type, PixelType::kS16);
  EXPECT_EQ(At(*s16, 0, 0), -5);
  EXPECT_EQ(At(*s16, 0, 1), 300);
  EXPECT_EQ(s16->rescale_slope, 2);
  EXPECT_EQ(s16->rescale_intercept, -1024);
  EXPECT_EQ(s16->modality, "CT");
  EXPECT_EQ(s16->window_center, 40);
  EXPECT_EQ(s16->window_width, 400);
  EXPECT_DOUBLE_EQ(s16->pixel_spacing_row, 0.7);
  EXPECT_DOUBLE_EQ(s16->pixel_spacing_col, 0.8);

  core::Result<Image> u16 = ImageFromFrame(MakeFrame<uint16_t>(1, 1, {60000}, false), info);
  ASSERT_TRUE(u16.ok());
  EXPECT_EQ(u16->type, PixelType::kU16);
  EXPECT_EQ(At(*u16, 0, 0), 60000);

  core::Result<Image> s8 = ImageFromFrame(MakeFrame<int8_t>(1, 2, {-100, 100}, true), info);
  ASSERT_TRUE(s8.ok());
  EXPECT_EQ(s8->type, PixelType::kS16);
  EXPECT_EQ(At(*s8, 0, 0), -100);
  EXPECT_EQ(s8->pixels.size(), 4u);

  // 1-bit data arrives expanded to 0/1 bytes.
  dicom::Frame bits = MakeFrame<uint8_t>(1, 3, {0, 1, 1}, false);
  bits.bits_stored = 1;
  core::Result<Image> u8 = ImageFromFrame(bits, info);
  ASSERT_TRUE(u8.ok());
  EXPECT_EQ(u8->type, PixelType::kU8);
  EXPECT_EQ(At(*u8, 0, 2), 1);

  core::Result<Image> s32 = ImageFromFrame(MakeFrame<int32_t>(1, 1, {-70000}, true), info);
  ASSERT_TRUE(s32.ok());
  EXPECT_EQ(s32->type, PixelType::kF32);
  EXPECT_EQ(At(*s32, 0, 0), -70000);

  // RGB ignores the modality LUT and window.
  core::Result<Image> rgb = ImageFromFrame(MakeFrame<uint8_t>(1, 1, {1, 2, 3}, false, 3), info);
  ASSERT_TRUE(rgb.ok());
  EXPECT_EQ(rgb->samples, 3);
  EXPECT_EQ(rgb->rescale_slope, 1);
  EXPECT_EQ(rgb->rescale_intercept, 0);
  EXPECT_FALSE(rgb->window_center.has_value());
}

TEST(ImageFromFrameTest, RejectsInconsistentFrames) {
  dicom::InstanceInfo info;
  dicom::Frame f = MakeFrame<uint16_t>(2, 2, {1, 2, 3}, false);
  EXPECT_EQ(ImageFromFrame(f, info).status().code(), core::StatusCode::kUnprocessable);
  f = MakeFrame<uint8_t>(1, 1, {1, 2}, false, 2);
  EXPECT_EQ(ImageFromFrame(f, info).status().code(), core::StatusCode::kUnprocessable);
  EXPECT_EQ(ImageFromFrame(dicom::Frame{}, info).status().code(), core::StatusCode::kUnprocessable);
}

TEST(WindowTest, MapsWindowEdgesToBlackAndWhite) {
  // CT-like: stored = HU + 1024. Window 40/400 spans -160..240 HU.
  Image ct = MakeImage(1, 5, PixelType::kS16, [](int, int c) {
    return 1024 + std::vector<int>{-160, 240, 40, -1000, 1000}[c];
  });
  ct.rescale_intercept = -1024;
  core::Result<Image> out = WindowToU8(ct, 40, 400);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->type, PixelType::kU8);
  EXPECT_EQ(At(*out, 0, 0), 0);    // center - width/2
  EXPECT_EQ(At(*out, 0, 1), 255);  // center + width/2
  EXPECT_NEAR(At(*out, 0, 2), 128, 1);
  EXPECT_EQ(At(*out, 0, 3), 0);
  EXPECT_EQ(At(*out, 0, 4), 255);

  // The image's own window is the default; then its value range.
  ct.window_center = 40;
  ct.window_width = 400;
  EXPECT_EQ(WindowToU8(ct)->pixels, out->pixels);
  ct.window_center.reset();
  ct.window_width.reset();
  core::Result<Image> range = WindowToU8(ct);
  EXPECT_EQ(At(*range, 0, 3), 0);    // the minimum
  EXPECT_EQ(At(*range, 0, 4), 255);  // the maximum

  ct.monochrome1 = true;
  EXPECT_EQ(At(*WindowToU8(ct, 40, 400), 0, 1), 0);
  EXPECT_EQ(WindowToU8(ct, 40, 0.5).status().code(), core::StatusCode::kInvalidArgument);
  EXPECT_EQ(WindowToU8(Image{}).status().code(), core::StatusCode::kUnprocessable);
}

TEST(WindowLevelTest, AlgorithmOnEachPixelType) {
  for (PixelType type : {PixelType::kU8, PixelType::kU16, PixelType::kS16, PixelType::kF32}) {
    Image image = MakeImage(1, 3, type, [](int, int c) { return 100 + 50 * c; });  // 100,150,200
    core::Result<Output> out =
        RunBuiltIn("window_level", image, R"({"center": 150, "width": 100})");
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->image.type, PixelType::kU8);
    EXPECT_EQ(At(out->image, 0, 0), 0) << PixelTypeName(type);
    EXPECT_EQ(At(out->image, 0, 2), 255) << PixelTypeName(type);
    EXPECT_NEAR(At(out->image, 0, 1), 128, 1) << PixelTypeName(type);
    EXPECT_DOUBLE_EQ(out->summary.at("center").as_double(), 150);
  }
  // Defaults: the value range.
  Image image = MakeImage(1, 3, PixelType::kU16, [](int, int c) { return 1000 + 1000 * c; });
  core::Result<Output> out = RunBuiltIn("window_level", image);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(At(out->image, 0, 0), 0);
  EXPECT_EQ(At(out->image, 0, 2), 255);
  // RGB is windowed per sample.
  Image rgb = MakeImage(
      1, 1, PixelType::kU8, [](int, int) { return 200; }, 3);
  out = RunBuiltIn("window_level", rgb, R"({"center": 100, "width": 100})");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->image.samples, 3);
  EXPECT_EQ(At(out->image, 0, 0, 2), 255);
}

}  // namespace
}  // namespace imgpipe::algorithms
