// WriteDerivedImage, read back by our own parser/decoder/renderer and by independent readers
// (dcmdump and pydicom, in separate processes).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstring>

#include "core/sha256.h"
#include "core/uid.h"
#include "dicom/dicom.h"
#include "dicom/test_util.h"

namespace imgpipe::dicom {
namespace {

using testing::ExpectDcmdumpClean;
using testing::ImageSpec;
using testing::ReadWithPydicom;
using testing::Value;

// The pixel buffers below are host order and pydicom sees the file's little-endian bytes.
static_assert(std::endian::native == std::endian::little, "tests assume a little-endian host");

std::string Source8Bit() {
  ImageSpec spec;
  spec.rows = 6;
  spec.columns = 5;
  spec.pixels = testing::Pattern(30, 1, 0xFF);
  auto ff = testing::MakeImage(spec);
  ff->getDataset()->putAndInsertString(DCM_StudyTime, "101500");
  ff->getDataset()->putAndInsertString(DCM_AccessionNumber, "ACC-1");
  return testing::Save(*ff, EXS_LittleEndianExplicit);
}

const std::string& DemoCtSlice() {
  static const std::string slice = [] {
    for (DemoFile& f : MakeDemoDataset()) {
      if (f.name == "ct/slice-010.dcm") return std::move(f.bytes);
    }
    return std::string();
  }();
  return slice;
}

// SHA-256 of `bytes` as stored in a Pixel Data value: padded to an even length with a zero.
std::string PixelSha256(const std::vector<uint8_t>& bytes) {
  std::string value(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (value.size() % 2 != 0) value.push_back('\0');
  return core::ToHex(core::Sha256Of(value));
}

std::string PixelSha256(const boost::json::object& dump) {
  return std::string(dump.at("pixel_sha256").as_string());
}

// The identity and references every derived file must carry.
void ExpectDerivedFrom(const std::string& out, const std::string& source, const InstanceInfo& got) {
  auto src = ParseInstance(source);
  ASSERT_TRUE(src.ok());
  EXPECT_EQ(got.sop_class_uid, "1.2.840.10008.5.1.4.1.1.7");
  EXPECT_EQ(got.study_instance_uid, src->study_instance_uid);
  EXPECT_NE(got.series_instance_uid, src->series_instance_uid);
  EXPECT_NE(got.sop_instance_uid, src->sop_instance_uid);
  EXPECT_TRUE(core::IsValidUid(got.sop_instance_uid));
  EXPECT_EQ(got.patient_name, src->patient_name);
  EXPECT_EQ(got.patient_id, src->patient_id);
  EXPECT_EQ(got.study_date, src->study_date);
  EXPECT_EQ(got.accession_number, src->accession_number);
  EXPECT_EQ(got.transfer_syntax_uid, "1.2.840.10008.1.2.1");

  boost::json::object dump = ReadWithPydicom(out);
  ASSERT_FALSE(dump.empty());
  EXPECT_EQ(dump.at("meta").at("MediaStorageSOPInstanceUID").as_string(), got.sop_instance_uid);
  EXPECT_EQ(dump.at("meta").at("MediaStorageSOPClassUID").as_string(), got.sop_class_uid);
  EXPECT_EQ(Value(dump, "0008,0008"), "['DERIVED', 'SECONDARY']");
  EXPECT_EQ(Value(dump, "0008,0064"), "WSD");
  EXPECT_EQ(Value(dump, "0008,0070"), "imgpipe");
  EXPECT_EQ(Value(dump, "0008,2112"), "SQ:1");
  EXPECT_EQ(Value(dump, "0008,2112[0].0008,1150"), src->sop_class_uid);
  EXPECT_EQ(Value(dump, "0008,2112[0].0008,1155"), src->sop_instance_uid);
  EXPECT_EQ(Value(dump, "0008,2112[0].0040,a170[0].0008,0100"), "121322");
  EXPECT_EQ(Value(dump, "0008,1140[0].0008,1155"), src->sop_instance_uid);
  EXPECT_EQ(Value(dump, "0008,1115[0].0020,000e"), src->series_instance_uid);
  EXPECT_EQ(Value(dump, "0008,1115[0].0008,114a[0].0008,1150"), src->sop_class_uid);
  EXPECT_EQ(Value(dump, "0008,1115[0].0008,114a[0].0008,1155"), src->sop_instance_uid);
  EXPECT_EQ(Value(dump, "0008,0023").size(), 8u);  // ContentDate: YYYYMMDD
  EXPECT_NE(Value(dump, "0008,0033"), "<absent>");
  ExpectDcmdumpClean(out);
}

// ParsedFile: one parse gives what ParseInstance, DecodeFrame and WriteDerivedImage give from the
// bytes; and the same errors for what is not DICOM.
TEST(DerivedTest, ParsedFileAgreesWithTheEntryPointsOnBytes) {
  const std::string& source = DemoCtSlice();
  ASSERT_FALSE(source.empty());
  auto parsed = ParsedFile::Parse(source);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  auto info = ParseInstance(source);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(parsed->info().sop_instance_uid, info->sop_instance_uid);
  EXPECT_EQ(parsed->info().rows, info->rows);
  EXPECT_EQ(parsed->info().rescale_intercept, info->rescale_intercept);
  auto frame = parsed->DecodeFrame(1);
  auto from_bytes = DecodeFrame(source, 1);
  ASSERT_TRUE(frame.ok() && from_bytes.ok());
  EXPECT_EQ(frame->pixels, from_bytes->pixels);
  EXPECT_EQ(frame->is_signed, from_bytes->is_signed);
  EXPECT_EQ(parsed->DecodeFrame(2).status().code(), core::StatusCode::kNotFound);

  DerivedImage image;
  image.rows = 4;
  image.columns = 4;
  image.pixels = testing::Pattern(16, 1, 0xFF);
  DerivedOptions options;
  options.series_description = "imgpipe test";
  auto out = WriteDerivedImage(*parsed, image, options);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  auto derived = ParseInstance(*out);
  ASSERT_TRUE(derived.ok()) << derived.status().ToString();
  ExpectDerivedFrom(*out, source, *derived);
  EXPECT_EQ(derived->modality, "CT");

  ParsedFile moved = std::move(*parsed);  // the parse moves with its owner
  EXPECT_EQ(moved.info().sop_instance_uid, info->sop_instance_uid);
  EXPECT_EQ(ParsedFile::Parse("not dicom").status().code(),
            ParseInstance("not dicom").status().code());
  EXPECT_EQ(ParsedFile::Parse(source.substr(0, source.size() / 3)).status().code(),
            ParseInstance(source.substr(0, source.size() / 3)).status().code());
}

TEST(DerivedTest, Grey8BitRoundTripsWithReferences) {
  const std::string source = Source8Bit();
  DerivedImage image;
  image.rows = 7;
  image.columns = 9;
  image.pixels = testing::Pattern(63, 1, 0xFF, 5);
  image.window_center = 128;
  image.window_width = 200;
  DerivedOptions options;
  options.series_instance_uid = core::NewUid();
  options.series_number = 901;
  options.instance_number = 4;
  options.series_description = "imgpipe clahe";
  options.derivation_description = "imgpipe clahe clip=2";
  auto out = WriteDerivedImage(source, image, options);
  ASSERT_TRUE(out.ok()) << out.status().ToString();

  auto info = ParseInstance(*out);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ExpectDerivedFrom(*out, source, *info);
  EXPECT_EQ(info->series_instance_uid, options.series_instance_uid);
  EXPECT_EQ(info->series_number, 901);
  EXPECT_EQ(info->instance_number, 4);
  EXPECT_EQ(info->series_description, "imgpipe clahe");
  EXPECT_EQ(info->modality, "OT");
  EXPECT_EQ(info->photometric_interpretation, "MONOCHROME2");
  EXPECT_TRUE(info->has_window);
  EXPECT_DOUBLE_EQ(info->window_center, 128);

  auto frame = DecodeFrame(*out, 1);
  ASSERT_TRUE(frame.ok()) << frame.status().ToString();
  EXPECT_EQ(frame->rows, 7);
  EXPECT_EQ(frame->columns, 9);
  EXPECT_EQ(frame->bytes_per_sample, 1);
  EXPECT_EQ(frame->pixels, image.pixels);
  auto png = Render(*out, {});
  ASSERT_TRUE(png.ok()) << png.status().ToString();
  EXPECT_EQ(png->width, 9);
  EXPECT_EQ(png->height, 7);

  boost::json::object dump = ReadWithPydicom(*out);
  EXPECT_EQ(PixelSha256(dump), PixelSha256(image.pixels));
  EXPECT_EQ(Value(dump, "0008,2111"), "imgpipe clahe clip=2");
}

TEST(DerivedTest, SignedCtKeepsHounsfieldUnitsAndRendersLikeTheSource) {
  const std::string& source = DemoCtSlice();
  ASSERT_FALSE(source.empty());
  auto src_info = ParseInstance(source);
  auto src_frame = DecodeFrame(source, 1);
  ASSERT_TRUE(src_info.ok() && src_frame.ok());
  ASSERT_TRUE(src_frame->is_signed);

  // The source's own pixels, modality LUT, window and spacing: the result must render the same.
  DerivedImage image;
  image.rows = src_frame->rows;
  image.columns = src_frame->columns;
  image.bits = 16;
  image.is_signed = true;
  image.pixels = src_frame->pixels;
  image.rescale_slope = src_info->rescale_slope;
  image.rescale_intercept = src_info->rescale_intercept;
  image.window_center = src_info->window_center;
  image.window_width = src_info->window_width;
  image.pixel_spacing_row = src_info->pixel_spacing_row;
  image.pixel_spacing_col = src_info->pixel_spacing_col;
  auto out = WriteDerivedImage(source, image, {});
  ASSERT_TRUE(out.ok()) << out.status().ToString();

  auto info = ParseInstance(*out);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ExpectDerivedFrom(*out, source, *info);
  EXPECT_EQ(info->modality, "CT");
  EXPECT_EQ(info->pixel_representation, 1);
  EXPECT_EQ(info->bits_stored, 16);
  EXPECT_DOUBLE_EQ(info->rescale_intercept, -1024);
  EXPECT_DOUBLE_EQ(info->rescale_slope, 1);
  EXPECT_DOUBLE_EQ(info->window_center, 40);
  EXPECT_DOUBLE_EQ(info->window_width, 400);
  EXPECT_DOUBLE_EQ(info->pixel_spacing_row, 0.7);
  EXPECT_TRUE(core::IsValidUid(info->series_instance_uid));  // generated

  auto frame = DecodeFrame(*out, 1);
  ASSERT_TRUE(frame.ok()) << frame.status().ToString();
  EXPECT_TRUE(frame->is_signed);
  EXPECT_EQ(frame->bytes_per_sample, 2);
  EXPECT_EQ(frame->pixels, src_frame->pixels);

  RenderOptions ro;
  ro.size = 128;
  auto a = Render(source, ro), b = Render(*out, ro);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->bytes, b->bytes);

  boost::json::object dump = ReadWithPydicom(*out);
  EXPECT_EQ(PixelSha256(dump), PixelSha256(image.pixels));
  EXPECT_EQ(Value(dump, "0028,1054"), "HU");
  EXPECT_EQ(Value(dump, "0028,1052"), "-1024");
  EXPECT_EQ(Value(dump, "0028,0103"), "1");
  EXPECT_EQ(Value(dump, "0010,0010"), "DOE^JANE");
}

TEST(DerivedTest, RgbRoundTrips) {
  const std::string source = Source8Bit();
  DerivedImage image;
  image.rows = 4;
  image.columns = 3;
  image.samples = 3;
  image.pixels = testing::Pattern(36, 1, 0xFF, 9);
  auto out = WriteDerivedImage(source, image, {});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  auto info = ParseInstance(*out);
  ASSERT_TRUE(info.ok());
  ExpectDerivedFrom(*out, source, *info);
  EXPECT_EQ(info->photometric_interpretation, "RGB");
  EXPECT_EQ(info->samples_per_pixel, 3);
  auto frame = DecodeFrame(*out, 1);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->samples, 3);
  EXPECT_EQ(frame->pixels, image.pixels);
  boost::json::object dump = ReadWithPydicom(*out);
  EXPECT_EQ(PixelSha256(dump), PixelSha256(image.pixels));
  EXPECT_EQ(Value(dump, "0028,0006"), "0");
}

TEST(DerivedTest, OneSeriesPerJobFreshInstances) {
  const std::string source = Source8Bit();
  DerivedImage image;
  image.rows = image.columns = 2;
  image.pixels = {1, 2, 3, 4};
  DerivedOptions options;
  options.series_instance_uid = "1.2.826.0.1.3680043.2.1125.99";
  auto a = WriteDerivedImage(source, image, options);
  auto b = WriteDerivedImage(source, image, options);
  auto c = WriteDerivedImage(source, image, {});
  auto d = WriteDerivedImage(source, image, {});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  auto ia = ParseInstance(*a), ib = ParseInstance(*b), ic = ParseInstance(*c),
       id = ParseInstance(*d);
  EXPECT_EQ(ia->series_instance_uid, options.series_instance_uid);
  EXPECT_EQ(ib->series_instance_uid, options.series_instance_uid);
  EXPECT_NE(ia->sop_instance_uid, ib->sop_instance_uid);
  EXPECT_NE(ic->series_instance_uid, id->series_instance_uid);
}

TEST(DerivedTest, RejectsInconsistentImagesAndBadSources) {
  const std::string source = Source8Bit();
  DerivedImage good;
  good.rows = good.columns = 2;
  good.pixels = {1, 2, 3, 4};
  auto code = [&source](const DerivedImage& image, const DerivedOptions& options = {}) {
    return WriteDerivedImage(source, image, options).status().code();
  };
  EXPECT_EQ(code(good), core::StatusCode::kOk);
  DerivedImage i = good;
  i.pixels.pop_back();
  EXPECT_EQ(code(i), core::StatusCode::kInvalidArgument);
  i = good;
  i.bits = 16;  // 4 bytes hold only 2 words
  EXPECT_EQ(code(i), core::StatusCode::kInvalidArgument);
  i = good;
  i.bits = 12;
  EXPECT_EQ(code(i), core::StatusCode::kInvalidArgument);
  i = good;
  i.rows = 0;
  EXPECT_EQ(code(i), core::StatusCode::kInvalidArgument);
  i = good;
  i.samples = 3;
  i.pixels.resize(12);
  i.is_signed = true;
  EXPECT_EQ(code(i), core::StatusCode::kInvalidArgument);
  i = good;
  i.window_center = 10;  // no width
  EXPECT_EQ(code(i), core::StatusCode::kInvalidArgument);
  i = good;
  i.rescale_slope = 0;
  EXPECT_EQ(code(i), core::StatusCode::kInvalidArgument);
  DerivedOptions o;
  o.series_instance_uid = "not a uid";
  EXPECT_EQ(code(good, o), core::StatusCode::kInvalidArgument);
  o = {};
  o.series_description = std::string(65, 'x');
  EXPECT_EQ(code(good, o), core::StatusCode::kInvalidArgument);

  EXPECT_EQ(WriteDerivedImage("not dicom at all", good, {}).status().code(),
            core::StatusCode::kUnsupportedMediaType);
  std::string truncated = source.substr(0, source.size() / 2);
  EXPECT_EQ(WriteDerivedImage(truncated, good, {}).status().code(),
            ParseInstance(truncated).status().code());
}

}  // namespace
}  // namespace imgpipe::dicom
