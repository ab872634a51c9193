// The built-ins on a real decoded frame: a slice of the demo CT phantom.
#include <gtest/gtest.h>

#include "algorithms/algorithms.h"
#include "algorithms/test_util.h"

namespace imgpipe::algorithms {
namespace {

TEST(DemoTest, BoneThresholdOnTheCtPhantom) {
  std::vector<dicom::DemoFile> files = dicom::MakeDemoDataset();
  const dicom::DemoFile* ct = nullptr;
  for (const dicom::DemoFile& f : files) {
    if (f.name == "ct/slice-015.dcm") ct = &f;
  }
  ASSERT_NE(ct, nullptr);
  core::Result<dicom::InstanceInfo> info = dicom::ParseInstance(ct->bytes);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  core::Result<dicom::Frame> frame = dicom::DecodeFrame(ct->bytes, 1);
  ASSERT_TRUE(frame.ok()) << frame.status().ToString();
  core::Result<Image> image = ImageFromFrame(*frame, *info);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->type, PixelType::kS16);
  EXPECT_EQ(image->modality, "CT");
  EXPECT_EQ(image->rescale_intercept, -1024);
  ASSERT_TRUE(image->window_center.has_value());

  core::Result<Output> bone =
      testing::RunBuiltIn("threshold", *image, R"({"method":"hu_range","preset":"bone"})");
  ASSERT_TRUE(bone.ok()) << bone.status().ToString();
  const double fraction = bone->summary.at("mask_fraction").as_double();
  EXPECT_GT(fraction, 0.001);  // ribs, spine
  EXPECT_LT(fraction, 0.2);
  EXPECT_EQ(bone->mask->rows, 512);

  // Lung is larger than bone in a chest slice; the seed's processing_1 runs on it too.
  core::Result<Output> lung =
      testing::RunBuiltIn("threshold", *image, R"({"method":"hu_range","preset":"lung"})");
  ASSERT_TRUE(lung.ok());
  EXPECT_GT(lung->summary.at("mask_fraction").as_double(), fraction);
  core::Result<Output> p1 = testing::RunBuiltIn("processing_1", *image);
  ASSERT_TRUE(p1.ok()) << p1.status().ToString();
  EXPECT_EQ(p1->image.type, PixelType::kS16);
  EXPECT_NE(p1->image.pixels, image->pixels);
}

}  // namespace
}  // namespace imgpipe::algorithms
