// Deidentify: no identifying value survives anywhere in the output bytes, UIDs map consistently
// per salt, pixel data is kept byte for byte; checked with our parser and with dcmdump and pydicom.
#include <gtest/gtest.h>

#include <boost/json.hpp>

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

// The documented mapping, recomputed here: 2.25 + 128 bits of SHA-256(salt + uid) as a v8 UUID.
std::string ExpectedUid(const std::string& salt, const std::string& uid) {
  core::Sha256Digest d = core::Sha256Of(salt + uid);
  std::array<uint8_t, 16> u;
  std::copy_n(d.begin(), 16, u.begin());
  u[6] = static_cast<uint8_t>((u[6] & 0x0F) | 0x80);
  u[8] = static_cast<uint8_t>((u[8] & 0x3F) | 0x80);
  return core::UidFromUuid(u);
}

// The Pixel Data element (tag to end of file) as raw bytes: the last (7FE0,0010) in the file.
std::string PixelElementBytes(const std::string& file) {
  const size_t pos = file.rfind(std::string("\xE0\x7F\x10\x00", 4));
  return pos == std::string::npos ? std::string() : file.substr(pos);
}

void ExpectAbsent(const std::string& out, const std::vector<std::string>& secrets) {
  for (const std::string& s : secrets) {
    EXPECT_EQ(out.find(s), std::string::npos) << "identifying value left in output: " << s;
  }
}

std::vector<DemoFile> DemoCt() {
  std::vector<DemoFile> ct;
  for (DemoFile& f : MakeDemoDataset()) {
    if (f.name.starts_with("ct/")) ct.push_back(std::move(f));
  }
  return ct;
}

// A file with identifying values at the top level, in nested sequences and in private tags.
const char* const kOriginalRefUid = "1.2.826.0.1.3680043.2.1125.7.1";
const char* const kOriginalFrameOfRef = "1.2.826.0.1.3680043.2.1125.7.2";

std::string RichSource(E_TransferSyntax xfer = EXS_LittleEndianExplicit) {
  ImageSpec spec;
  spec.rows = 16;
  spec.columns = 16;
  spec.bits_allocated = spec.bits_stored = 16;
  spec.pixels = testing::Pattern(256, 2, 0x0FFF);
  auto ff = testing::MakeImage(spec);
  DcmDataset& ds = *ff->getDataset();
  ds.putAndInsertString(DCM_PatientBirthDate, "19700101");
  ds.putAndInsertString(DCM_PatientSex, "F");
  ds.putAndInsertString(DCM_PatientAge, "054Y");
  ds.putAndInsertString(DCM_PatientAddress, "12 SECRET STREET");
  ds.putAndInsertString(DCM_AccessionNumber, "ACC-998877");
  ds.putAndInsertString(DCM_StudyID, "STUDY-55");
  ds.putAndInsertString(DCM_StudyDate, "20240311");
  ds.putAndInsertString(DCM_SeriesDate, "20240315");
  ds.putAndInsertString(DCM_StudyTime, "101112");
  ds.putAndInsertString(DCM_StudyDescription, "CHEST FOR JOHN DOE");
  ds.putAndInsertString(DCM_InstitutionName, "SECRET HOSPITAL");
  ds.putAndInsertString(DCM_StationName, "STATION-9Q");
  ds.putAndInsertString(DCM_DeviceSerialNumber, "SN-445566");
  ds.putAndInsertString(DCM_OperatorsName, "OPERATOR^OLGA");
  ds.putAndInsertString(DCM_ReferringPhysicianName, "REFERRER^RITA");
  ds.putAndInsertString(DCM_FrameOfReferenceUID, kOriginalFrameOfRef);
  ds.putAndInsertString(DCM_BodyPartExamined, "CHEST");
  DcmItem* other = nullptr;
  ds.findOrCreateSequenceItem(DCM_OtherPatientIDsSequence, other, -2);
  other->putAndInsertString(DCM_PatientID, "OTHER-ID-77");
  // Nested: a referenced image whose item carries a person, a date and a private tag, and a
  // sequence inside it.
  DcmItem* ref = nullptr;
  ds.findOrCreateSequenceItem(DCM_ReferencedImageSequence, ref, -2);
  ref->putAndInsertString(DCM_ReferencedSOPClassUID, "1.2.840.10008.5.1.4.1.1.2");
  ref->putAndInsertString(DCM_ReferencedSOPInstanceUID, kOriginalRefUid);
  ref->putAndInsertString(DCM_PersonName, "NESTED^PERSON");
  ref->putAndInsertString(DCM_ContentDate, "20230102");
  ref->putAndInsertString(DcmTag(0x0011, 0x0010, EVR_LO), "ACME 1.0");
  ref->putAndInsertString(DcmTag(0x0011, 0x1001, EVR_LO), "NESTED-PRIVATE-VALUE");
  DcmItem* purpose = nullptr;
  ref->findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, purpose, -2);
  purpose->putAndInsertString(DCM_CodeValue, "121322");
  purpose->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
  purpose->putAndInsertString(DCM_CodingSchemeUID, "2.16.840.1.113883.6.96");
  purpose->putAndInsertString(DCM_PatientID, "NESTED-PID-31");
  DcmItem* deep = nullptr;
  purpose->findOrCreateSequenceItem(DCM_OperatorIdentificationSequence, deep, -2);
  deep->putAndInsertString(DCM_InstitutionName, "DEEP SECRET CLINIC");
  // Top-level private block.
  ds.putAndInsertString(DcmTag(0x0009, 0x0010, EVR_LO), "ACME 1.0");
  ds.putAndInsertString(DcmTag(0x0009, 0x1001, EVR_LO), "SECRET-PRIVATE-VALUE");
  ds.putAndInsertString(DcmTag(0x0009, 0x1002, EVR_PN), "PRIVATE^PAT");
  return testing::Save(*ff, xfer);
}

const std::vector<std::string> kRichSecrets = {"DOE^JOHN",
                                               "PID1",
                                               "19700101",
                                               "054Y",
                                               "SECRET STREET",
                                               "ACC-998877",
                                               "STUDY-55",
                                               "20240311",
                                               "20240315",
                                               "101112",
                                               "JOHN DOE",
                                               "SECRET HOSPITAL",
                                               "STATION-9Q",
                                               "SN-445566",
                                               "OPERATOR",
                                               "REFERRER",
                                               "OTHER-ID-77",
                                               "NESTED^PERSON",
                                               "20230102",
                                               "ACME",
                                               "PRIVATE-VALUE",
                                               "PRIVATE^PAT",
                                               "DEEP SECRET",
                                               "NESTED-PID-31",
                                               kOriginalRefUid,
                                               kOriginalFrameOfRef,
                                               "1.2.826.0.1.3680043.2.1125.1.1",  // SOP instance
                                               "1.2.826.0.1.3680043.2.1125.1.2",
                                               "1.2.826.0.1.3680043.2.1125.1.3"};  // study, series

TEST(DeidentifyTest, DemoCtSeriesIsConsistentAndClean) {
  std::vector<DemoFile> ct = DemoCt();
  ASSERT_GE(ct.size(), 2u);
  const std::string& a = ct[0].bytes;
  const std::string& b = ct[1].bytes;
  auto ia = ParseInstance(a), ib = ParseInstance(b);
  ASSERT_TRUE(ia.ok() && ib.ok());
  DeidentifyOptions options;
  options.uid_salt = "job-42";
  auto da = Deidentify(a, options), db = Deidentify(b, options);
  ASSERT_TRUE(da.ok()) << da.status().ToString();
  ASSERT_TRUE(db.ok()) << db.status().ToString();

  auto oa = ParseInstance(*da), ob = ParseInstance(*db);
  ASSERT_TRUE(oa.ok()) << oa.status().ToString();
  ASSERT_TRUE(ob.ok()) << ob.status().ToString();
  // One study and one series, still; new UIDs, exactly the documented mapping.
  EXPECT_EQ(oa->study_instance_uid, ob->study_instance_uid);
  EXPECT_EQ(oa->series_instance_uid, ob->series_instance_uid);
  EXPECT_NE(oa->sop_instance_uid, ob->sop_instance_uid);
  EXPECT_EQ(oa->study_instance_uid, ExpectedUid("job-42", ia->study_instance_uid));
  EXPECT_EQ(oa->series_instance_uid, ExpectedUid("job-42", ia->series_instance_uid));
  EXPECT_EQ(oa->sop_instance_uid, ExpectedUid("job-42", ia->sop_instance_uid));
  EXPECT_EQ(oa->sop_class_uid, ia->sop_class_uid);
  EXPECT_EQ(oa->patient_name, "ANONYMOUS");
  EXPECT_TRUE(oa->patient_id.starts_with("ANON-")) << oa->patient_id;
  EXPECT_EQ(oa->patient_id.size(), 21u);
  EXPECT_EQ(oa->patient_id, ob->patient_id);
  EXPECT_EQ(oa->study_date, "");
  EXPECT_EQ(oa->accession_number, "");
  EXPECT_EQ(oa->modality, "CT");
  EXPECT_DOUBLE_EQ(oa->rescale_intercept, -1024);

  for (const std::string* out : {&*da, &*db}) {
    ExpectAbsent(*out, {"DOE^JANE", "IMG-0001", "19680412", "ACC24031101", "CT1001",
                        "HOUSE^GREGORY", "demo hospital", "CT CHEST WITH CONTRAST", "20240311",
                        "093015", "Soft Tissue", ia->study_instance_uid, ia->series_instance_uid,
                        ia->sop_instance_uid, ib->sop_instance_uid});
  }
  // Frame of reference mapped too (read with pydicom, which also checks the meta header).
  boost::json::object dump = ReadWithPydicom(*da);
  ASSERT_FALSE(dump.empty());
  EXPECT_EQ(dump.at("meta").at("MediaStorageSOPInstanceUID").as_string(), oa->sop_instance_uid);
  const std::string frame_of_ref = Value(dump, "0020,0052");
  EXPECT_TRUE(frame_of_ref.starts_with("2.25.")) << frame_of_ref;
  EXPECT_EQ(frame_of_ref, Value(ReadWithPydicom(*db), "0020,0052"));
  EXPECT_EQ(Value(dump, "0012,0062"), "YES");
  EXPECT_EQ(Value(dump, "0012,0063"), "imgpipe PS3.15 Basic Profile");
  EXPECT_EQ(Value(dump, "0012,0064[0].0008,0100"), "113100");
  EXPECT_EQ(Value(dump, "0028,0303"), "REMOVED");
  EXPECT_EQ(Value(dump, "0008,0080"), "<absent>");  // institution
  EXPECT_EQ(Value(dump, "0010,0030"), "");          // birth date emptied, still present

  // Pixel data identical: raw element bytes, our decoder, pydicom.
  EXPECT_EQ(PixelElementBytes(*da), PixelElementBytes(a));
  EXPECT_GT(PixelElementBytes(a).size(), 512u * 512u * 2u);
  auto fa = DecodeFrame(a, 1), fd = DecodeFrame(*da, 1);
  ASSERT_TRUE(fa.ok() && fd.ok());
  EXPECT_EQ(fa->pixels, fd->pixels);
  EXPECT_EQ(dump.at("pixel_sha256"), ReadWithPydicom(a).at("pixel_sha256"));
  ExpectDcmdumpClean(*da);

  // Another salt: another mapping.
  options.uid_salt = "job-43";
  auto other = Deidentify(a, options);
  ASSERT_TRUE(other.ok());
  auto oo = ParseInstance(*other);
  ASSERT_TRUE(oo.ok());
  EXPECT_NE(oo->study_instance_uid, oa->study_instance_uid);
  EXPECT_NE(oo->sop_instance_uid, oa->sop_instance_uid);
  EXPECT_NE(oo->patient_id, oa->patient_id);
  // Same salt again: the same bytes (the output is a function of input and options).
  options.uid_salt = "job-42";
  auto again = Deidentify(a, options);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *da);
}

TEST(DeidentifyTest, PrivateTagsAndNestedSequencesAreCleaned) {
  const std::string source = RichSource();
  auto in = ParseInstance(source);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  // Each secret is really in the source, so its absence below means something.
  for (const std::string& s : kRichSecrets) {
    ASSERT_NE(source.find(s), std::string::npos) << s;
  }
  DeidentifyOptions options;
  options.uid_salt = "s3cret";
  options.patient_name = "SUBJECT^007";
  options.patient_id = "SUBJ-007";
  auto out = Deidentify(source, options);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectAbsent(*out, kRichSecrets);

  auto info = ParseInstance(*out);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->patient_name, "SUBJECT^007");
  EXPECT_EQ(info->patient_id, "SUBJ-007");
  EXPECT_EQ(info->body_part_examined, "CHEST");  // not identifying: kept

  boost::json::object dump = ReadWithPydicom(*out);
  ASSERT_FALSE(dump.empty());
  for (const auto& [key, value] : dump.at("values").as_object()) {
    // No private element at any depth: every path component has an even group.
    for (size_t pos = 0; pos < key.size(); pos = key.find('.', pos) + 1) {
      const unsigned group = std::stoul(std::string(key.substr(pos, 4)), nullptr, 16);
      EXPECT_EQ(group % 2, 0u) << key;
      if (key.find('.', pos) == std::string::npos) break;
    }
  }
  EXPECT_EQ(Value(dump, "0008,1140[0].0008,1155"), ExpectedUid("s3cret", kOriginalRefUid));
  EXPECT_EQ(Value(dump, "0008,1140[0].0008,1150"), "1.2.840.10008.5.1.4.1.1.2");
  EXPECT_EQ(Value(dump, "0008,1140[0].0040,a123"), "");  // nested person emptied
  EXPECT_EQ(Value(dump, "0008,1140[0].0008,0023"), "");  // nested date emptied
  EXPECT_EQ(Value(dump, "0008,1140[0].0040,a170[0].0008,010c"), "2.16.840.1.113883.6.96");
  EXPECT_EQ(Value(dump, "0008,1140[0].0040,a170[0].0008,1072"), "<absent>");
  EXPECT_EQ(Value(dump, "0010,1002"), "<absent>");  // other patient IDs
  EXPECT_EQ(Value(dump, "0020,0052"), ExpectedUid("s3cret", kOriginalFrameOfRef));
  EXPECT_EQ(dump.at("meta").at("MediaStorageSOPInstanceUID").as_string(), info->sop_instance_uid);
  EXPECT_EQ(PixelElementBytes(*out), PixelElementBytes(source));
  ExpectDcmdumpClean(*out);
}

TEST(DeidentifyTest, CompressedAndDeflatedPixelDataKeptAsIs) {
  for (E_TransferSyntax xfer :
       {EXS_RLELossless, EXS_JPEGProcess14SV1, EXS_DeflatedLittleEndianExplicit}) {
    SCOPED_TRACE(DcmXfer(xfer).getXferName());
    const std::string source = RichSource(xfer);
    auto in = ParseInstance(source);
    ASSERT_TRUE(in.ok()) << in.status().ToString();
    DeidentifyOptions options;
    options.uid_salt = "salt";
    auto out = Deidentify(source, options);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    auto info = ParseInstance(*out);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->transfer_syntax_uid, in->transfer_syntax_uid);
    if (xfer != EXS_DeflatedLittleEndianExplicit) {
      // Deflated files are compressed as a whole, so only the decoded pixels can be compared.
      EXPECT_EQ(PixelElementBytes(*out), PixelElementBytes(source));
      ExpectAbsent(*out, kRichSecrets);
    }
    auto a = DecodeFrame(source, 1), b = DecodeFrame(*out, 1);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->pixels, b->pixels);
    boost::json::object dump = ReadWithPydicom(*out);
    ASSERT_FALSE(dump.empty());
    EXPECT_EQ(dump.at("pixel_sha256"), ReadWithPydicom(source).at("pixel_sha256"));
    EXPECT_EQ(Value(dump, "0010,0010"), "ANONYMOUS");
    EXPECT_EQ(Value(dump, "0009,1001"), "<absent>");
    ExpectDcmdumpClean(*out);
  }
}

TEST(DeidentifyTest, ShiftedDatesKeepIntervals) {
  DeidentifyOptions options;
  options.uid_salt = "cohort-1";
  options.shift_dates = true;
  auto out = Deidentify(RichSource(), options);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  boost::json::object dump = ReadWithPydicom(*out);
  ASSERT_FALSE(dump.empty());
  const std::string study = Value(dump, "0008,0020"), series = Value(dump, "0008,0021");
  ASSERT_EQ(study.size(), 8u) << study;
  ASSERT_EQ(series.size(), 8u) << series;
  EXPECT_NE(study, "20240311");
  EXPECT_LT(study, "20230311");  // at least a year back
  EXPECT_GT(study, "20140311");  // at most ten years back
  // Four days apart before and after (within one month, barring a month end in between).
  auto day_number = [](const std::string& d) {
    std::tm tm{};
    tm.tm_year = std::stoi(d.substr(0, 4)) - 1900;
    tm.tm_mon = std::stoi(d.substr(4, 2)) - 1;
    tm.tm_mday = std::stoi(d.substr(6, 2));
    tm.tm_hour = 12;
    return static_cast<long>(timegm(&tm) / 86400);
  };
  EXPECT_EQ(day_number(series) - day_number(study), 4);
  EXPECT_EQ(Value(dump, "0008,0030"), "101112");  // times kept
  EXPECT_EQ(Value(dump, "0010,0030"), "");        // birth date still emptied
  EXPECT_EQ(Value(dump, "0028,0303"), "MODIFIED");
  EXPECT_EQ(Value(dump, "0012,0064[1].0008,0100"), "113107");
  // Same salt, same shift for another file.
  auto again = Deidentify(RichSource(), options);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Value(ReadWithPydicom(*again), "0008,0020"), study);
}

TEST(DeidentifyTest, RejectsMissingSaltAndBadSources) {
  DeidentifyOptions options;
  EXPECT_EQ(Deidentify(RichSource(), options).status().code(), core::StatusCode::kInvalidArgument);
  options.uid_salt = "x";
  options.patient_id = "A\\B";
  EXPECT_EQ(Deidentify(RichSource(), options).status().code(), core::StatusCode::kInvalidArgument);
  options.patient_id.clear();
  EXPECT_EQ(Deidentify("plainly not DICOM", options).status().code(),
            core::StatusCode::kUnsupportedMediaType);
  const std::string source = RichSource();
  const std::string truncated = source.substr(0, 400);
  EXPECT_EQ(Deidentify(truncated, options).status().code(),
            ParseInstance(truncated).status().code());
  EXPECT_FALSE(ParseInstance(truncated).ok());
}

}  // namespace
}  // namespace imgpipe::dicom
