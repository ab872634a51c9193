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

TEST(DemoTest, DeidentifyKeepsPixelsAndMapsUidsWithTheRunKey) {
  std::vector<dicom::DemoFile> files = dicom::MakeDemoDataset();
  const dicom::DemoFile& ct = files.front();
  core::Result<dicom::InstanceInfo> info = dicom::ParseInstance(ct.bytes);
  ASSERT_TRUE(info.ok());
  core::Result<dicom::Frame> frame = dicom::DecodeFrame(ct.bytes, 1);
  ASSERT_TRUE(frame.ok());
  core::Result<Image> image = ImageFromFrame(*frame, *info);
  ASSERT_TRUE(image.ok());

  // Without the source file there is nothing to de-identify.
  core::Result<Output> none = testing::RunBuiltIn("deidentify", *image);
  EXPECT_EQ(none.status().code(), core::StatusCode::kUnprocessable);

  RunContext ctx;
  ctx.source_file = ct.bytes;
  ctx.run_key = "job-key-1";
  core::Result<Output> a = testing::RunBuiltIn("deidentify", *image, "{}", ctx);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(a->dicom.has_value());
  EXPECT_EQ(a->image.pixels, image->pixels);
  core::Result<dicom::InstanceInfo> out = dicom::ParseInstance(*a->dicom);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->patient_name, "ANONYMOUS");
  EXPECT_NE(out->study_instance_uid, info->study_instance_uid);
  EXPECT_NE(out->sop_instance_uid, info->sop_instance_uid);
  core::Result<dicom::Frame> out_frame = dicom::DecodeFrame(*a->dicom, 1);
  ASSERT_TRUE(out_frame.ok());
  EXPECT_EQ(out_frame->pixels, frame->pixels);

  // One key, one mapping (a series job's images share their new study); another key, another.
  core::Result<Output> again = testing::RunBuiltIn("deidentify", *image, "{}", ctx);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(dicom::ParseInstance(*again->dicom)->study_instance_uid, out->study_instance_uid);
  ctx.run_key = "job-key-2";
  core::Result<Output> other = testing::RunBuiltIn("deidentify", *image, "{}", ctx);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(dicom::ParseInstance(*other->dicom)->study_instance_uid, out->study_instance_uid);
}

}  // namespace
}  // namespace imgpipe::algorithms
