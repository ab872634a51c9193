// WriteSegmentation, read back with dcmdata (attributes), dcmseg (DCMTK's segmentation reader:
// IOD and frames) and pydicom (separate process: bits unpacked by pixel_array).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/uid.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmseg/segdoc.h"
#include "dcmtk/dcmseg/segutils.h"
#include "dicom/dicom.h"
#include "dicom/test_util.h"

namespace imgpipe::dicom {
namespace {

using testing::ReadWithPydicom;
using testing::Value;

constexpr char kFrameOfReference[] = "1.2.826.0.1.3680043.2.1125.9.1";

// Source `n` (from 1) of a small series: rows x columns, 8-bit; with geometry (axial, z = 2.5 n,
// reversed order so instance order and position order differ) unless `plain`.
std::string Source(int n, int rows, int columns, bool plain = false) {
  testing::ImageSpec spec;
  spec.rows = rows;
  spec.columns = columns;
  spec.pixels = testing::Pattern(static_cast<size_t>(rows) * columns, 1, 0xFF, n);
  auto ff = testing::MakeImage(spec);
  DcmDataset& ds = *ff->getDataset();
  ds.putAndInsertString(DCM_SOPInstanceUID,
                        ("1.2.826.0.1.3680043.2.1125.1.1." + std::to_string(n)).c_str());
  ds.putAndInsertString(DCM_InstanceNumber, std::to_string(n).c_str());
  ds.putAndInsertString(DCM_AccessionNumber, "ACC-7");
  if (!plain) {
    ds.putAndInsertString(DCM_FrameOfReferenceUID, kFrameOfReference);
    ds.putAndInsertString(DCM_ImagePositionPatient,
                          ("-10\\-20\\" + std::to_string(2.5 * (10 - n))).c_str());
    ds.putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
    ds.putAndInsertString(DCM_PixelSpacing, "0.5\\0.75");
    ds.putAndInsertString(DCM_SliceThickness, "2.5");
  }
  return testing::Save(*ff, EXS_LittleEndianExplicit);
}

// A mask with a per-seed pattern of 0 and non-zero bytes (non-zero values vary: any counts).
BinaryMask Mask(int rows, int columns, uint32_t seed) {
  BinaryMask m{rows, columns, testing::Pattern(static_cast<size_t>(rows) * columns, 1, 0xFF, seed)};
  for (uint8_t& p : m.pixels) p = (p % 3 == 0) ? 0 : p;
  return m;
}

std::string Digits(const BinaryMask& m) {
  std::string s;
  for (uint8_t p : m.pixels) s.push_back(p != 0 ? '1' : '0');
  return s;
}

SegmentationOptions Options() {
  SegmentationOptions o;
  o.algorithm_name = "threshold";
  o.segment_label = "Bone";
  o.type = {"272673000", "SCT", "Bone"};
  o.content_description = "imgpipe threshold";
  return o;
}

std::unique_ptr<DcmFileFormat> Load(const std::string& bytes) {
  auto ff = std::make_unique<DcmFileFormat>();
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  ff->transferInit();
  EXPECT_TRUE(ff->read(stream).good());
  ff->transferEnd();
  return ff;
}

std::string Get(DcmItem& item, const DcmTagKey& tag, int pos = -1) {
  OFString v;
  if (pos < 0) {
    item.findAndGetOFStringArray(tag, v);
  } else {
    item.findAndGetOFString(tag, v, pos);
  }
  return v.c_str();
}

// The frames as dcmseg unpacks them, as 0/1 digits.
std::vector<std::string> DcmsegFrames(const std::string& bytes, int rows, int columns) {
  auto ff = Load(bytes);
  DcmSegmentation* seg = nullptr;
  OFCondition cond = DcmSegmentation::loadDataset(*ff->getDataset(), seg);
  EXPECT_TRUE(cond.good()) << cond.text();
  std::vector<std::string> frames;
  if (seg == nullptr) return frames;
  std::unique_ptr<DcmSegmentation> owned(seg);
  EXPECT_EQ(seg->getSegmentationType(), DcmSegTypes::ST_BINARY);
  EXPECT_EQ(seg->getNumberOfSegments(), 1u);
  for (size_t i = 0; i < seg->getNumberOfFrames(); ++i) {
    std::unique_ptr<DcmIODTypes::Frame> unpacked(DcmSegUtils::unpackBinaryFrame(
        seg->getFrame(i), static_cast<Uint16>(rows), static_cast<Uint16>(columns)));
    std::string digits;
    for (size_t p = 0; unpacked && p < unpacked->length; ++p) {
      digits.push_back(unpacked->pixData[p] != 0 ? '1' : '0');
    }
    frames.push_back(digits);
  }
  return frames;
}

TEST(SegmentationTest, OneFrameHasTheRequiredAttributes) {
  const std::string source = Source(1, 6, 5);
  const BinaryMask mask = Mask(6, 5, 1);
  auto out = WriteSegmentation({source}, {mask}, Options());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  auto info = ParseInstance(*out);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  auto src = ParseInstance(source);
  ASSERT_TRUE(src.ok());
  EXPECT_EQ(info->sop_class_uid, "1.2.840.10008.5.1.4.1.1.66.4");
  EXPECT_EQ(info->transfer_syntax_uid, "1.2.840.10008.1.2.1");
  EXPECT_EQ(info->modality, "SEG");
  EXPECT_EQ(info->study_instance_uid, src->study_instance_uid);
  EXPECT_NE(info->series_instance_uid, src->series_instance_uid);
  EXPECT_EQ(info->patient_id, src->patient_id);
  EXPECT_EQ(info->accession_number, "ACC-7");
  EXPECT_EQ(info->number_of_frames, 1);
  EXPECT_EQ(info->bits_allocated, 1);
  EXPECT_EQ(info->bits_stored, 1);
  EXPECT_EQ(info->rows, 6);
  EXPECT_EQ(info->columns, 5);

  auto ff = Load(*out);
  DcmDataset& ds = *ff->getDataset();
  EXPECT_EQ(Get(ds, DCM_FrameOfReferenceUID), kFrameOfReference);
  EXPECT_EQ(Get(ds, DCM_SegmentationType), "BINARY");
  EXPECT_EQ(Get(ds, DCM_ImageType), "DERIVED\\PRIMARY");
  EXPECT_EQ(Get(ds, DCM_ContentLabel), "SEGMENTATION");
  EXPECT_EQ(Get(ds, DCM_ContentDescription), "imgpipe threshold");
  EXPECT_EQ(Get(ds, DCM_ContentCreatorName), "imgpipe");
  EXPECT_EQ(Get(ds, DCM_InstanceNumber), "1");
  EXPECT_EQ(Get(ds, DCM_ContentDate).size(), 8u);
  EXPECT_FALSE(Get(ds, DCM_ContentTime).empty());
  EXPECT_FALSE(Get(ds, DCM_SoftwareVersions).empty());
  DcmItem* segment = nullptr;
  ASSERT_TRUE(ds.findAndGetSequenceItem(DCM_SegmentSequence, segment, 0).good());
  EXPECT_EQ(Get(*segment, DCM_SegmentNumber), "1");
  EXPECT_EQ(Get(*segment, DCM_SegmentLabel), "Bone");
  EXPECT_EQ(Get(*segment, DCM_SegmentAlgorithmType), "AUTOMATIC");
  EXPECT_EQ(Get(*segment, DCM_SegmentAlgorithmName), "threshold");
  DcmItem* code = nullptr;
  ASSERT_TRUE(
      segment->findAndGetSequenceItem(DCM_SegmentedPropertyCategoryCodeSequence, code, 0).good());
  EXPECT_EQ(Get(*code, DCM_CodeValue), "85756007");
  EXPECT_EQ(Get(*code, DCM_CodingSchemeDesignator), "SCT");
  ASSERT_TRUE(
      segment->findAndGetSequenceItem(DCM_SegmentedPropertyTypeCodeSequence, code, 0).good());
  EXPECT_EQ(Get(*code, DCM_CodeValue), "272673000");
  EXPECT_EQ(Get(*code, DCM_CodeMeaning), "Bone");

  DcmItem* frame = nullptr;
  ASSERT_TRUE(ds.findAndGetSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame, 0).good());
  DcmItem* item = nullptr;
  ASSERT_TRUE(frame->findAndGetSequenceItem(DCM_PlanePositionSequence, item, 0).good());
  EXPECT_EQ(Get(*item, DCM_ImagePositionPatient), "-10\\-20\\22.500000");
  ASSERT_TRUE(frame->findAndGetSequenceItem(DCM_SegmentIdentificationSequence, item, 0).good());
  EXPECT_EQ(Get(*item, DCM_ReferencedSegmentNumber), "1");
  DcmItem* shared = nullptr;
  ASSERT_TRUE(ds.findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0).good());
  ASSERT_TRUE(shared->findAndGetSequenceItem(DCM_PixelMeasuresSequence, item, 0).good());
  EXPECT_EQ(Get(*item, DCM_PixelSpacing), "0.5\\0.75");
  EXPECT_EQ(Get(*item, DCM_SliceThickness), "2.5");
  ASSERT_TRUE(shared->findAndGetSequenceItem(DCM_PlaneOrientationSequence, item, 0).good());
  EXPECT_EQ(Get(*item, DCM_ImageOrientationPatient), "1\\0\\0\\0\\1\\0");

  EXPECT_EQ(DcmsegFrames(*out, 6, 5), std::vector<std::string>{Digits(mask)});
  testing::ExpectDcmdumpClean(*out);
}

TEST(SegmentationTest, SeriesFramesReferenceTheirSourcesInOrder) {
  std::vector<std::string> files;
  std::vector<BinaryMask> masks;
  for (int n = 1; n <= 3; ++n) {
    files.push_back(Source(n, 4, 4));
    masks.push_back(Mask(4, 4, 10 + n));
  }
  SegmentationOptions options = Options();
  options.series_instance_uid = "1.2.826.0.1.3680043.2.1125.9.2";
  options.sop_instance_uid = "1.2.826.0.1.3680043.2.1125.9.3";
  auto out = WriteSegmentation({files[0], files[1], files[2]}, masks, options);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  auto info = ParseInstance(*out);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->number_of_frames, 3);
  EXPECT_EQ(info->series_instance_uid, options.series_instance_uid);
  EXPECT_EQ(info->sop_instance_uid, options.sop_instance_uid);

  auto ff = Load(*out);
  DcmDataset& ds = *ff->getDataset();
  DcmItem* series = nullptr;
  ASSERT_TRUE(ds.findAndGetSequenceItem(DCM_ReferencedSeriesSequence, series, 0).good());
  EXPECT_EQ(Get(*series, DCM_SeriesInstanceUID), "1.2.826.0.1.3680043.2.1125.1.3");
  for (int i = 0; i < 3; ++i) {
    const std::string uid = "1.2.826.0.1.3680043.2.1125.1.1." + std::to_string(i + 1);
    DcmItem* ref = nullptr;
    ASSERT_TRUE(series->findAndGetSequenceItem(DCM_ReferencedInstanceSequence, ref, i).good());
    EXPECT_EQ(Get(*ref, DCM_ReferencedSOPInstanceUID), uid);
    EXPECT_EQ(Get(*ref, DCM_ReferencedSOPClassUID), UID_SecondaryCaptureImageStorage);

    DcmItem* frame = nullptr;
    ASSERT_TRUE(ds.findAndGetSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame, i).good());
    DcmItem* derivation = nullptr;
    ASSERT_TRUE(frame->findAndGetSequenceItem(DCM_DerivationImageSequence, derivation, 0).good());
    DcmItem* item = nullptr;
    ASSERT_TRUE(derivation->findAndGetSequenceItem(DCM_DerivationCodeSequence, item, 0).good());
    EXPECT_EQ(Get(*item, DCM_CodeValue), "113076");
    DcmItem* source = nullptr;
    ASSERT_TRUE(derivation->findAndGetSequenceItem(DCM_SourceImageSequence, source, 0).good());
    EXPECT_EQ(Get(*source, DCM_ReferencedSOPInstanceUID), uid);
    ASSERT_TRUE(source->findAndGetSequenceItem(DCM_PurposeOfReferenceCodeSequence, item, 0).good());
    EXPECT_EQ(Get(*item, DCM_CodeValue), "121322");
    EXPECT_EQ(Get(*item, DCM_CodingSchemeDesignator), "DCM");
    ASSERT_TRUE(frame->findAndGetSequenceItem(DCM_FrameContentSequence, item, 0).good());
    // z falls as n rises: frame 1 is the highest position, rank 3.
    EXPECT_EQ(Get(*item, DCM_DimensionIndexValues), "1\\" + std::to_string(3 - i));
  }
  DcmItem* dimension = nullptr;
  ASSERT_TRUE(ds.findAndGetSequenceItem(DCM_DimensionIndexSequence, dimension, 1).good());
  EXPECT_EQ(Get(*dimension, DCM_DimensionIndexPointer), "(0020,0032)");

  std::vector<std::string> expected;
  for (const BinaryMask& m : masks) expected.push_back(Digits(m));
  EXPECT_EQ(DcmsegFrames(*out, 4, 4), expected);
}

// 5 x 3 = 15 pixels a frame: frames 2 and 3 start inside a byte (PS3.5 8.1.1).
TEST(SegmentationTest, FramesArePackedContiguously) {
  std::vector<std::string> files;
  std::vector<BinaryMask> masks;
  for (int n = 1; n <= 3; ++n) {
    files.push_back(Source(n, 5, 3, /*plain=*/true));
    masks.push_back(Mask(5, 3, 20 + n));
  }
  auto out = WriteSegmentation({files[0], files[1], files[2]}, masks, Options());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  auto ff = Load(*out);
  DcmDataset& ds = *ff->getDataset();
  const Uint8* data = nullptr;
  unsigned long size = 0;
  ASSERT_TRUE(ds.findAndGetUint8Array(DCM_PixelData, data, &size).good());
  EXPECT_EQ(size, 6u);  // ceil(45 / 8), even
  std::string all;
  for (const BinaryMask& m : masks) all += Digits(m);
  std::string unpacked;
  for (size_t bit = 0; bit < 45; ++bit)
    unpacked.push_back((data[bit / 8] >> (bit % 8)) & 1 ? '1' : '0');
  EXPECT_EQ(unpacked, all);
  for (size_t bit = 45; bit < 48; ++bit) EXPECT_EQ((data[bit / 8] >> (bit % 8)) & 1, 0);
  // Our own decoder unpacks each frame alike.
  for (int i = 0; i < 3; ++i) {
    auto frame = DecodeFrame(*out, i + 1);
    ASSERT_TRUE(frame.ok()) << frame.status().ToString();
    std::string digits;
    for (uint8_t p : frame->pixels) digits.push_back(p != 0 ? '1' : '0');
    EXPECT_EQ(digits, Digits(masks[i])) << "frame " << i + 1;
  }
  // Without geometry: no frame of reference, stack positions in frame order.
  EXPECT_FALSE(ds.tagExists(DCM_FrameOfReferenceUID));
  DcmItem* frame = nullptr;
  ASSERT_TRUE(ds.findAndGetSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame, 2).good());
  EXPECT_FALSE(frame->tagExists(DCM_PlanePositionSequence));
  DcmItem* content = nullptr;
  ASSERT_TRUE(frame->findAndGetSequenceItem(DCM_FrameContentSequence, content, 0).good());
  EXPECT_EQ(Get(*content, DCM_DimensionIndexValues), "1\\3");
  EXPECT_EQ(Get(*content, DCM_InStackPositionNumber), "3");
}

TEST(SegmentationTest, PydicomUnpacksTheMasks) {
  std::vector<std::string> files;
  std::vector<BinaryMask> masks;
  for (int n = 1; n <= 3; ++n) {
    files.push_back(Source(n, 5, 3));
    masks.push_back(Mask(5, 3, 30 + n));
  }
  auto out = WriteSegmentation({files[0], files[1], files[2]}, masks, Options());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  boost::json::object dump = ReadWithPydicom(*out);
  ASSERT_FALSE(dump.empty());
  EXPECT_EQ(dump.at("meta").at("MediaStorageSOPClassUID").as_string(),
            "1.2.840.10008.5.1.4.1.1.66.4");
  const boost::json::object& bits = dump.at("bits").as_object();
  EXPECT_EQ(boost::json::serialize(bits.at("shape")), "[3,5,3]");
  const boost::json::array& frames = bits.at("frames").as_array();
  ASSERT_EQ(frames.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(frames[i].as_string(), Digits(masks[i])) << "frame " << i + 1;
    const std::string frame = "5200,9230[" + std::to_string(i) + "].";
    EXPECT_EQ(Value(dump, frame + "0008,9124[0].0008,2112[0].0008,1155"),
              "1.2.826.0.1.3680043.2.1125.1.1." + std::to_string(i + 1));
    EXPECT_EQ(Value(dump, "0008,1115[0].0008,114a[" + std::to_string(i) + "].0008,1155"),
              "1.2.826.0.1.3680043.2.1125.1.1." + std::to_string(i + 1));
  }
  EXPECT_EQ(Value(dump, "0062,0002"), "SQ:1");
  EXPECT_EQ(Value(dump, "0062,0002[0].0062,0005"), "Bone");
  EXPECT_EQ(Value(dump, "0062,0002[0].0062,0003[0].0008,0100"), "85756007");
  EXPECT_EQ(Value(dump, "0008,1115"), "SQ:1");
  EXPECT_EQ(Value(dump, "0008,1115[0].0020,000e"), "1.2.826.0.1.3680043.2.1125.1.3");
}

TEST(SegmentationTest, ADemoCtSliceRoundTrips) {
  std::string ct;
  for (DemoFile& f : MakeDemoDataset()) {
    if (f.name == "ct/slice-010.dcm") ct = std::move(f.bytes);
  }
  ASSERT_FALSE(ct.empty());
  auto src = ParseInstance(ct);
  ASSERT_TRUE(src.ok());
  const BinaryMask mask = Mask(src->rows, src->columns, 5);
  auto out = WriteSegmentation({ct}, {mask}, Options());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(DcmsegFrames(*out, src->rows, src->columns), std::vector<std::string>{Digits(mask)});
  boost::json::object dump = ReadWithPydicom(*out);
  ASSERT_FALSE(dump.empty());
  EXPECT_EQ(dump.at("bits").at("frames").as_array().at(0).as_string(), Digits(mask));
  EXPECT_EQ(Value(dump, "0020,0052"), Value(ReadWithPydicom(ct), "0020,0052"));
}

TEST(SegmentationTest, RejectsInconsistentInput) {
  const std::string a = Source(1, 4, 4), b = Source(2, 4, 5);
  const BinaryMask m4 = Mask(4, 4, 1), m5 = Mask(4, 5, 2);
  EXPECT_EQ(WriteSegmentation({}, {}, Options()).status().code(),
            core::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteSegmentation({a}, {m4, m4}, Options()).status().code(),
            core::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteSegmentation({a}, {m5}, Options()).status().code(),
            core::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteSegmentation({a, b}, {m4, m5}, Options()).status().code(),
            core::StatusCode::kInvalidArgument);
  BinaryMask short_mask = m4;
  short_mask.pixels.pop_back();
  EXPECT_EQ(WriteSegmentation({a}, {short_mask}, Options()).status().code(),
            core::StatusCode::kInvalidArgument);
  SegmentationOptions options = Options();
  options.algorithm_name.clear();
  EXPECT_EQ(WriteSegmentation({a}, {m4}, options).status().code(),
            core::StatusCode::kInvalidArgument);
  options = Options();
  options.content_label = "lower case";
  EXPECT_EQ(WriteSegmentation({a}, {m4}, options).status().code(),
            core::StatusCode::kInvalidArgument);
  options = Options();
  options.series_instance_uid = "not a uid";
  EXPECT_EQ(WriteSegmentation({a}, {m4}, options).status().code(),
            core::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteSegmentation({std::string_view("not dicom")}, {m4}, Options()).ok(), false);
}

}  // namespace
}  // namespace imgpipe::dicom
