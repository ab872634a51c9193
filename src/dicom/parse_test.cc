// ParseInstance and ToDicomJson: good files, hostile files, JSON shape.
#include <gtest/gtest.h>
#include <zlib.h>

#include <boost/json.hpp>
#include <cstring>

#include "dcmtk/dcmjpeg/djrploss.h"
#include "dicom/dicom.h"
#include "dicom/test_util.h"

namespace imgpipe::dicom {
namespace {

using core::StatusCode;
using testing::ImageSpec;
using testing::MakeImage;
using testing::Save;

ImageSpec Grey8(int rows = 8, int cols = 8) {
  ImageSpec s;
  s.rows = rows;
  s.columns = cols;
  s.pixels = testing::Pattern(static_cast<size_t>(rows) * cols, 1, 0xFF);
  return s;
}

std::string GoodFile(E_TransferSyntax xfer = EXS_LittleEndianExplicit) {
  auto ff = MakeImage(Grey8());
  ff->getDataset()->putAndInsertString(DCM_StudyDescription, "HEAD CT ");
  ff->getDataset()->putAndInsertString(DCM_PixelSpacing, "0.5\\0.25");
  ff->getDataset()->putAndInsertString(DCM_WindowCenter, "40\\50");
  ff->getDataset()->putAndInsertString(DCM_WindowWidth, "400\\500");
  return Save(*ff, xfer);
}

TEST(ParseTest, ReadsIdentityPatientAndImage) {
  auto info = ParseInstance(GoodFile());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->sop_instance_uid, "1.2.826.0.1.3680043.2.1125.1.1");
  EXPECT_EQ(info->study_instance_uid, "1.2.826.0.1.3680043.2.1125.1.2");
  EXPECT_EQ(info->series_instance_uid, "1.2.826.0.1.3680043.2.1125.1.3");
  EXPECT_EQ(info->transfer_syntax_uid, "1.2.840.10008.1.2.1");
  EXPECT_EQ(info->patient_name, "DOE^JOHN");
  EXPECT_EQ(info->study_description, "HEAD CT");
  EXPECT_EQ(info->series_number, 7);
  EXPECT_EQ(info->instance_number, 3);
  EXPECT_EQ(info->rows, 8);
  EXPECT_EQ(info->number_of_frames, 1);
  EXPECT_DOUBLE_EQ(info->pixel_spacing_row, 0.5);
  EXPECT_DOUBLE_EQ(info->pixel_spacing_col, 0.25);
  EXPECT_TRUE(info->has_window);
  EXPECT_DOUBLE_EQ(info->window_center, 40);
  EXPECT_DOUBLE_EQ(info->window_width, 400);
}

TEST(ParseTest, EveryNativeTransferSyntaxParses) {
  for (E_TransferSyntax xfer :
       {EXS_LittleEndianImplicit, EXS_BigEndianExplicit, EXS_DeflatedLittleEndianExplicit}) {
    auto info = ParseInstance(GoodFile(xfer));
    ASSERT_TRUE(info.ok()) << DcmXfer(xfer).getXferName() << ": " << info.status().ToString();
    EXPECT_EQ(info->patient_name, "DOE^JOHN");
    EXPECT_EQ(info->columns, 8);
  }
}

TEST(ParseTest, NotDicomIsUnsupportedMediaType) {
  for (std::string bad : {std::string(), std::string("hello"), std::string(200, 'x')}) {
    auto info = ParseInstance(bad);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.status().code(), StatusCode::kUnsupportedMediaType);
  }
}

TEST(ParseTest, EveryPrefixFailsOrLacksPixels) {
  std::string file = GoodFile();
  for (size_t n = 0; n < file.size(); ++n) {
    std::string_view prefix(file.data(), n);
    auto info = ParseInstance(prefix);
    // A cut exactly between elements is a well-formed file without pixel data.
    if (info.ok()) {
      EXPECT_EQ(info->number_of_frames, 0) << "prefix " << n;
    }
    EXPECT_FALSE(DecodeFrame(prefix, 1).ok()) << "prefix " << n;
  }
}

// Sets the 4-byte length of the first element holding `marker` (explicit VR with 4-byte length:
// the length field sits right before the value).
std::string WithLength(std::string file, const std::string& marker, uint32_t length) {
  size_t pos = file.find(marker);
  EXPECT_NE(pos, std::string::npos);
  std::memcpy(file.data() + pos - 4, &length, 4);
  return file;
}

TEST(ParseTest, LyingLengthIsRejected) {
  for (E_TransferSyntax xfer : {EXS_LittleEndianExplicit, EXS_LittleEndianImplicit}) {
    auto ff = MakeImage(Grey8());
    ff->getDataset()->putAndInsertString(DCM_TextValue, "LYINGVALUE");  // UT: 4-byte length
    std::string file = WithLength(Save(*ff, xfer), "LYINGVALUE", 0xFFFFFFF0u);
    auto info = ParseInstance(file);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument) << info.status().ToString();
    EXPECT_FALSE(DecodeFrame(file, 1).ok());
  }
}

TEST(ParseTest, LyingLengthInsideSequenceIsRejected) {
  auto ff = MakeImage(Grey8());
  DcmItem* item = nullptr;
  ASSERT_TRUE(ff->getDataset()->findOrCreateSequenceItem(DCM_ReferencedImageSequence, item).good());
  item->putAndInsertString(DCM_TextValue, "NESTEDLIE");
  std::string file = WithLength(Save(*ff, EXS_LittleEndianExplicit), "NESTEDLIE", 0x7FFFFFF0u);
  auto info = ParseInstance(file);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
}

// Meta header length: 132 + the group length element (12 bytes) + its value.
size_t MetaEnd(const std::string& file) {
  uint32_t group_length = 0;
  std::memcpy(&group_length, file.data() + 132 + 8, 4);
  return 132 + 12 + group_length;
}

TEST(ParseTest, LyingLengthInsideDeflatedDatasetIsRejected) {
  auto ff = MakeImage(Grey8());
  ff->getDataset()->putAndInsertString(DCM_TextValue, "LYINGVALUE");
  std::string deflated = Save(*ff, EXS_DeflatedLittleEndianExplicit);
  std::string plain = WithLength(Save(*ff, EXS_LittleEndianExplicit), "LYINGVALUE", 0xFFFFFFF0u);
  std::string dataset = plain.substr(MetaEnd(plain));
  // Raw deflate the patched dataset behind the deflated file's meta header.
  std::string packed(compressBound(dataset.size()) + 64, '\0');
  z_stream zs{};
  ASSERT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(dataset.data());
  zs.avail_in = static_cast<uInt>(dataset.size());
  zs.next_out = reinterpret_cast<Bytef*>(packed.data());
  zs.avail_out = static_cast<uInt>(packed.size());
  ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  packed.resize(zs.total_out);
  deflateEnd(&zs);
  std::string file = deflated.substr(0, MetaEnd(deflated)) + packed;
  auto info = ParseInstance(file);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
  // Control: the same construction without the lie parses.
  std::string good = Save(*ff, EXS_LittleEndianExplicit);
  EXPECT_TRUE(ParseInstance(good).ok());
}

TEST(ParseTest, InvalidUidsAreNamed) {
  for (const char* uid : {"../x", "1.2.abc", "1..2", ""}) {
    auto ff = MakeImage(Grey8());
    ff->getDataset()->putAndInsertString(DCM_SeriesInstanceUID, uid);
    auto info = ParseInstance(Save(*ff, EXS_LittleEndianExplicit));
    ASSERT_FALSE(info.ok()) << uid;
    EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(info.status().message().find("SeriesInstanceUID"), std::string::npos);
  }
  auto ff = MakeImage(Grey8());
  ff->getDataset()->putAndInsertString(DCM_SOPInstanceUID, "../../etc/passwd");
  auto info = ParseInstance(Save(*ff, EXS_LittleEndianExplicit));
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("SOPInstanceUID"), std::string::npos);
}

TEST(ParseTest, ImageSanityLimits) {
  auto expect_invalid = [](DcmFileFormat& ff, const char* what) {
    auto info = ParseInstance(Save(ff, EXS_LittleEndianExplicit));
    ASSERT_FALSE(info.ok()) << what;
    EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument) << what;
  };
  auto zero_rows = MakeImage(Grey8());
  zero_rows->getDataset()->putAndInsertUint16(DCM_Rows, 0);
  expect_invalid(*zero_rows, "zero rows");
  auto huge_frames = MakeImage(Grey8());
  huge_frames->getDataset()->putAndInsertString(DCM_NumberOfFrames, "1000000");
  expect_invalid(*huge_frames, "frames");
  auto short_pixels = MakeImage(Grey8());
  short_pixels->getDataset()->putAndInsertString(DCM_NumberOfFrames, "2");
  expect_invalid(*short_pixels, "pixel data too short");
  auto bits = MakeImage(Grey8());
  bits->getDataset()->putAndInsertUint16(DCM_BitsAllocated, 12);
  expect_invalid(*bits, "bits allocated");
  auto samples = MakeImage(Grey8());
  samples->getDataset()->putAndInsertUint16(DCM_SamplesPerPixel, 2);
  expect_invalid(*samples, "samples");
  auto big = MakeImage(Grey8());
  big->getDataset()->putAndInsertUint16(DCM_Rows, 65535);
  big->getDataset()->putAndInsertUint16(DCM_Columns, 65535);
  big->getDataset()->putAndInsertString(DCM_NumberOfFrames, "1000");
  expect_invalid(*big, "2 GiB");
}

TEST(ParseTest, NoPixelDataIsFine) {
  auto ff = MakeImage(Grey8());
  delete ff->getDataset()->remove(DCM_PixelData);
  std::string file = Save(*ff, EXS_LittleEndianExplicit);
  auto info = ParseInstance(file);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->number_of_frames, 0);
  auto frame = DecodeFrame(file, 1);
  ASSERT_FALSE(frame.ok());
  EXPECT_EQ(frame.status().code(), StatusCode::kUnprocessable);
}

// Rewrites the first SOF's height and width (JPEG baseline written by DCMTK).
std::string LieInSof(std::string file) {
  size_t sof = file.find("\xFF\xC0");
  if (sof == std::string::npos) sof = file.find("\xFF\xC1");
  EXPECT_NE(sof, std::string::npos);
  for (size_t i = sof + 5; i < sof + 9; ++i) file[i] = '\xFF';
  return file;
}

TEST(ParseTest, JpegWithLyingSofIsRejected) {
  auto ff = MakeImage(Grey8(16, 16));
  std::string file = LieInSof(Save(*ff, EXS_JPEGProcess1));
  ASSERT_LT(file.size(), 4096u);
  auto info = ParseInstance(file);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(info.status().message().find("65535x65535"), std::string::npos)
      << info.status().message();
  EXPECT_FALSE(DecodeFrame(file, 1).ok());
}

// A decompression bomb: dataset and JPEG frame header agree on 35000 x 35000 (1.2 GB decoded),
// but the scan is a few hundred bytes. Refused at parse time, before any decoder runs.
TEST(ParseTest, TinyJpegClaimingAHugeImageIsRejected) {
  auto ff = MakeImage(Grey8(16, 16));
  std::string file = Save(*ff, EXS_JPEGProcess1);
  ASSERT_TRUE(ParseInstance(file).ok());
  auto patch_us = [&file](const std::string& tag, uint16_t v) {
    size_t pos = file.find(tag + "US\x02\x00");
    ASSERT_NE(pos, std::string::npos);
    file[pos + 8] = static_cast<char>(v & 0xFF);
    file[pos + 9] = static_cast<char>(v >> 8);
  };
  patch_us(std::string("\x28\x00\x10\x00", 4), 35000);  // Rows
  patch_us(std::string("\x28\x00\x11\x00", 4), 35000);  // Columns
  size_t sof = file.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  file[sof + 5] = file[sof + 7] = static_cast<char>(35000 >> 8);
  file[sof + 6] = file[sof + 8] = static_cast<char>(35000 & 0xFF);
  auto info = ParseInstance(file);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(info.status().message().find("too small"), std::string::npos)
      << info.status().message();
}

TEST(ParseTest, JpegPrecisionMustAgreeWithBits) {
  auto ff = MakeImage(Grey8(16, 16));
  std::string file = Save(*ff, EXS_JPEGProcess1);
  size_t sof = file.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  file[sof + 4] = 12;  // precision 12 in an 8-bit image
  auto info = ParseInstance(file);
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("precision"), std::string::npos);
}

TEST(ParseTest, RleWithBadOffsetsIsRejected) {
  auto ff = MakeImage(Grey8(16, 16));
  std::string file = Save(*ff, EXS_RLELossless);
  ASSERT_TRUE(ParseInstance(file).ok());
  const std::string header("\x01\x00\x00\x00\x40\x00\x00\x00", 8);
  size_t pos = file.find(header);
  ASSERT_NE(pos, std::string::npos);
  std::string bad_offset = file;
  bad_offset[pos + 4] = '\x00';
  bad_offset[pos + 7] = '\x7F';  // offset 0x7F000000
  std::string bad_count = file;
  bad_count[pos] = 16;
  for (const std::string& bad : {bad_offset, bad_count}) {
    auto info = ParseInstance(bad);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(info.status().message().find("RLE"), std::string::npos);
    EXPECT_FALSE(DecodeFrame(bad, 1).ok());
  }
}

TEST(JsonTest, ValidJsonWithBulkDataUri) {
  std::string file = GoodFile();
  auto json = ToDicomJson(file, "http://x/studies/1/series/2/instances/3/bulk");
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  boost::json::value v = boost::json::parse(*json);
  const auto& obj = v.as_object();
  EXPECT_EQ(obj.at("00100010").at("vr"), "PN");
  EXPECT_EQ(obj.at("00100010").at("Value").at(0).at("Alphabetic"), "DOE^JOHN");
  EXPECT_EQ(obj.at("00280010").at("Value").at(0), 8);
  EXPECT_EQ(obj.at("7FE00010").at("BulkDataURI"),
            "http://x/studies/1/series/2/instances/3/bulk/7FE00010");
  EXPECT_FALSE(obj.contains("00020010"));  // no meta header
}

TEST(JsonTest, BulkLeftOutWithoutPrefix) {
  auto ff = MakeImage(Grey8());
  std::vector<Uint8> blob(4000, 1);
  ff->getDataset()->putAndInsertUint8Array(DcmTag(0x0009, 0x1010, EVR_OB), blob.data(), 4000);
  ff->getDataset()->putAndInsertString(DCM_SliceThickness, "1.5");
  auto json = ToDicomJson(Save(*ff, EXS_LittleEndianExplicit));
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  boost::json::value v = boost::json::parse(*json);
  EXPECT_FALSE(v.as_object().contains("7FE00010"));
  EXPECT_FALSE(v.as_object().contains("00091010"));
  EXPECT_TRUE(v.as_object().contains("00180050"));
}

}  // namespace
}  // namespace imgpipe::dicom
