// dicom: parse, validate, decode every transfer syntax, render, and write DICOM.
//
// All entry points take a whole DICOM Part 10 file held in memory (the blob store hands out
// bytes, not paths). Parsing is bounded: no allocation or read is ever driven by a length field
// larger than the bytes actually present, so a lying or truncated file fails fast with
// InvalidArgument (malformed) or UnsupportedMediaType (not DICOM at all).
//
// Decoding: DCMTK for native, deflated, JPEG (baseline, extended, lossless), JPEG-LS and RLE;
// OpenJPEG for JPEG 2000. GDCM is never linked into this process (it can abort on valid files).
//
// Thread-safety: every function is safe to call concurrently; codec registration happens once,
// on first use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace imgpipe::dicom {

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

}  // namespace imgpipe::dicom
