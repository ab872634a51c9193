// Render: window math on known pixels, MONOCHROME1, aspect, fitting, encodings.
#include <gtest/gtest.h>
#include <png.h>

#include <cstring>

#include "dicom/dicom.h"
#include "dicom/test_util.h"

namespace imgpipe::dicom {
namespace {

using testing::ImageSpec;
using testing::MakeImage;
using testing::Save;

// A 2x2 signed 16-bit CT: stored values with slope 1, intercept -1024.
std::string Ct(const std::vector<int16_t>& stored, const char* photometric = "MONOCHROME2",
               bool window = true) {
  ImageSpec s;
  s.rows = 2;
  s.columns = 2;
  s.bits_allocated = 16;
  s.bits_stored = 16;
  s.pixel_representation = 1;
  s.photometric = photometric;
  s.pixels.resize(8);
  std::memcpy(s.pixels.data(), stored.data(), 8);
  auto ff = MakeImage(s);
  ff->getDataset()->putAndInsertString(DCM_RescaleSlope, "1");
  ff->getDataset()->putAndInsertString(DCM_RescaleIntercept, "-1024");
  if (window) {
    ff->getDataset()->putAndInsertString(DCM_WindowCenter, "40");
    ff->getDataset()->putAndInsertString(DCM_WindowWidth, "400");
  }
  return Save(*ff, EXS_LittleEndianExplicit);
}

// A decoded PNG: width, height, channels and the raster.
struct Png {
  int cols = 0;
  int rows = 0;
  int channels = 0;
  std::vector<uint8_t> data;
  uint8_t at(int y, int x, int c = 0) const { return data[(y * cols + x) * channels + c]; }
};

Png Decode(const EncodedImage& image) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  Png out;
  if (!png_image_begin_read_from_memory(&img, image.bytes.data(), image.bytes.size())) return out;
  out.channels = (img.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
  img.format = out.channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  out.cols = static_cast<int>(img.width);
  out.rows = static_cast<int>(img.height);
  out.data.resize(PNG_IMAGE_SIZE(img));
  if (!png_image_finish_read(&img, nullptr, out.data.data(), 0, nullptr)) out.data.clear();
  return out;
}

std::vector<int> Grey(const std::string& file, RenderOptions options = {}) {
  auto image = Render(file, options);
  EXPECT_TRUE(image.ok()) << image.status().ToString();
  if (!image.ok()) return {};
  EXPECT_EQ(image->media_type, "image/png");
  Png m = Decode(*image);
  EXPECT_EQ(m.channels, 1);
  std::vector<int> out(m.data.begin(), m.data.end());
  return out;
}

TEST(RenderTest, RescaleAndFileWindow) {
  // HU = stored - 1024. Window 40/400: [-160, 240]. HU 0 -> ((0 - 39.5) / 399 + 0.5) * 255 = 102.
  std::vector<int> px = Grey(Ct({1024, 0, 1024 + 240, 1024 + 40}));
  EXPECT_EQ(px, (std::vector<int>{102, 0, 255, 128}));
}

TEST(RenderTest, ExplicitWindowOverridesFile) {
  RenderOptions options;
  options.window_center = 0;
  options.window_width = 2;
  // Width 2: x <= -1 -> 0, x > 0 -> 255, x in (-1, 0] -> ((x + 0.5) / 1 + 0.5) * 255.
  std::vector<int> px = Grey(Ct({1024, 1023, 1025, 0}), options);
  EXPECT_EQ(px, (std::vector<int>{255, 0, 255, 0}));
}

TEST(RenderTest, MinMaxWindowWhenFileHasNone) {
  std::vector<int> px = Grey(Ct({100, 300, 200, 300}, "MONOCHROME2", false));
  EXPECT_EQ(px[0], 0);
  EXPECT_EQ(px[1], 255);
  EXPECT_NEAR(px[2], 128, 1);
}

TEST(RenderTest, Monochrome1IsInverted) {
  std::vector<int> px = Grey(Ct({1024, 0, 1024 + 240, 1024 + 40}, "MONOCHROME1"));
  EXPECT_EQ(px, (std::vector<int>{153, 255, 0, 127}));
}

TEST(RenderTest, AspectCorrectionAndFit) {
  ImageSpec s;
  s.rows = 40;
  s.columns = 80;
  s.pixels = testing::Pattern(40 * 80, 1, 0xFF);
  auto ff = MakeImage(s);
  ff->getDataset()->putAndInsertString(DCM_PixelSpacing, "1.0\\0.5");  // rows 1 mm apart
  std::string file = Save(*ff, EXS_LittleEndianExplicit);
  auto native = Render(file, {});
  ASSERT_TRUE(native.ok()) << native.status().ToString();
  EXPECT_EQ(native->width, 80);
  EXPECT_EQ(native->height, 80);  // 40 rows * 1.0 / 0.5
  RenderOptions small;
  small.size = 32;
  small.format = ImageFormat::kJpeg;
  auto fitted = Render(file, small);
  ASSERT_TRUE(fitted.ok());
  EXPECT_EQ(fitted->media_type, "image/jpeg");
  EXPECT_EQ(fitted->bytes.substr(0, 2), "\xFF\xD8");
  EXPECT_EQ(fitted->width, 32);
  EXPECT_EQ(fitted->height, 32);
  RenderOptions small_png;
  small_png.size = 32;
  auto png = Render(file, small_png);
  ASSERT_TRUE(png.ok());
  Png m = Decode(*png);
  EXPECT_EQ(m.cols, 32);
  EXPECT_EQ(m.rows, 32);
}

TEST(RenderTest, AbsurdSpacingsCannotBlowUpTheRaster) {
  ImageSpec s;
  s.rows = 40;
  s.columns = 80;
  s.pixels = testing::Pattern(40 * 80, 1, 0xFF);
  auto ff = MakeImage(s);
  // Columns 10,000 times finer than rows: square pixels would be 80 x 400,000.
  ff->getDataset()->putAndInsertString(DCM_PixelSpacing, "1.0\\0.0001");
  auto tall = Render(Save(*ff, EXS_LittleEndianExplicit), {});
  ASSERT_TRUE(tall.ok()) << tall.status().ToString();
  EXPECT_EQ(tall->height, 8192);
  EXPECT_EQ(tall->width, 2);  // 80 * 8192 / 400,000, rounded
  ff->getDataset()->putAndInsertString(DCM_PixelSpacing, "0.0001\\1.0");
  auto wide = Render(Save(*ff, EXS_LittleEndianExplicit), {});
  ASSERT_TRUE(wide.ok()) << wide.status().ToString();
  EXPECT_EQ(wide->width, 8192);
  EXPECT_EQ(wide->height, 1);
}

TEST(RenderTest, RgbPassesThrough) {
  ImageSpec s;
  s.rows = 1;
  s.columns = 2;
  s.samples = 3;
  s.photometric = "RGB";
  s.pixels = {255, 0, 0, 10, 20, 30};
  auto ff = MakeImage(s);
  auto image = Render(Save(*ff, EXS_LittleEndianExplicit), {});
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  Png m = Decode(*image);
  ASSERT_EQ(m.channels, 3);
  EXPECT_EQ(m.data, (std::vector<uint8_t>{255, 0, 0, 10, 20, 30}));
}

TEST(RenderTest, FrameSelectionAndErrors) {
  ImageSpec s;
  s.rows = 1;
  s.columns = 1;
  s.frames = 2;
  s.pixels = {0, 200};
  auto ff = MakeImage(s);
  ff->getDataset()->putAndInsertString(DCM_WindowCenter, "128");
  ff->getDataset()->putAndInsertString(DCM_WindowWidth, "256");
  std::string file = Save(*ff, EXS_LittleEndianExplicit);
  RenderOptions second;
  second.frame = 2;
  EXPECT_EQ(Grey(file, second), std::vector<int>{200});
  RenderOptions missing;
  missing.frame = 3;
  EXPECT_FALSE(Render(file, missing).ok());
  EXPECT_FALSE(Render("hello", {}).ok());
}

}  // namespace
}  // namespace imgpipe::dicom
