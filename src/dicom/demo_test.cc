// Tests of MakeDemoDataset: file structure, attributes, UIDs and the phantom's Hounsfield values,
// read back with DCMTK directly (independent of our own parser), then through ParseInstance.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/uid.h"
#include "dicom/dicom.h"

namespace imgpipe::dicom {
namespace {

// Demo generation takes a fraction of a second; share one dataset across the tests.
const std::vector<DemoFile>& Demo() {
  static const auto* files = new std::vector<DemoFile>(MakeDemoDataset());
  return *files;
}

std::unique_ptr<DcmFileFormat> Load(const std::string& bytes) {
  auto ff = std::make_unique<DcmFileFormat>();
  DcmInputBufferStream in;
  in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  in.setEos();
  ff->transferInit();
  const OFCondition cond = ff->read(in, EXS_Unknown, EGL_noChange);
  ff->transferEnd();
  if (cond.bad()) return nullptr;
  return ff;
}

std::string Str(DcmItem& ds, const DcmTagKey& tag, int index = 0) {
  OFString v;
  ds.findAndGetOFString(tag, v, index);
  return v.c_str();
}

std::vector<const DemoFile*> WithPrefix(const std::string& prefix) {
  std::vector<const DemoFile*> out;
  for (const DemoFile& f : Demo()) {
    if (f.name.rfind(prefix, 0) == 0) out.push_back(&f);
  }
  return out;
}

TEST(DemoTest, CountsAndNames) {
  EXPECT_EQ(WithPrefix("ct/").size(), 30u);
  EXPECT_EQ(WithPrefix("mr/").size(), 12u);
  EXPECT_EQ(WithPrefix("dx/").size(), 1u);
  EXPECT_EQ(Demo().size(), 43u);
  std::set<std::string> names;
  for (const DemoFile& f : Demo()) names.insert(f.name);
  EXPECT_EQ(names.size(), Demo().size());
}

TEST(DemoTest, Part10PreambleAndExplicitLittleEndian) {
  for (const DemoFile& f : Demo()) {
    ASSERT_GT(f.bytes.size(), 132u) << f.name;
    EXPECT_EQ(f.bytes.substr(128, 4), "DICM") << f.name;
    auto ff = Load(f.bytes);
    ASSERT_NE(ff, nullptr) << f.name;
    EXPECT_EQ(Str(*ff->getMetaInfo(), DCM_TransferSyntaxUID),
              UID_LittleEndianExplicitTransferSyntax);
    EXPECT_EQ(Str(*ff->getMetaInfo(), DCM_MediaStorageSOPInstanceUID),
              Str(*ff->getDataset(), DCM_SOPInstanceUID));
  }
}

TEST(DemoTest, UidsValidAndConsistent) {
  std::set<std::string> sops, studies, series, patients, frames;
  std::map<std::string, std::string> study_of_series, patient_of_study;
  for (const DemoFile& f : Demo()) {
    auto ff = Load(f.bytes);
    ASSERT_NE(ff, nullptr);
    DcmDataset& ds = *ff->getDataset();
    const std::string sop = Str(ds, DCM_SOPInstanceUID), st = Str(ds, DCM_StudyInstanceUID),
                      se = Str(ds, DCM_SeriesInstanceUID), fr = Str(ds, DCM_FrameOfReferenceUID);
    for (const std::string& u : {sop, st, se, fr}) {
      EXPECT_TRUE(core::IsValidUid(u)) << f.name << ": " << u;
      EXPECT_LE(u.size(), 64u);
      EXPECT_EQ(u.rfind("2.25.", 0), 0u) << u;
    }
    EXPECT_TRUE(sops.insert(sop).second) << "duplicate SOPInstanceUID in " << f.name;
    studies.insert(st);
    series.insert(se);
    frames.insert(fr);
    patients.insert(Str(ds, DCM_PatientID));
    // A series belongs to one study, a study to one patient.
    auto [it, unused] = study_of_series.emplace(se, st);
    EXPECT_EQ(it->second, st);
    auto [pit, unused2] = patient_of_study.emplace(st, Str(ds, DCM_PatientID));
    EXPECT_EQ(pit->second, Str(ds, DCM_PatientID));
  }
  EXPECT_EQ(studies.size(), 3u);
  EXPECT_EQ(series.size(), 3u);
  EXPECT_EQ(patients.size(), 2u);
  EXPECT_EQ(frames.size(), 3u);
  // No identifier is shared between two kinds of entity.
  for (const std::string& s : studies) EXPECT_EQ(series.count(s) + sops.count(s), 0u);
}

TEST(DemoTest, FreshUidsOnEveryCall) {
  const std::vector<DemoFile> again = MakeDemoDataset();
  ASSERT_EQ(again.size(), Demo().size());
  auto a = Load(Demo()[0].bytes), b = Load(again[0].bytes);
  ASSERT_TRUE(a && b);
  EXPECT_NE(Str(*a->getDataset(), DCM_SOPInstanceUID), Str(*b->getDataset(), DCM_SOPInstanceUID));
  EXPECT_NE(Str(*a->getDataset(), DCM_StudyInstanceUID),
            Str(*b->getDataset(), DCM_StudyInstanceUID));
}

TEST(DemoTest, CtAttributes) {
  const auto ct = WithPrefix("ct/");
  ASSERT_GE(ct.size(), 24u);
  double last_z = 0;
  for (size_t i = 0; i < ct.size(); ++i) {
    auto ff = Load(ct[i]->bytes);
    ASSERT_NE(ff, nullptr);
    DcmDataset& ds = *ff->getDataset();
    EXPECT_EQ(Str(ds, DCM_SOPClassUID), UID_CTImageStorage);
    EXPECT_EQ(Str(ds, DCM_Modality), "CT");
    EXPECT_EQ(Str(ds, DCM_PatientName), "DOE^JANE");
    EXPECT_EQ(Str(ds, DCM_InstanceNumber), std::to_string(i + 1));
    Uint16 rows = 0, cols = 0, bits = 0, stored = 0, rep = 0;
    ds.findAndGetUint16(DCM_Rows, rows);
    ds.findAndGetUint16(DCM_Columns, cols);
    ds.findAndGetUint16(DCM_BitsAllocated, bits);
    ds.findAndGetUint16(DCM_BitsStored, stored);
    ds.findAndGetUint16(DCM_PixelRepresentation, rep);
    EXPECT_EQ(rows, 512);
    EXPECT_EQ(cols, 512);
    EXPECT_EQ(bits, 16);
    EXPECT_EQ(stored, 16);
    EXPECT_EQ(rep, 1);
    EXPECT_EQ(Str(ds, DCM_RescaleIntercept), "-1024");
    EXPECT_EQ(Str(ds, DCM_RescaleSlope), "1");
    EXPECT_EQ(Str(ds, DCM_WindowCenter, 0), "40");
    EXPECT_EQ(Str(ds, DCM_WindowWidth, 0), "400");
    EXPECT_EQ(Str(ds, DCM_WindowCenter, 1), "-600");
    EXPECT_EQ(Str(ds, DCM_WindowWidth, 1), "1500");
    EXPECT_EQ(Str(ds, DCM_PixelSpacing, 0), "0.7");
    EXPECT_EQ(Str(ds, DCM_ImageOrientationPatient, 0), "1");
    Float64 z = 0, loc = 0;
    ds.findAndGetFloat64(DCM_ImagePositionPatient, z, 2);
    ds.findAndGetFloat64(DCM_SliceLocation, loc);
    EXPECT_DOUBLE_EQ(z, loc);
    if (i > 0) {
      EXPECT_NEAR(last_z - z, 5.0, 1e-6) << "slices 5 mm apart";
    }
    last_z = z;
  }
}

// HU at (row, col) of a CT slice, averaged over a 5x5 patch.
double HuAt(DcmDataset& ds, int row, int col) {
  const Uint16* px = nullptr;
  unsigned long count = 0;
  if (ds.findAndGetUint16Array(DCM_PixelData, px, &count).bad() || count != 512 * 512) return NAN;
  double sum = 0;
  for (int r = row - 2; r <= row + 2; ++r) {
    for (int c = col - 2; c <= col + 2; ++c) sum += static_cast<int16_t>(px[r * 512 + c]);
  }
  return sum / 25 - 1024;
}

TEST(DemoTest, CtHounsfieldValues) {
  const auto ct = WithPrefix("ct/");
  for (size_t i = 0; i < ct.size(); ++i) {
    auto ff = Load(ct[i]->bytes);
    ASSERT_NE(ff, nullptr);
    DcmDataset& ds = *ff->getDataset();
    EXPECT_NEAR(HuAt(ds, 256, 256), 40, 15) << "body centre, slice " << i + 1;
    EXPECT_NEAR(HuAt(ds, 3, 3), -1000, 10) << "corner, slice " << i + 1;
    EXPECT_NEAR(HuAt(ds, 508, 508), -1000, 10) << "corner, slice " << i + 1;
    // Vertebral body, 72 mm posterior of the centre (0.7 mm pixels): cancellous bone.
    EXPECT_GT(HuAt(ds, 256 + 103, 256), 500) << "spine, slice " << i + 1;
  }
  // Mid-chest: both lungs (78 mm either side of the midline) are air-filled.
  auto mid = Load(ct[ct.size() / 2]->bytes);
  ASSERT_NE(mid, nullptr);
  EXPECT_LT(HuAt(*mid->getDataset(), 253, 256 - 111), -700);
  EXPECT_LT(HuAt(*mid->getDataset(), 253, 256 + 111), -700);
}

TEST(DemoTest, MrAndDxAttributes) {
  for (const DemoFile* f : WithPrefix("mr/")) {
    auto ff = Load(f->bytes);
    ASSERT_NE(ff, nullptr);
    DcmDataset& ds = *ff->getDataset();
    EXPECT_EQ(Str(ds, DCM_SOPClassUID), UID_MRImageStorage);
    EXPECT_EQ(Str(ds, DCM_Modality), "MR");
    EXPECT_EQ(Str(ds, DCM_PatientName), "SMITH^JOHN^A");
    Uint16 rows = 0, stored = 0;
    ds.findAndGetUint16(DCM_Rows, rows);
    ds.findAndGetUint16(DCM_BitsStored, stored);
    EXPECT_EQ(rows, 256);
    EXPECT_EQ(stored, 12);
    const Uint16* px = nullptr;
    unsigned long count = 0;
    ASSERT_TRUE(ds.findAndGetUint16Array(DCM_PixelData, px, &count).good());
    ASSERT_EQ(count, 256u * 256u);
    for (unsigned long i = 0; i < count; ++i) ASSERT_LT(px[i], 4096) << "fits BitsStored 12";
    EXPECT_LT(px[0], 100) << "background is dark";
  }
  auto dx = Load(WithPrefix("dx/")[0]->bytes);
  ASSERT_NE(dx, nullptr);
  DcmDataset& ds = *dx->getDataset();
  EXPECT_EQ(Str(ds, DCM_SOPClassUID), UID_DigitalXRayImageStorageForPresentation);
  EXPECT_EQ(Str(ds, DCM_Modality), "DX");
  EXPECT_EQ(Str(ds, DCM_ImagerPixelSpacing, 0), "0.2");
  EXPECT_EQ(Str(ds, DCM_PhotometricInterpretation), "MONOCHROME2");
  Uint16 rows = 0, cols = 0;
  ds.findAndGetUint16(DCM_Rows, rows);
  ds.findAndGetUint16(DCM_Columns, cols);
  EXPECT_EQ(rows, 2048);
  EXPECT_EQ(cols, 1536);
}

// Needs the parser (parse.cc): every demo file must be accepted, with the values written.
TEST(DemoTest, ParseInstanceAcceptsEveryFile) {
  std::map<std::string, int> per_modality;
  for (const DemoFile& f : Demo()) {
    core::Result<InstanceInfo> info = ParseInstance(f.bytes);
    ASSERT_TRUE(info.ok()) << f.name << ": " << info.status().ToString();
    ++per_modality[info->modality];
    EXPECT_EQ(info->number_of_frames, 1) << f.name;
    EXPECT_TRUE(info->has_window) << f.name;
    EXPECT_TRUE(core::IsValidUid(info->sop_instance_uid));
    EXPECT_EQ(info->transfer_syntax_uid, UID_LittleEndianExplicitTransferSyntax);
    EXPECT_FALSE(info->study_date.empty());
    EXPECT_FALSE(info->accession_number.empty());
    if (info->modality == "CT") {
      EXPECT_EQ(info->patient_name, "DOE^JANE");
      EXPECT_EQ(info->rows, 512);
      EXPECT_EQ(info->pixel_representation, 1);
      EXPECT_DOUBLE_EQ(info->rescale_intercept, -1024);
      EXPECT_DOUBLE_EQ(info->window_center, 40);
      EXPECT_DOUBLE_EQ(info->pixel_spacing_row, 0.7);
    }
  }
  EXPECT_EQ(per_modality["CT"], 30);
  EXPECT_EQ(per_modality["MR"], 12);
  EXPECT_EQ(per_modality["DX"], 1);
}

}  // namespace
}  // namespace imgpipe::dicom
