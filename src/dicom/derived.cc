// WriteDerivedImage: a processed image as a Secondary Capture instance in its source's study.
//
// Plain Secondary Capture rather than the multi-frame grayscale SC classes because only it allows
// signed pixels with an arbitrary modality LUT (CT results in HU) and RGB in one SOP class.
#include <dcmtk/dcmdata/dcdatutl.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcvrda.h>
#include <dcmtk/dcmdata/dcvrtm.h>

#include <cmath>
#include <cstdio>

#include "core/uid.h"
#include "dicom/internal.h"

namespace imgpipe::dicom {

namespace internal {

// A DS value (at most 16 characters, PS3.5 6.2) with as much precision as fits.
std::string Ds(double v) {
  char buf[32];
  for (int precision = 12; precision > 0; --precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strlen(buf) <= 16) break;
  }
  return buf;
}

void CopyIfPresent(DcmItem& from, DcmItem& to, const DcmTagKey& tag) {
  DcmElement* element = nullptr;
  if (from.findAndGetElement(tag, element).good() && element != nullptr) {
    to.insert(static_cast<DcmElement*>(element->clone()), /*replaceOld=*/true);
  }
}

// Type 2 attributes must be present, possibly empty.
void EnsurePresent(DcmItem& item, const DcmTagKey& tag) {
  if (!item.tagExists(tag)) item.insertEmptyElement(tag);
}

void CopyPatientAndStudy(DcmItem& from, DcmItem& to) {
  static const DcmTagKey kCopied[] = {DCM_SpecificCharacterSet,
                                      DCM_PatientName,
                                      DCM_PatientID,
                                      DCM_IssuerOfPatientID,
                                      DCM_IssuerOfPatientIDQualifiersSequence,
                                      DCM_PatientBirthDate,
                                      DCM_PatientBirthTime,
                                      DCM_PatientSex,
                                      DCM_OtherPatientIDsSequence,
                                      DCM_PatientComments,
                                      DCM_PatientAge,
                                      DCM_PatientSize,
                                      DCM_PatientWeight,
                                      DCM_PatientIdentityRemoved,
                                      DCM_DeidentificationMethod,
                                      DCM_DeidentificationMethodCodeSequence,
                                      DCM_LongitudinalTemporalInformationModified,
                                      DCM_StudyInstanceUID,
                                      DCM_StudyDate,
                                      DCM_StudyTime,
                                      DCM_ReferringPhysicianName,
                                      DCM_StudyID,
                                      DCM_AccessionNumber,
                                      DCM_IssuerOfAccessionNumberSequence,
                                      DCM_StudyDescription,
                                      DCM_BodyPartExamined,
                                      DCM_Laterality,
                                      DCM_LossyImageCompression,
                                      DCM_LossyImageCompressionRatio,
                                      DCM_LossyImageCompressionMethod,
                                      DCM_BurnedInAnnotation};
  for (const DcmTagKey& tag : kCopied) CopyIfPresent(from, to, tag);
  for (const DcmTagKey& tag :
       {DCM_PatientName, DCM_PatientID, DCM_PatientBirthDate, DCM_PatientSex, DCM_StudyDate,
        DCM_StudyTime, DCM_ReferringPhysicianName, DCM_StudyID, DCM_AccessionNumber}) {
    EnsurePresent(to, tag);
  }
}

}  // namespace internal

namespace {

using internal::CopyIfPresent;
using internal::CopyPatientAndStudy;
using internal::Ds;

using core::Status;

constexpr char kPurposeSourceImage[] = "121322";  // DCM CID 7202

bool ValidLo(const std::string& s) { return s.size() <= 64 && s.find('\\') == std::string::npos; }

Status Validate(const DerivedImage& image, const DerivedOptions& options) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument("derived image: " + m); };
  if (image.rows < 1 || image.rows > 65535 || image.columns < 1 || image.columns > 65535) {
    return bad("rows and columns must be 1..65535");
  }
  if (image.samples != 1 && image.samples != 3) return bad("samples must be 1 or 3");
  if (image.bits != 8 && image.bits != 16) return bad("bits must be 8 or 16");
  const uint64_t expected = static_cast<uint64_t>(image.rows) * image.columns * image.samples *
                            static_cast<uint64_t>(image.bits / 8);
  if (image.pixels.size() != expected) {
    return bad("pixel buffer holds " + std::to_string(image.pixels.size()) + " bytes, " +
               std::to_string(expected) + " expected");
  }
  const bool grey = image.samples == 1;
  if (!grey && image.is_signed) return bad("RGB pixels cannot be signed");
  if (!grey && (image.rescale_slope || image.rescale_intercept || image.window_center ||
                image.window_width)) {
    return bad("rescale and window apply to grey images only");
  }
  if (image.rescale_slope && (!std::isfinite(*image.rescale_slope) || *image.rescale_slope == 0)) {
    return bad("rescale slope must be finite and non-zero");
  }
  if (image.rescale_intercept && !std::isfinite(*image.rescale_intercept)) {
    return bad("rescale intercept must be finite");
  }
  if (image.window_center.has_value() != image.window_width.has_value()) {
    return bad("window center and width go together");
  }
  if (image.window_width && (!std::isfinite(*image.window_center) ||
                             !std::isfinite(*image.window_width) || *image.window_width <= 0)) {
    return bad("window width must be > 0 and both values finite");
  }
  if (!std::isfinite(image.pixel_spacing_row) || !std::isfinite(image.pixel_spacing_col) ||
      image.pixel_spacing_row < 0 || image.pixel_spacing_col < 0) {
    return bad("pixel spacing must be finite and >= 0");
  }
  if (!options.series_instance_uid.empty()) {
    IMGPIPE_RETURN_IF_ERROR(core::ValidateUid(options.series_instance_uid, "series_instance_uid"));
  }
  if (!ValidLo(options.series_description)) {
    return bad("series description must be <= 64 characters without backslash");
  }
  if (options.derivation_description.size() > 1024) {
    return bad("derivation description must be <= 1024 characters");
  }
  if (options.series_number < 0 || options.instance_number < 0) {
    return bad("series and instance numbers must be >= 0");
  }
  return Status::Ok();
}

// An item referencing the source instance, by SOP class and instance.
DcmItem* SourceReference(const InstanceInfo& source) {
  auto* item = new DcmItem;
  item->putAndInsertString(DCM_ReferencedSOPClassUID, source.sop_class_uid.c_str());
  item->putAndInsertString(DCM_ReferencedSOPInstanceUID, source.sop_instance_uid.c_str());
  return item;
}

void PutPurpose(DcmItem& item) {
  DcmItem* code = nullptr;
  if (item.findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, code, -2).bad()) return;
  code->putAndInsertString(DCM_CodeValue, kPurposeSourceImage);
  code->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
  code->putAndInsertString(DCM_CodeMeaning, "Source image for image processing operation");
}

void PutReferences(DcmDataset& ds, const InstanceInfo& source) {
  DcmItem* src = SourceReference(source);
  PutPurpose(*src);
  ds.insertSequenceItem(DCM_SourceImageSequence, src);
  ds.insertSequenceItem(DCM_ReferencedImageSequence, SourceReference(source));
  auto* series = new DcmItem;
  series->putAndInsertString(DCM_SeriesInstanceUID, source.series_instance_uid.c_str());
  series->insertSequenceItem(DCM_ReferencedInstanceSequence, SourceReference(source));
  ds.insertSequenceItem(DCM_ReferencedSeriesSequence, series);
}

void PutPixels(DcmDataset& ds, const DerivedImage& image, const std::string& modality) {
  ds.putAndInsertUint16(DCM_SamplesPerPixel, static_cast<Uint16>(image.samples));
  ds.putAndInsertString(DCM_PhotometricInterpretation, image.samples == 3 ? "RGB" : "MONOCHROME2");
  if (image.samples == 3) ds.putAndInsertUint16(DCM_PlanarConfiguration, 0);
  ds.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(image.rows));
  ds.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(image.columns));
  ds.putAndInsertUint16(DCM_BitsAllocated, static_cast<Uint16>(image.bits));
  ds.putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(image.bits));
  ds.putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(image.bits - 1));
  ds.putAndInsertUint16(DCM_PixelRepresentation, image.is_signed ? 1 : 0);
  if (image.rescale_slope || image.rescale_intercept) {
    ds.putAndInsertString(DCM_RescaleIntercept, Ds(image.rescale_intercept.value_or(0)).c_str());
    ds.putAndInsertString(DCM_RescaleSlope, Ds(image.rescale_slope.value_or(1)).c_str());
    ds.putAndInsertString(DCM_RescaleType, modality == "CT" ? "HU" : "US");
  }
  if (image.window_center && image.window_width) {
    ds.putAndInsertString(DCM_WindowCenter, Ds(*image.window_center).c_str());
    ds.putAndInsertString(DCM_WindowWidth, Ds(*image.window_width).c_str());
  }
  if (image.pixel_spacing_row > 0 && image.pixel_spacing_col > 0) {
    ds.putAndInsertString(
        DCM_PixelSpacing,
        (Ds(image.pixel_spacing_row) + "\\" + Ds(image.pixel_spacing_col)).c_str());
  }
  if (image.bits == 8) {
    ds.putAndInsertUint8Array(DCM_PixelData, image.pixels.data(), image.pixels.size());
  } else {
    // Host-order words; DCMTK writes them little-endian.
    std::vector<Uint16> words(image.pixels.size() / 2);
    std::memcpy(words.data(), image.pixels.data(), words.size() * 2);
    ds.putAndInsertUint16Array(DCM_PixelData, words.data(), words.size());
  }
}

core::Result<std::string> Write(const internal::Parsed& source, const DerivedImage& image,
                                const DerivedOptions& options) {
  IMGPIPE_RETURN_IF_ERROR(Validate(image, options));
  const InstanceInfo& info = source.info;

  DcmFileFormat ff;
  DcmDataset& ds = *ff.getDataset();
  CopyPatientAndStudy(*source.dataset, ds);
  const std::string modality = info.modality.empty() ? "OT" : info.modality;
  const std::string sop_instance_uid = core::NewUid();
  ds.putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  ds.putAndInsertString(DCM_SOPInstanceUID, sop_instance_uid.c_str());
  const std::string series_uid =
      options.series_instance_uid.empty() ? core::NewUid() : options.series_instance_uid;
  ds.putAndInsertString(DCM_SeriesInstanceUID, series_uid.c_str());
  ds.putAndInsertString(DCM_Modality, modality.c_str());
  ds.putAndInsertString(DCM_SeriesNumber, options.series_number > 0
                                              ? std::to_string(options.series_number).c_str()
                                              : "");
  if (!options.series_description.empty()) {
    ds.putAndInsertString(DCM_SeriesDescription, options.series_description.c_str());
  }
  ds.putAndInsertString(DCM_InstanceNumber, std::to_string(options.instance_number).c_str());
  ds.putAndInsertString(DCM_ImageType, "DERIVED\\SECONDARY");
  ds.putAndInsertString(DCM_ConversionType, "WSD");
  ds.putAndInsertString(DCM_PatientOrientation, "");
  if (!options.derivation_description.empty()) {
    ds.putAndInsertString(DCM_DerivationDescription, options.derivation_description.c_str());
  }
  ds.putAndInsertString(DCM_Manufacturer, "imgpipe");
  ds.putAndInsertString(DCM_SecondaryCaptureDeviceManufacturer, "imgpipe");
  OFString date, time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  for (const DcmTagKey& tag :
       {DCM_ContentDate, DCM_InstanceCreationDate, DCM_DateOfSecondaryCapture}) {
    ds.putAndInsertOFStringArray(tag, date);
  }
  for (const DcmTagKey& tag :
       {DCM_ContentTime, DCM_InstanceCreationTime, DCM_TimeOfSecondaryCapture}) {
    ds.putAndInsertOFStringArray(tag, time);
  }
  PutReferences(ds, info);
  PutPixels(ds, image, modality);
  return internal::WritePart10(ff, EXS_LittleEndianExplicit);
}

}  // namespace

core::Result<std::string> WriteDerivedImage(std::string_view source_file, const DerivedImage& image,
                                            const DerivedOptions& options) {
  IMGPIPE_ASSIGN_OR_RETURN(ParsedFile source, ParsedFile::Parse(source_file));
  return WriteDerivedImage(source, image, options);
}

core::Result<std::string> WriteDerivedImage(const ParsedFile& source, const DerivedImage& image,
                                            const DerivedOptions& options) {
  try {
    return Write(source.parsed(), image, options);
  } catch (const std::exception& e) {
    return core::Status::Internal(std::string("writing derived DICOM: ") + e.what());
  }
}

}  // namespace imgpipe::dicom
