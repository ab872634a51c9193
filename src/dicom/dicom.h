// dicom: parse, validate, decode every transfer syntax, render, and write DICOM.
//
// All entry points take a whole DICOM Part 10 file held in memory (the blob store hands out
// bytes, not paths). Parsing is bounded: no read is ever driven by a length field larger than the
// bytes actually present, so a lying or truncated file fails fast with InvalidArgument
// (malformed) or UnsupportedMediaType (not DICOM at all). One known exception to "no allocation":
// DCMTK reserves an element's declared length (up to 4 GiB) before finding the bytes missing;
// the pages are never touched and the parse fails at once (ParseTest.LyingLengthIsRejected,
// fuzz/regressions/fuzz_dicom; docs/fuzzing.md).
//
// Decoding: DCMTK for native, deflated, JPEG (baseline, extended, lossless), JPEG-LS and RLE;
// OpenJPEG for JPEG 2000. GDCM is never linked into this process (it can abort on valid files).
//
// Thread-safety: every function is safe to call concurrently; codec registration happens once,
// on first use.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace imgpipe::dicom {

namespace internal {
struct Parsed;
}

// Loads the data dictionary and registers the codecs. Optional (every entry point does it on
// first use); servers call it at start so the first request does not pay for it.
void Initialize();

// The attributes imgpipe indexes at ingest, so searches never open a file. Strings are trimmed of
// DICOM padding; absent attributes are empty / 0.
struct InstanceInfo {
  // Identity.
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string study_instance_uid;
  std::string series_instance_uid;
  std::string transfer_syntax_uid;
  // Patient.
  std::string patient_id;
  std::string patient_name;  // DICOM PN as stored ("DOE^JOHN")
  std::string patient_birth_date;
  std::string patient_sex;
  // Study.
  std::string study_date;  // YYYYMMDD
  std::string study_time;
  std::string study_description;
  std::string accession_number;
  std::string study_id;  // (0020,0010), not the UID
  std::string referring_physician_name;
  // Series.
  std::string modality;
  std::string series_description;
  int series_number = 0;
  std::string body_part_examined;
  // Instance / image.
  int instance_number = 0;
  int rows = 0;
  int columns = 0;
  int number_of_frames = 0;  // 1 for single-frame images, 0 when there is no pixel data
  int bits_allocated = 0;
  int bits_stored = 0;
  int samples_per_pixel = 0;
  int pixel_representation = 0;  // 0 unsigned, 1 signed
  std::string photometric_interpretation;
  double pixel_spacing_row = 0;  // mm; 0 when absent
  double pixel_spacing_col = 0;
  double window_center = 0;  // first VOI window, when has_window
  double window_width = 0;
  bool has_window = false;
  double rescale_slope = 1;
  double rescale_intercept = 0;
};

// Parses and validates a Part 10 file: preamble + "DICM", a meta header with a transfer syntax,
// the identity UIDs (valid DICOM UIDs), and, when pixel data is present, a consistent image
// description (rows, columns, bits, samples, frames within sane limits; native pixel data long
// enough; for encapsulated data, the first frame's codec header agrees with the dataset, checked
// without decoding). Fast: header work only.
core::Result<InstanceInfo> ParseInstance(std::string_view file);

// The Part 10 marker check ParseInstance starts with, on a file's first kPart10PrefixBytes bytes
// (or more): UnsupportedMediaType when the 128-byte preamble is not followed by "DICM". Lets a
// caller reject a large non-DICOM file from its first bytes, before reading it all.
inline constexpr size_t kPart10PrefixBytes = 132;
core::Status CheckPart10Prefix(std::string_view prefix);

// One decoded frame, as stored values (before modality LUT), colour converted to RGB.
struct Frame {
  int rows = 0;
  int columns = 0;
  int samples = 1;      // 1 (grey) or 3 (RGB, interleaved)
  int bits_stored = 8;  // significant bits of each sample
  bool is_signed = false;
  // 1 for 1- and 8-bit data, 2 for 16-bit, 4 for 32-bit; little-endian host order.
  int bytes_per_sample = 1;
  std::vector<uint8_t> pixels;  // rows * columns * samples * bytes_per_sample
};

// Decodes frame `frame_number` (1-based) of `file`. PALETTE COLOR and YBR_* come out as RGB;
// MONOCHROME1 is not inverted here (rendering does that). 1-bit data is expanded to 0/1 bytes.
core::Result<Frame> DecodeFrame(std::string_view file, int frame_number);

// A file parsed and validated once (as ParseInstance), for a caller that needs several things
// from one source: its info, a frame, a derived image (a worker does all three per job; each
// string entry point parses the file again). Owns its parse; does not refer to the bytes it was
// parsed from. Movable, not copyable; one thread at a time.
class ParsedFile {
 public:
  static core::Result<ParsedFile> Parse(std::string_view file);
  ParsedFile(ParsedFile&&) noexcept;
  ParsedFile& operator=(ParsedFile&&) noexcept;
  ~ParsedFile();

  const InstanceInfo& info() const;
  // DecodeFrame(file, frame_number), without parsing again.
  core::Result<Frame> DecodeFrame(int frame_number);
  // The DCMTK objects, for the dicom module's own functions.
  const internal::Parsed& parsed() const { return *parsed_; }

 private:
  explicit ParsedFile(std::unique_ptr<internal::Parsed> parsed);
  std::unique_ptr<internal::Parsed> parsed_;
};

enum class ImageFormat { kPng, kJpeg };

struct RenderOptions {
  int frame = 1;                        // 1-based
  std::optional<double> window_center;  // overrides the file's VOI window
  std::optional<double> window_width;
  int size = 0;  // fit within size x size, aspect kept; 0 = native size
  ImageFormat format = ImageFormat::kPng;
  int jpeg_quality = 90;
};

struct EncodedImage {
  std::string bytes;
  std::string media_type;  // "image/png" or "image/jpeg"
  int width = 0;
  int height = 0;
};

// PNG (fast settings) of an 8-bit raster: `samples` 1 (grey) or 3 (RGB, interleaved), rows of
// columns * samples bytes. InvalidArgument when the sizes do not match.
core::Result<std::string> EncodePng(const std::vector<uint8_t>& pixels, int rows, int columns,
                                    int samples);

// Renders one frame for display: modality LUT (rescale slope/intercept), then the requested
// window, else the file's first VOI window, else a window from the pixel range; MONOCHROME1
// inverted; non-square pixel spacing corrected; fitted within `size`; encoded.
core::Result<EncodedImage> Render(std::string_view file, const RenderOptions& options);

// The dataset (without its meta header) as DICOM JSON (PS3.18 F.2), one object. Pixel Data and
// other bulk elements larger than `bulk_threshold` bytes are written as {"vr", "BulkDataURI":
// bulk_uri_prefix + "/" + tag} when a prefix is given, else left out.
core::Result<std::string> ToDicomJson(std::string_view file, std::string_view bulk_uri_prefix = {},
                                      size_t bulk_threshold = 1024);

// Demo data the project makes itself (no downloads): realistic synthetic studies as valid Part 10
// files with fresh UIDs.
struct DemoFile {
  std::string name;   // a readable file name, e.g. "ct/slice-001.dcm"
  std::string bytes;  // the Part 10 file
};
// A CT phantom series (>= 20 slices, 512x512, signed 16-bit in Hounsfield units with window
// tags), an MR series, and one CR/DX image, in three studies of two patients.
std::vector<DemoFile> MakeDemoDataset();

// ---- Writing results ----

// A processed image to store as a new instance (see WriteDerivedImage). Single frame.
struct DerivedImage {
  int rows = 0;
  int columns = 0;
  int samples = 1;         // 1 (written MONOCHROME2) or 3 (RGB, interleaved, PlanarConfiguration 0)
  int bits = 8;            // 8 or 16; BitsAllocated = BitsStored = bits
  bool is_signed = false;  // PixelRepresentation 1; grey only
  // rows * columns * samples * bits / 8 bytes; 16-bit samples in host byte order.
  std::vector<uint8_t> pixels;
  // Modality LUT (grey only): stored value * slope + intercept = output unit. Keep the source's
  // values so a CT result still reads in HU. RescaleType is "HU" for CT sources, else "US".
  // Written when either is set (the other then defaults to 1 / 0).
  std::optional<double> rescale_slope;
  std::optional<double> rescale_intercept;
  // VOI window in output units (after rescale), grey only; written when both are set.
  std::optional<double> window_center;
  std::optional<double> window_width;  // > 0
  double pixel_spacing_row = 0;        // mm, written as PixelSpacing when both are > 0
  double pixel_spacing_col = 0;
};

struct DerivedOptions {
  // Every output of one job shares one series: pass the same UID for all of them. Empty: a new
  // UID is generated (read it back with ParseInstance).
  std::string series_instance_uid;
  int series_number = 0;           // 0: SeriesNumber left empty
  int instance_number = 1;         // InstanceNumber, e.g. the source's, so slices keep their order
  std::string series_description;  // LO: <= 64 characters, no backslash ("imgpipe clahe")
  std::string derivation_description;  // ST: <= 1024 characters ("imgpipe clahe clip=2")
};

// A new Part 10 file (Explicit VR Little Endian) holding `image` as a Secondary Capture Image
// (1.2.840.10008.5.1.4.1.1.7), derived from `source_file`:
// - Patient and study attributes (and SpecificCharacterSet) copied from the source, so the
//   result lands in the source's study (same StudyInstanceUID); Modality copied (OT if absent).
// - New SOPInstanceUID; SeriesInstanceUID from options; ImageType DERIVED\SECONDARY,
//   ConversionType WSD, Manufacturer "imgpipe", Content/InstanceCreation date and time now,
//   SeriesDescription / DerivationDescription from options.
// - The source referenced in SourceImageSequence (purpose: DCM 121322 "Source image for image
//   processing operation"), ReferencedImageSequence, and ReferencedSeriesSequence >
//   ReferencedInstanceSequence (the source's series), each by SOP class and instance UID.
// Errors: InvalidArgument when `image` or `options` are inconsistent (sizes vs the pixel buffer,
// bits, samples, signed colour, a bad UID or description); the source's parse error otherwise.
core::Result<std::string> WriteDerivedImage(std::string_view source_file, const DerivedImage& image,
                                            const DerivedOptions& options);
// The same, from a source parsed already.
core::Result<std::string> WriteDerivedImage(const ParsedFile& source, const DerivedImage& image,
                                            const DerivedOptions& options);

// A binary segmentation of one image: rows * columns bytes, row by row; non-zero = inside.
struct BinaryMask {
  int rows = 0;
  int columns = 0;
  std::vector<uint8_t> pixels;
};

// A coded concept (PS3.3 8.8): value (<= 16 characters), scheme ("SCT", "DCM") and meaning.
struct Code {
  std::string value;
  std::string scheme;
  std::string meaning;
};

struct SegmentationOptions {
  // Empty: a new UID. Pass the same series UID for every SEG of one job, and a UID derived from
  // the job for the instance so a retried job rewrites the same instance.
  std::string series_instance_uid;
  std::string sop_instance_uid;
  int series_number = 1;                         // >= 1 (type 1 in the Segmentation Series module)
  int instance_number = 1;                       // >= 1
  std::string series_description;                // LO: <= 64 characters, no backslash
  std::string content_label = "SEGMENTATION";    // CS: <= 16 of A-Z, 0-9, space, underscore
  std::string content_description;               // LO
  std::string content_creator_name = "imgpipe";  // PN
  // The one segment (SegmentNumber 1, SegmentAlgorithmType AUTOMATIC).
  std::string segment_label = "Segment";       // LO, non-empty
  std::string segment_description;             // LO, optional
  std::string algorithm_name;                  // LO, non-empty: SegmentAlgorithmName
  Code category{"85756007", "SCT", "Tissue"};  // SegmentedPropertyCategoryCodeSequence
  Code type{"85756007", "SCT", "Tissue"};      // SegmentedPropertyTypeCodeSequence
};

// A new Part 10 file (Explicit VR Little Endian) holding a binary DICOM Segmentation
// (1.2.840.10008.5.1.4.1.1.66.4) of `source_files`: frame i is masks[i] of source_files[i]
// (frame 1 of a multi-frame source), in the order given.
// - Patient and study attributes copied from the first source (same StudyInstanceUID); Modality
//   SEG; FrameOfReferenceUID copied when every source has the same one; General and Enhanced
//   General Equipment "imgpipe"; ImageType DERIVED\PRIMARY; Content/InstanceCreation date and
//   time now; ContentLabel, ContentDescription, ContentCreatorName from options.
// - BitsAllocated = BitsStored = 1, HighBit 0, MONOCHROME2, SegmentationType BINARY; the frames'
//   bits packed contiguously, first pixel in the lowest bit (PS3.5 8.1.1), padding only at the
//   end of Pixel Data.
// - SegmentSequence: one segment as options say.
// - ReferencedSeriesSequence: each source series with its instances.
// - Per frame: DerivationImageSequence (DCM 113076 "Segmentation") > SourceImageSequence
//   (purpose DCM 121322), SegmentIdentificationSequence (segment 1), FrameContentSequence >
//   DimensionIndexValues, and, when every source has ImagePositionPatient,
//   ImageOrientationPatient and PixelSpacing and a frame of reference was copied,
//   PlanePositionSequence; PlaneOrientationSequence and PixelMeasuresSequence (with the source's
//   SliceThickness) are shared when equal for all frames, else per frame.
// - Dimensions: ReferencedSegmentNumber, then ImagePositionPatient (index = rank along the
//   slice normal) when the plane attributes are written, else InStackPositionNumber (frame
//   order, StackID "1").
// Errors: InvalidArgument when the counts differ, no source is given, a mask's size does not
// match its source's rows and columns, the sources differ in size, study or frame of reference,
// or an option is invalid; the parse error of a source that does not parse.
core::Result<std::string> WriteSegmentation(const std::vector<std::string_view>& source_files,
                                            const std::vector<BinaryMask>& masks,
                                            const SegmentationOptions& options);

struct DeidentifyOptions {
  // Keys every replacement: the same original UID maps to the same new UID in every call with
  // the same salt, and to an unrelated one with another salt. Required (non-empty); keep it
  // secret, since anyone holding it can confirm a guessed original UID. One salt per job (or per
  // project, to keep the mapping stable across jobs).
  std::string uid_salt;
  std::string patient_name = "ANONYMOUS";
  // Empty: "ANON-" + the first 16 hex digits of SHA-256(uid_salt + original PatientID), so one
  // patient keeps one pseudonym under one salt.
  std::string patient_id;
  // false (default, Basic Profile): every date, time and date-time (DA, TM, DT), at any depth,
  // is emptied. true (Retain Longitudinal Temporal Information with Modified Dates Option):
  // dates and date-times are shifted back by a whole number of days in [365, 3650) derived from
  // uid_salt (one shift per salt, so intervals survive), times kept; PatientBirthDate is still
  // emptied.
  bool shift_dates = false;
};

// De-identifies a Part 10 file per the PS3.15 Annex E Basic Application Level Confidentiality
// Profile; returns the new file, in the source's transfer syntax, pixel data byte for byte as it
// was (never decoded or re-encoded). At every depth, including inside sequences:
// - removed: all private elements; curve groups (50xx); overlay comments; the Table E.1-1 "X"
//   attributes implemented in deid_rules.cc (other patient IDs and names, age, size, weight,
//   address, telephone, ethnic group, occupation, history, comments, insurance; institution
//   name, address and department; station name, device serial number, detector/plate/gantry/
//   generator IDs, software versions; performing/reading/of-record/requesting physicians,
//   operators; study/series/image/acquisition descriptions and comments, protocol name,
//   derivation description, admitting diagnoses; request, order and procedure step attributes;
//   referenced patient/study/PPS sequences, content sequences, icon images, original/modified
//   attributes sequences, digital signatures);
// - emptied (zero length): every other person name (PN), accession number, study ID, patient
//   birth date and sex, contrast agent, order numbers; dates and times as shift_dates says;
// - replaced: PatientName and PatientID from options; every UID value (UI) that is not a
//   DICOM-defined one (root 1.2.840.10008) and not a class / coding scheme UID, by
//   "2.25." + decimal of the first 128 bits of SHA-256(uid_salt + uid), formatted as an
//   RFC 9562 version-8 UUID (6 bits fixed) - Study, Series, SOP Instance, Frame of Reference,
//   every referenced UID in every sequence; the meta header is rebuilt, so its
//   MediaStorageSOPInstanceUID is the new SOPInstanceUID and no source AE title survives;
// - added: PatientIdentityRemoved YES, DeidentificationMethod "imgpipe PS3.15 Basic Profile",
//   DeidentificationMethodCodeSequence (DCM 113100, plus 113107 when dates are shifted),
//   LongitudinalTemporalInformationModified REMOVED or MODIFIED.
// Kept: everything else (modality, geometry, acquisition parameters, the image description).
// Out of scope: identity burned into the pixels (BurnedInAnnotation is carried over as it was)
// or into overlay data, and identity in free-text attributes outside the rules above.
// Standard attributes stored with VR UN whose dictionary VR is PN, UI, DA, DT, TM or SQ are
// removed (their values cannot be rewritten reliably).
// Errors: InvalidArgument for an empty uid_salt, or a patient name / ID over 64 characters or
// with a backslash; the parse error of a source that does not parse.
core::Result<std::string> Deidentify(std::string_view source_file,
                                     const DeidentifyOptions& options);

}  // namespace imgpipe::dicom
