// WriteSegmentation: binary masks as a DICOM Segmentation instance (PS3.3 A.51) in the sources'
// study.
//
// Built with dcmdata rather than dcmseg: the IOD is small enough to write directly, and this keeps
// the bit packing across frames (PS3.5 8.1.1: frames concatenated, no per-frame padding) and the
// dimension organisation in our hands. The unit tests read the result back with dcmseg and
// pydicom, two independent readers.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcvrda.h>
#include <dcmtk/dcmdata/dcvrtm.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/uid.h"
#include "dicom/internal.h"

#ifndef IMGPIPE_VERSION
#define IMGPIPE_VERSION "0"
#endif

namespace imgpipe::dicom {
namespace {

using core::Status;

const Code kDerivationSegmentation{"113076", "DCM", "Segmentation"};
const Code kPurposeSourceImage{"121322", "DCM", "Source image for image processing operation"};
// RecommendedDisplayCIELabValue of the segment: red (sRGB 255,0,0), PS3.3 C.10.7.1.1 scaling.
constexpr Uint16 kRedCieLab[3] = {34891, 53479, 50166};

// What a frame takes from its source. DS values are kept as stored.
struct FrameSource {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string series_instance_uid;
  std::string study_instance_uid;
  std::string frame_of_reference_uid;
  int rows = 0;
  int columns = 0;
  int frames = 1;
  std::string position;     // ImagePositionPatient
  std::string orientation;  // ImageOrientationPatient
  std::string spacing;      // PixelSpacing
  std::string thickness;    // SliceThickness, may be empty
  bool has_plane = false;   // position, orientation and spacing all present and numeric
  double along_normal = 0;  // position projected on the slice normal, when has_plane
};

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return {};
  return std::string(internal::TrimPadding(std::string_view(value.c_str(), value.length())));
}

bool GetNumbers(DcmItem& item, const DcmTagKey& tag, double* out, int count) {
  DcmElement* element = nullptr;
  if (item.findAndGetElement(tag, element).bad() || element == nullptr) return false;
  if (element->getVM() != static_cast<unsigned long>(count)) return false;
  for (int i = 0; i < count; ++i) {
    Float64 v = 0;
    if (element->getFloat64(v, i).bad() || !std::isfinite(v)) return false;
    out[i] = v;
  }
  return true;
}

FrameSource Describe(DcmDataset& ds, const InstanceInfo& info) {
  FrameSource s;
  s.sop_class_uid = info.sop_class_uid;
  s.sop_instance_uid = info.sop_instance_uid;
  s.series_instance_uid = info.series_instance_uid;
  s.study_instance_uid = info.study_instance_uid;
  s.frame_of_reference_uid = GetString(ds, DCM_FrameOfReferenceUID);
  s.rows = info.rows;
  s.columns = info.columns;
  s.frames = std::max(1, info.number_of_frames);
  s.position = GetString(ds, DCM_ImagePositionPatient);
  s.orientation = GetString(ds, DCM_ImageOrientationPatient);
  s.spacing = GetString(ds, DCM_PixelSpacing);
  s.thickness = GetString(ds, DCM_SliceThickness);
  double ipp[3], iop[6], spacing[2];
  s.has_plane = GetNumbers(ds, DCM_ImagePositionPatient, ipp, 3) &&
                GetNumbers(ds, DCM_ImageOrientationPatient, iop, 6) &&
                GetNumbers(ds, DCM_PixelSpacing, spacing, 2);
  if (s.has_plane) {
    const double normal[3] = {iop[1] * iop[5] - iop[2] * iop[4], iop[2] * iop[3] - iop[0] * iop[5],
                              iop[0] * iop[4] - iop[1] * iop[3]};
    s.along_normal = ipp[0] * normal[0] + ipp[1] * normal[1] + ipp[2] * normal[2];
  }
  return s;
}

bool ValidLo(const std::string& s) { return s.size() <= 64 && s.find('\\') == std::string::npos; }

bool ValidCs(const std::string& s) {
  return !s.empty() && s.size() <= 16 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' || c == '_';
  });
}

bool ValidCode(const Code& c) {
  auto sh = [](const std::string& s) {
    return !s.empty() && s.size() <= 16 && s.find('\\') == std::string::npos;
  };
  return sh(c.value) && sh(c.scheme) && !c.meaning.empty() && ValidLo(c.meaning);
}

Status Validate(const std::vector<std::string_view>& sources, const std::vector<BinaryMask>& masks,
                const SegmentationOptions& o) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument("segmentation: " + m); };
  if (sources.empty()) return bad("at least one source image is needed");
  if (sources.size() != masks.size()) {
    return bad(std::to_string(sources.size()) + " sources but " + std::to_string(masks.size()) +
               " masks");
  }
  if (sources.size() > static_cast<size_t>(internal::kMaxFrames)) return bad("too many frames");
  for (size_t i = 0; i < masks.size(); ++i) {
    const BinaryMask& m = masks[i];
    if (m.rows < 1 || m.rows > 65535 || m.columns < 1 || m.columns > 65535 ||
        m.pixels.size() != static_cast<size_t>(m.rows) * m.columns) {
      return bad("mask " + std::to_string(i + 1) + " is not rows * columns bytes of 1..65535");
    }
  }
  for (const std::string* uid : {&o.series_instance_uid, &o.sop_instance_uid}) {
    if (!uid->empty()) IMGPIPE_RETURN_IF_ERROR(core::ValidateUid(*uid, "segmentation UID"));
  }
  if (o.series_number < 1 || o.instance_number < 1) {
    return bad("series and instance numbers must be >= 1");
  }
  if (!ValidCs(o.content_label)) return bad("content label must be 1..16 of A-Z 0-9 _ space");
  for (const std::string* lo : {&o.series_description, &o.content_description,
                                &o.content_creator_name, &o.segment_description}) {
    if (!ValidLo(*lo)) return bad("descriptions must be <= 64 characters without backslash");
  }
  if (o.segment_label.empty() || !ValidLo(o.segment_label)) return bad("bad segment label");
  if (o.algorithm_name.empty() || !ValidLo(o.algorithm_name)) return bad("bad algorithm name");
  if (!ValidCode(o.category) || !ValidCode(o.type)) {
    return bad("codes need a value and scheme (<= 16 characters) and a meaning (<= 64)");
  }
  return Status::Ok();
}

void PutCode(DcmItem& parent, const DcmTagKey& sequence, const Code& code) {
  DcmItem* item = nullptr;
  if (parent.findOrCreateSequenceItem(sequence, item, -2).bad()) return;
  item->putAndInsertString(DCM_CodeValue, code.value.c_str());
  item->putAndInsertString(DCM_CodingSchemeDesignator, code.scheme.c_str());
  item->putAndInsertString(DCM_CodeMeaning, code.meaning.c_str());
}

// A new item of `sequence` in `parent` (nullptr only on allocation failure).
DcmItem* NewItem(DcmItem& parent, const DcmTagKey& sequence) {
  DcmItem* item = nullptr;
  parent.findOrCreateSequenceItem(sequence, item, -2);
  return item;
}

void PutSegment(DcmDataset& ds, const SegmentationOptions& o) {
  DcmItem* segment = NewItem(ds, DCM_SegmentSequence);
  if (segment == nullptr) return;
  segment->putAndInsertUint16(DCM_SegmentNumber, 1);
  segment->putAndInsertString(DCM_SegmentLabel, o.segment_label.c_str());
  if (!o.segment_description.empty()) {
    segment->putAndInsertString(DCM_SegmentDescription, o.segment_description.c_str());
  }
  segment->putAndInsertString(DCM_SegmentAlgorithmType, "AUTOMATIC");
  segment->putAndInsertString(DCM_SegmentAlgorithmName, o.algorithm_name.c_str());
  PutCode(*segment, DCM_SegmentedPropertyCategoryCodeSequence, o.category);
  PutCode(*segment, DCM_SegmentedPropertyTypeCodeSequence, o.type);
  segment->putAndInsertUint16Array(DCM_RecommendedDisplayCIELabValue, kRedCieLab, 3);
}

// ReferencedSeriesSequence (Common Instance Reference module): the sources by series, in order
// of first appearance.
void PutReferencedSeries(DcmDataset& ds, const std::vector<FrameSource>& sources) {
  std::vector<std::string> series;
  for (const FrameSource& s : sources) {
    if (std::find(series.begin(), series.end(), s.series_instance_uid) == series.end()) {
      series.push_back(s.series_instance_uid);
    }
  }
  for (const std::string& uid : series) {
    DcmItem* item = NewItem(ds, DCM_ReferencedSeriesSequence);
    if (item == nullptr) return;
    item->putAndInsertString(DCM_SeriesInstanceUID, uid.c_str());
    std::vector<std::string> seen;
    for (const FrameSource& s : sources) {
      if (s.series_instance_uid != uid ||
          std::find(seen.begin(), seen.end(), s.sop_instance_uid) != seen.end()) {
        continue;
      }
      seen.push_back(s.sop_instance_uid);
      DcmItem* ref = NewItem(*item, DCM_ReferencedInstanceSequence);
      if (ref == nullptr) return;
      ref->putAndInsertString(DCM_ReferencedSOPClassUID, s.sop_class_uid.c_str());
      ref->putAndInsertString(DCM_ReferencedSOPInstanceUID, s.sop_instance_uid.c_str());
    }
  }
}

// 1-based rank of each frame's position along the slice normal; equal positions (within a
// micrometre) share a rank.
std::vector<Uint32> PositionRanks(const std::vector<FrameSource>& sources) {
  std::vector<double> distinct;
  for (const FrameSource& s : sources) distinct.push_back(s.along_normal);
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end(),
                             [](double a, double b) { return std::abs(a - b) < 1e-3; }),
                 distinct.end());
  std::vector<Uint32> ranks;
  for (const FrameSource& s : sources) {
    auto it = std::lower_bound(distinct.begin(), distinct.end(), s.along_normal - 1e-3);
    ranks.push_back(static_cast<Uint32>(it - distinct.begin()) + 1);
  }
  return ranks;
}

// The Multi-frame Dimension module: segment number, then position or stack position.
void PutDimensions(DcmDataset& ds, bool plane) {
  const std::string organization = core::NewUid();
  if (DcmItem* item = NewItem(ds, DCM_DimensionOrganizationSequence)) {
    item->putAndInsertString(DCM_DimensionOrganizationUID, organization.c_str());
  }
  struct Dimension {
    DcmTagKey index, group;
    const char* label;
  };
  const Dimension dimensions[] = {
      {DCM_ReferencedSegmentNumber, DCM_SegmentIdentificationSequence, "Segment Number"},
      plane ? Dimension{DCM_ImagePositionPatient, DCM_PlanePositionSequence, "Image Position"}
            : Dimension{DCM_InStackPositionNumber, DCM_FrameContentSequence, "Stack Position"}};
  for (const Dimension& d : dimensions) {
    DcmItem* item = NewItem(ds, DCM_DimensionIndexSequence);
    if (item == nullptr) return;
    item->putAndInsertString(DCM_DimensionOrganizationUID, organization.c_str());
    item->putAndInsertTagKey(DCM_DimensionIndexPointer, d.index);
    item->putAndInsertTagKey(DCM_FunctionalGroupPointer, d.group);
    item->putAndInsertString(DCM_DimensionDescriptionLabel, d.label);
  }
}

// Orientation and pixel measures go in the shared group when every frame has the same ones.
void PutOrientation(DcmItem& group, const FrameSource& s) {
  if (DcmItem* item = NewItem(group, DCM_PlaneOrientationSequence)) {
    item->putAndInsertString(DCM_ImageOrientationPatient, s.orientation.c_str());
  }
}

void PutMeasures(DcmItem& group, const FrameSource& s) {
  if (DcmItem* item = NewItem(group, DCM_PixelMeasuresSequence)) {
    item->putAndInsertString(DCM_PixelSpacing, s.spacing.c_str());
    if (!s.thickness.empty()) item->putAndInsertString(DCM_SliceThickness, s.thickness.c_str());
  }
}

void PutFunctionalGroups(DcmDataset& ds, const std::vector<FrameSource>& sources, bool plane) {
  auto all_equal = [&](auto field) {
    return std::all_of(sources.begin(), sources.end(),
                       [&](const FrameSource& s) { return field(s) == field(sources.front()); });
  };
  const bool shared_orientation =
      plane && all_equal([](const FrameSource& s) { return s.orientation; });
  const bool shared_measures =
      plane && all_equal([](const FrameSource& s) { return s.spacing + "/" + s.thickness; });
  DcmItem* shared = NewItem(ds, DCM_SharedFunctionalGroupsSequence);
  if (shared == nullptr) return;
  if (shared_orientation) PutOrientation(*shared, sources.front());
  if (shared_measures) PutMeasures(*shared, sources.front());

  const std::vector<Uint32> ranks = plane ? PositionRanks(sources) : std::vector<Uint32>{};
  for (size_t i = 0; i < sources.size(); ++i) {
    const FrameSource& s = sources[i];
    DcmItem* frame = NewItem(ds, DCM_PerFrameFunctionalGroupsSequence);
    if (frame == nullptr) return;
    if (DcmItem* derivation = NewItem(*frame, DCM_DerivationImageSequence)) {
      PutCode(*derivation, DCM_DerivationCodeSequence, kDerivationSegmentation);
      if (DcmItem* source = NewItem(*derivation, DCM_SourceImageSequence)) {
        source->putAndInsertString(DCM_ReferencedSOPClassUID, s.sop_class_uid.c_str());
        source->putAndInsertString(DCM_ReferencedSOPInstanceUID, s.sop_instance_uid.c_str());
        if (s.frames > 1) source->putAndInsertString(DCM_ReferencedFrameNumber, "1");
        PutCode(*source, DCM_PurposeOfReferenceCodeSequence, kPurposeSourceImage);
      }
    }
    if (DcmItem* content = NewItem(*frame, DCM_FrameContentSequence)) {
      const Uint32 index[2] = {1, plane ? ranks[i] : static_cast<Uint32>(i + 1)};
      content->putAndInsertUint32Array(DCM_DimensionIndexValues, index, 2);
      if (!plane) {
        content->putAndInsertString(DCM_StackID, "1");
        content->putAndInsertUint32(DCM_InStackPositionNumber, static_cast<Uint32>(i + 1));
      }
    }
    if (plane) {
      if (DcmItem* position = NewItem(*frame, DCM_PlanePositionSequence)) {
        position->putAndInsertString(DCM_ImagePositionPatient, s.position.c_str());
      }
      if (!shared_orientation) PutOrientation(*frame, s);
      if (!shared_measures) PutMeasures(*frame, s);
    }
    if (DcmItem* segment = NewItem(*frame, DCM_SegmentIdentificationSequence)) {
      segment->putAndInsertUint16(DCM_ReferencedSegmentNumber, 1);
    }
  }
}

// Every frame's bits back to back, pixel k of the stream in bit k % 8 of byte k / 8; padded to
// an even length at the end only.
std::vector<Uint8> PackFrames(const std::vector<BinaryMask>& masks) {
  uint64_t total = 0;
  for (const BinaryMask& m : masks) total += m.pixels.size();
  std::vector<Uint8> packed(((total + 7) / 8 + 1) & ~uint64_t{1}, 0);
  uint64_t bit = 0;
  for (const BinaryMask& m : masks) {
    for (uint8_t p : m.pixels) {
      if (p != 0) packed[bit >> 3] = static_cast<Uint8>(packed[bit >> 3] | (1u << (bit & 7)));
      ++bit;
    }
  }
  return packed;
}

core::Result<std::string> Write(const std::vector<std::string_view>& files,
                                const std::vector<BinaryMask>& masks,
                                const SegmentationOptions& o) {
  IMGPIPE_RETURN_IF_ERROR(Validate(files, masks, o));
  auto bad = [](const std::string& m) { return Status::InvalidArgument("segmentation: " + m); };
  std::vector<FrameSource> sources;
  std::unique_ptr<DcmFileFormat> first;  // for the patient and study modules
  for (size_t i = 0; i < files.size(); ++i) {
    IMGPIPE_ASSIGN_OR_RETURN(internal::Parsed parsed, internal::Parse(files[i]));
    FrameSource s = Describe(*parsed.dataset, parsed.info);
    if (s.rows != masks[i].rows || s.columns != masks[i].columns) {
      return bad("mask " + std::to_string(i + 1) + " is not the size of its source");
    }
    if (i == 0) {
      first = std::move(parsed.file);
    } else {
      const FrameSource& f = sources.front();
      if (s.rows != f.rows || s.columns != f.columns) return bad("the sources differ in size");
      if (s.study_instance_uid != f.study_instance_uid) return bad("the sources differ in study");
      if (!s.frame_of_reference_uid.empty() && !f.frame_of_reference_uid.empty() &&
          s.frame_of_reference_uid != f.frame_of_reference_uid) {
        return bad("the sources differ in frame of reference");
      }
    }
    sources.push_back(std::move(s));
  }
  const std::string frame_of_reference = sources.front().frame_of_reference_uid;
  const bool has_frame_of_reference =
      !frame_of_reference.empty() &&
      std::all_of(sources.begin(), sources.end(), [&](const FrameSource& s) {
        return s.frame_of_reference_uid == frame_of_reference;
      });
  const bool plane =
      has_frame_of_reference &&
      std::all_of(sources.begin(), sources.end(), [](const FrameSource& s) { return s.has_plane; });

  DcmFileFormat ff;
  DcmDataset& ds = *ff.getDataset();
  DcmDataset& source = *first->getDataset();
  internal::CopyPatientAndStudy(source, ds);
  // Those describe the source's pixels, not the segmentation's.
  for (const DcmTagKey& tag :
       {DCM_LossyImageCompressionRatio, DCM_LossyImageCompressionMethod, DCM_BurnedInAnnotation}) {
    ds.findAndDeleteElement(tag);
  }
  const std::string sop_uid = o.sop_instance_uid.empty() ? core::NewUid() : o.sop_instance_uid;
  const std::string series_uid =
      o.series_instance_uid.empty() ? core::NewUid() : o.series_instance_uid;
  ds.putAndInsertString(DCM_SOPClassUID, UID_SegmentationStorage);
  ds.putAndInsertString(DCM_SOPInstanceUID, sop_uid.c_str());
  // General and Segmentation Series.
  ds.putAndInsertString(DCM_Modality, "SEG");
  ds.putAndInsertString(DCM_SeriesInstanceUID, series_uid.c_str());
  ds.putAndInsertString(DCM_SeriesNumber, std::to_string(o.series_number).c_str());
  if (!o.series_description.empty()) {
    ds.putAndInsertString(DCM_SeriesDescription, o.series_description.c_str());
  }
  if (has_frame_of_reference) {
    ds.putAndInsertString(DCM_FrameOfReferenceUID, frame_of_reference.c_str());
    internal::CopyIfPresent(source, ds, DCM_PositionReferenceIndicator);
    internal::EnsurePresent(ds, DCM_PositionReferenceIndicator);
  }
  // General and Enhanced General Equipment.
  ds.putAndInsertString(DCM_Manufacturer, "imgpipe");
  ds.putAndInsertString(DCM_ManufacturerModelName, "imgpipe");
  ds.putAndInsertString(DCM_DeviceSerialNumber, "1");
  ds.putAndInsertString(DCM_SoftwareVersions, IMGPIPE_VERSION);
  // General Image, Content Identification, SOP Common dates.
  ds.putAndInsertString(DCM_InstanceNumber, std::to_string(o.instance_number).c_str());
  ds.putAndInsertString(DCM_ImageType, "DERIVED\\PRIMARY");
  OFString date, time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  ds.putAndInsertOFStringArray(DCM_ContentDate, date);
  ds.putAndInsertOFStringArray(DCM_InstanceCreationDate, date);
  ds.putAndInsertOFStringArray(DCM_ContentTime, time);
  ds.putAndInsertOFStringArray(DCM_InstanceCreationTime, time);
  ds.putAndInsertString(DCM_ContentLabel, o.content_label.c_str());
  ds.putAndInsertString(DCM_ContentDescription, o.content_description.c_str());
  ds.putAndInsertString(DCM_ContentCreatorName, o.content_creator_name.c_str());
  // Image Pixel and Segmentation Image.
  ds.putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds.putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  ds.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(sources.front().rows));
  ds.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(sources.front().columns));
  ds.putAndInsertUint16(DCM_BitsAllocated, 1);
  ds.putAndInsertUint16(DCM_BitsStored, 1);
  ds.putAndInsertUint16(DCM_HighBit, 0);
  ds.putAndInsertUint16(DCM_PixelRepresentation, 0);
  ds.putAndInsertString(DCM_LossyImageCompression, "00");
  ds.putAndInsertString(DCM_SegmentationType, "BINARY");
  PutSegment(ds, o);
  // Multi-frame Functional Groups, Multi-frame Dimension, Common Instance Reference.
  ds.putAndInsertString(DCM_NumberOfFrames, std::to_string(sources.size()).c_str());
  PutDimensions(ds, plane);
  PutFunctionalGroups(ds, sources, plane);
  PutReferencedSeries(ds, sources);
  const std::vector<Uint8> packed = PackFrames(masks);
  auto* pixel_data = new DcmPixelData(DcmTag(DCM_PixelData, EVR_OB));
  pixel_data->putUint8Array(packed.data(), static_cast<unsigned long>(packed.size()));
  ds.insert(pixel_data, /*replaceOld=*/true);
  return internal::WritePart10(ff, EXS_LittleEndianExplicit);
}

}  // namespace

core::Result<std::string> WriteSegmentation(const std::vector<std::string_view>& source_files,
                                            const std::vector<BinaryMask>& masks,
                                            const SegmentationOptions& options) {
  try {
    return Write(source_files, masks, options);
  } catch (const std::exception& e) {
    return core::Status::Internal(std::string("writing DICOM segmentation: ") + e.what());
  }
}

}  // namespace imgpipe::dicom
