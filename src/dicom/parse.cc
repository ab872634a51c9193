// ParseInstance and the shared, bounded loading path used by every entry point.
//
// Bounds: DCMTK reads from a DcmInputBufferStream whose end is known (setEos), and rejects any
// element whose length exceeds the bytes left (EC_InvalidStream) before allocating for it (see
// parse_test's lying-length cases). Deflated datasets are inflated here with zlib under a size cap
// and parsed from memory, because DCMTK's own inflating stream cannot know the remaining length.
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <mutex>

#include "core/uid.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dctk.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dicom/internal.h"

namespace imgpipe::dicom {
namespace internal {
namespace {

using core::Status;

// Values up to this size are read into memory at parse time; buffer streams cannot defer.
constexpr Uint32 kMaxReadLength = 0xFFFFFFFEu;

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFString(tag, value).bad()) return {};
  return std::string(TrimPadding(std::string_view(value.c_str(), value.size())));
}

// IS / US / DS readers that tolerate absence and junk (absent or unparsable -> fallback).
long GetLong(DcmItem& item, const DcmTagKey& tag, long fallback) {
  std::string s = GetString(item, tag);
  if (s.empty()) return fallback;
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  return end == s.c_str() ? fallback : v;
}

int GetUint16(DcmItem& item, const DcmTagKey& tag) {
  Uint16 v = 0;
  return item.findAndGetUint16(tag, v).good() ? v : 0;
}

bool GetDouble(DcmItem& item, const DcmTagKey& tag, unsigned long pos, double* out) {
  Float64 v = 0;
  if (item.findAndGetFloat64(tag, v, pos).bad() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

Codec CodecFor(E_TransferSyntax xfer) {
  switch (xfer) {
    case EXS_LittleEndianImplicit:
    case EXS_LittleEndianExplicit:
    case EXS_BigEndianExplicit:
    case EXS_DeflatedLittleEndianExplicit:
      return Codec::kNative;
    case EXS_JPEGProcess1:
    case EXS_JPEGProcess2_4:
    case EXS_JPEGProcess14:
    case EXS_JPEGProcess14SV1:
    // Retired but still met in old archives; DCMTK's JPEG decoders handle them.
    case EXS_JPEGProcess6_8:
    case EXS_JPEGProcess10_12:
      return Codec::kJpeg;
    case EXS_JPEGLSLossless:
    case EXS_JPEGLSLossy:
      return Codec::kJpegLs;
    case EXS_RLELossless:
      return Codec::kRle;
    case EXS_JPEG2000LosslessOnly:
    case EXS_JPEG2000:
      return Codec::kJpeg2000;
    default:
      return Codec::kUnsupported;
  }
}

// Inflates a raw deflate stream (PS3.5 A.5), refusing output beyond kMaxInflatedBytes.
core::Result<std::string> Inflate(std::string_view in) {
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return Status::Internal("zlib init failed");
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (out.size() >= kMaxInflatedBytes) {
      inflateEnd(&zs);
      return Status::InvalidArgument("deflated dataset inflates beyond 1 GiB");
    }
    size_t old = out.size();
    out.resize(old + std::max<size_t>(in.size() * 4, 64 * 1024));
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + old);
    zs.avail_out = static_cast<uInt>(out.size() - old);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(out.size() - zs.avail_out);
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;  // truncated stream
    if (rc == Z_BUF_ERROR) rc = Z_OK;
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END)
    return Status::InvalidArgument("deflated dataset is corrupt or truncated");
  return out;
}

Status ReadDataset(DcmDataset& ds, DcmInputStream& in, E_TransferSyntax xfer) {
  ds.transferInit();
  OFCondition cond = ds.read(in, xfer, EGL_noChange, kMaxReadLength);
  ds.transferEnd();
  if (cond.bad()) return Status::InvalidArgument(std::string("malformed dataset: ") + cond.text());
  return Status::Ok();
}

// Loads preamble, meta header and dataset from memory into `ff`; returns the transfer syntax UID.
core::Result<std::string> Load(std::string_view bytes, DcmFileFormat& ff) {
  IMGPIPE_RETURN_IF_ERROR(CheckPart10Prefix(bytes));
  DcmInputBufferStream in;
  in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  in.setEos();
  DcmMetaInfo& meta = *ff.getMetaInfo();
  meta.transferInit();
  OFCondition cond = meta.read(in, EXS_Unknown, EGL_noChange, kMaxReadLength);
  meta.transferEnd();
  if (cond.bad())
    return Status::InvalidArgument(std::string("malformed meta header: ") + cond.text());
  std::string ts = GetString(meta, DCM_TransferSyntaxUID);
  if (ts.empty()) return Status::InvalidArgument("meta header has no TransferSyntaxUID");
  E_TransferSyntax xfer = DcmXfer(ts.c_str()).getXfer();
  if (xfer == EXS_Unknown) return Status::UnsupportedMediaType("unknown transfer syntax " + ts);
  if (xfer == EXS_DeflatedLittleEndianExplicit) {
    size_t offset = static_cast<size_t>(in.tell());
    if (offset > bytes.size()) return Status::InvalidArgument("malformed meta header");
    IMGPIPE_ASSIGN_OR_RETURN(std::string inflated, Inflate(bytes.substr(offset)));
    DcmInputBufferStream in2;
    in2.setBuffer(inflated.data(), static_cast<offile_off_t>(inflated.size()));
    in2.setEos();
    IMGPIPE_RETURN_IF_ERROR(ReadDataset(*ff.getDataset(), in2, EXS_LittleEndianExplicit));
  } else {
    IMGPIPE_RETURN_IF_ERROR(ReadDataset(*ff.getDataset(), in, xfer));
  }
  return ts;
}

void ReadInfo(DcmDataset& ds, InstanceInfo& info) {
  info.sop_class_uid = GetString(ds, DCM_SOPClassUID);
  info.sop_instance_uid = GetString(ds, DCM_SOPInstanceUID);
  info.study_instance_uid = GetString(ds, DCM_StudyInstanceUID);
  info.series_instance_uid = GetString(ds, DCM_SeriesInstanceUID);
  info.patient_id = GetString(ds, DCM_PatientID);
  info.patient_name = GetString(ds, DCM_PatientName);
  info.patient_birth_date = GetString(ds, DCM_PatientBirthDate);
  info.patient_sex = GetString(ds, DCM_PatientSex);
  info.study_date = GetString(ds, DCM_StudyDate);
  info.study_time = GetString(ds, DCM_StudyTime);
  info.study_description = GetString(ds, DCM_StudyDescription);
  info.accession_number = GetString(ds, DCM_AccessionNumber);
  info.study_id = GetString(ds, DCM_StudyID);
  info.referring_physician_name = GetString(ds, DCM_ReferringPhysicianName);
  info.modality = GetString(ds, DCM_Modality);
  info.series_description = GetString(ds, DCM_SeriesDescription);
  info.series_number = static_cast<int>(GetLong(ds, DCM_SeriesNumber, 0));
  info.body_part_examined = GetString(ds, DCM_BodyPartExamined);
  info.instance_number = static_cast<int>(GetLong(ds, DCM_InstanceNumber, 0));
  info.rows = GetUint16(ds, DCM_Rows);
  info.columns = GetUint16(ds, DCM_Columns);
  info.bits_allocated = GetUint16(ds, DCM_BitsAllocated);
  info.bits_stored = GetUint16(ds, DCM_BitsStored);
  info.samples_per_pixel = GetUint16(ds, DCM_SamplesPerPixel);
  info.pixel_representation = GetUint16(ds, DCM_PixelRepresentation);
  info.photometric_interpretation = GetString(ds, DCM_PhotometricInterpretation);
  if (!GetDouble(ds, DCM_PixelSpacing, 0, &info.pixel_spacing_row) ||
      !GetDouble(ds, DCM_PixelSpacing, 1, &info.pixel_spacing_col)) {
    info.pixel_spacing_row = info.pixel_spacing_col = 0;
    if (!GetDouble(ds, DCM_ImagerPixelSpacing, 0, &info.pixel_spacing_row) ||
        !GetDouble(ds, DCM_ImagerPixelSpacing, 1, &info.pixel_spacing_col)) {
      info.pixel_spacing_row = info.pixel_spacing_col = 0;
    }
  }
  if (info.pixel_spacing_row <= 0 || info.pixel_spacing_col <= 0) {
    info.pixel_spacing_row = info.pixel_spacing_col = 0;
  }
  info.has_window = GetDouble(ds, DCM_WindowCenter, 0, &info.window_center) &&
                    GetDouble(ds, DCM_WindowWidth, 0, &info.window_width) && info.window_width > 0;
  if (!info.has_window) info.window_center = info.window_width = 0;
  if (!GetDouble(ds, DCM_RescaleSlope, 0, &info.rescale_slope) || info.rescale_slope == 0) {
    info.rescale_slope = 1;
  }
  if (!GetDouble(ds, DCM_RescaleIntercept, 0, &info.rescale_intercept)) {
    info.rescale_intercept = 0;
  }
}

Status Invalid(const std::string& what) {
  return Status::InvalidArgument("invalid image: " + what);
}

// A lower bound on the bytes a codec needs for `frames` frames, so that a tiny file claiming a
// huge image (the classic decompression bomb: 4 KB declaring 35000 x 35000) is refused at ingest
// in microseconds instead of costing a decoder gigabytes at preview time. The bounds are half of
// what the coding makes strictly necessary:
// - DCT JPEG: every 8x8 block of the first component codes a DC difference, >= 1 bit;
// - lossless JPEG: every sample codes a Huffman symbol, >= 1 bit;
// - RLE: a run packet covers at most 128 bytes in 2 bytes.
// JPEG-LS (run mode) and JPEG 2000 legitimately shrink blank images to almost nothing, so they
// are bounded only by the decoded-size limit.
Status CheckCompressedSize(E_TransferSyntax xfer, Codec codec, uint64_t compressed,
                           const InstanceInfo& info, int frames) {
  const uint64_t rows = static_cast<uint64_t>(info.rows);
  const uint64_t cols = static_cast<uint64_t>(info.columns);
  const uint64_t samples = static_cast<uint64_t>(info.samples_per_pixel);
  uint64_t min_bits = 0;
  if (codec == Codec::kJpeg) {
    bool lossless = xfer == EXS_JPEGProcess14 || xfer == EXS_JPEGProcess14SV1;
    min_bits = lossless ? rows * cols * samples : ((rows + 7) / 8) * ((cols + 7) / 8);
  } else if (codec == Codec::kRle) {
    min_bits = rows * cols * samples * static_cast<uint64_t>(std::max(1, info.bits_allocated / 8)) *
               8 / 64;
  } else {
    return Status::Ok();
  }
  uint64_t needed = min_bits / 16 * static_cast<uint64_t>(frames);
  if (compressed < needed) {
    return Invalid("compressed pixel data is " + std::to_string(compressed) +
                   " bytes, too small to encode " + std::to_string(frames) + " frame(s) of " +
                   std::to_string(cols) + "x" + std::to_string(rows) + " (at least " +
                   std::to_string(needed) + " bytes)");
  }
  return Status::Ok();
}

// Validates the image description; fills `layout`.
Status ValidateImage(DcmDataset& ds, E_TransferSyntax xfer, InstanceInfo& info,
                     PixelLayout& layout) {
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
    info.number_of_frames = 0;
    return Status::Ok();
  }
  layout.present = true;
  long frames = GetLong(ds, DCM_NumberOfFrames, 1);
  if (frames < 1 || frames > kMaxFrames) return Invalid("NumberOfFrames out of 1..100000");
  info.number_of_frames = static_cast<int>(frames);
  if (info.rows < 1 || info.columns < 1) return Invalid("Rows and Columns must be 1..65535");
  int ba = info.bits_allocated;
  if (ba != 1 && ba != 8 && ba != 16 && ba != 32) return Invalid("BitsAllocated not 1, 8, 16, 32");
  if (info.bits_stored == 0) info.bits_stored = ba;
  if (info.bits_stored > ba) return Invalid("BitsStored exceeds BitsAllocated");
  layout.high_bit = GetUint16(ds, DCM_HighBit);
  if (layout.high_bit < info.bits_stored - 1 || layout.high_bit >= ba) {
    layout.high_bit = info.bits_stored - 1;
  }
  if (info.samples_per_pixel != 1 && info.samples_per_pixel != 3) {
    return Invalid("SamplesPerPixel must be 1 or 3");
  }
  if (info.pixel_representation != 0 && info.pixel_representation != 1) {
    return Invalid("PixelRepresentation must be 0 or 1");
  }
  const std::string& pi = info.photometric_interpretation;
  bool mono = pi == "MONOCHROME1" || pi == "MONOCHROME2" || pi == "PALETTE COLOR";
  bool colour = pi == "RGB" || pi.starts_with("YBR_");
  if ((mono && info.samples_per_pixel != 1) || (colour && info.samples_per_pixel != 3)) {
    return Invalid("PhotometricInterpretation " + pi + " disagrees with SamplesPerPixel");
  }
  if (info.samples_per_pixel == 3) {
    layout.planar_configuration = GetUint16(ds, DCM_PlanarConfiguration) == 1 ? 1 : 0;
    if (ba == 1) return Invalid("1-bit colour data");
  }
  uint64_t frame_bytes = FrameBytes(info);
  if (frame_bytes * static_cast<uint64_t>(frames) > kMaxDecodedBytes) {
    return Invalid("decoded pixel data would exceed 2 GiB");
  }
  layout.codec = CodecFor(xfer);
  auto* pixel_data = dynamic_cast<DcmPixelData*>(element);
  DcmPixelSequence* seq = nullptr;
  if (pixel_data != nullptr && DcmXfer(xfer).isEncapsulated()) {
    pixel_data->getEncapsulatedRepresentation(xfer, nullptr, seq);
  }
  if (seq == nullptr) {
    // Native data, whatever the transfer syntax claims (DCMTK read it as OB/OW).
    layout.encapsulated = false;
    layout.codec = Codec::kNative;
    uint64_t needed = static_cast<uint64_t>(frames) * frame_bytes;
    if (ba == 1) {
      needed = (static_cast<uint64_t>(frames) * info.rows * info.columns + 7) / 8;
    } else if (pi == "YBR_FULL_422") {
      if (info.columns % 2 != 0) return Invalid("YBR_FULL_422 needs an even number of columns");
      needed = needed * 2 / 3;
    }
    if (element->getLength() < needed) {
      return Invalid("pixel data holds " + std::to_string(element->getLength()) + " bytes, " +
                     std::to_string(needed) + " needed");
    }
    return Status::Ok();
  }
  layout.encapsulated = true;
  unsigned long fragments = seq->card();
  if (fragments < 2) return Invalid("encapsulated pixel data has no fragments");
  if (static_cast<unsigned long>(frames) > fragments - 1) {
    return Invalid("fewer fragments than frames");
  }
  if (layout.codec == Codec::kUnsupported) return Status::Ok();  // stored, never decoded
  DcmPixelItem* item = nullptr;
  Uint8* data = nullptr;
  if (seq->getItem(item, 1).bad() || item->getUint8Array(data).bad()) {
    return Invalid("unreadable first fragment");
  }
  IMGPIPE_RETURN_IF_ERROR(
      CheckCodecHeader(layout.codec, data, data == nullptr ? 0 : item->getLength(), info));
  uint64_t compressed = 0;
  for (unsigned long i = 1; i < fragments; ++i) {
    if (seq->getItem(item, i).good()) compressed += item->getLength();
  }
  return CheckCompressedSize(xfer, layout.codec, compressed, info, frames);
}

}  // namespace

std::string_view TrimPadding(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\0')) s.remove_prefix(1);
  return s;
}

uint64_t FrameBytes(const InstanceInfo& info) {
  uint64_t bytes = info.bits_allocated <= 8 ? 1 : static_cast<uint64_t>(info.bits_allocated / 8);
  return static_cast<uint64_t>(info.rows) * info.columns * info.samples_per_pixel * bytes;
}

void InitDcmtk() {
  static std::once_flag once;
  std::call_once(once, [] {
    // DCMTK_LOG=1 keeps DCMTK's own logging, for debugging a file.
    if (!std::getenv("DCMTK_LOG")) OFLog::configure(OFLogger::OFF_LOG_LEVEL);
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
    // The data dictionary loads lazily on first use; take that cost here, not in a request.
    dcmDataDict.rdlock();
    dcmDataDict.rdunlock();
  });
}

core::Result<Parsed> Parse(std::string_view bytes) {
  InitDcmtk();
  Parsed parsed;
  parsed.file = std::make_unique<DcmFileFormat>();
  IMGPIPE_ASSIGN_OR_RETURN(parsed.info.transfer_syntax_uid, Load(bytes, *parsed.file));
  parsed.dataset = parsed.file->getDataset();
  InstanceInfo& info = parsed.info;
  ReadInfo(*parsed.dataset, info);
  IMGPIPE_RETURN_IF_ERROR(core::ValidateUid(info.sop_instance_uid, "SOPInstanceUID"));
  IMGPIPE_RETURN_IF_ERROR(core::ValidateUid(info.study_instance_uid, "StudyInstanceUID"));
  IMGPIPE_RETURN_IF_ERROR(core::ValidateUid(info.series_instance_uid, "SeriesInstanceUID"));
  E_TransferSyntax xfer = DcmXfer(info.transfer_syntax_uid.c_str()).getXfer();
  IMGPIPE_RETURN_IF_ERROR(ValidateImage(*parsed.dataset, xfer, info, parsed.layout));
  return parsed;
}

}  // namespace internal

void Initialize() { internal::InitDcmtk(); }

core::Status CheckPart10Prefix(std::string_view prefix) {
  if (prefix.size() < kPart10PrefixBytes || prefix.substr(128, 4) != "DICM") {
    return core::Status::UnsupportedMediaType("not a DICOM Part 10 file (no DICM prefix)");
  }
  return core::Status::Ok();
}

ParsedFile::ParsedFile(std::unique_ptr<internal::Parsed> parsed) : parsed_(std::move(parsed)) {}
ParsedFile::ParsedFile(ParsedFile&&) noexcept = default;
ParsedFile& ParsedFile::operator=(ParsedFile&&) noexcept = default;
ParsedFile::~ParsedFile() = default;

core::Result<ParsedFile> ParsedFile::Parse(std::string_view file) {
  try {
    IMGPIPE_ASSIGN_OR_RETURN(internal::Parsed parsed, internal::Parse(file));
    return ParsedFile(std::make_unique<internal::Parsed>(std::move(parsed)));
  } catch (const std::exception& e) {
    return core::Status::Internal(std::string("parsing DICOM: ") + e.what());
  }
}

const InstanceInfo& ParsedFile::info() const { return parsed_->info; }

core::Result<InstanceInfo> ParseInstance(std::string_view file) {
  try {
    IMGPIPE_ASSIGN_OR_RETURN(internal::Parsed parsed, internal::Parse(file));
    return std::move(parsed.info);
  } catch (const std::exception& e) {
    return core::Status::Internal(std::string("parsing DICOM: ") + e.what());
  }
}

}  // namespace imgpipe::dicom
