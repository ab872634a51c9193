// DecodeFrame: one frame, native or compressed, to interleaved stored values (RGB for colour).
#include <algorithm>
#include <cstring>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfcache.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmdata/dctk.h"
#include "dicom/color.h"
#include "dicom/internal.h"

namespace imgpipe::dicom {
namespace internal {
namespace {

using core::Status;

// A frame as the decoder produced it: samples of BytesPerSample(), layout per `planar`, colour
// model per `color` (DCMTK's JPEG decoder already converts YBR to RGB, for example).
struct RawFrame {
  std::vector<uint8_t> bytes;
  std::string color;
  int planar = 0;
  bool subsampled_422 = false;  // native YBR_FULL_422: Y1 Y2 Cb Cr per pixel pair
};

int BytesPerSample(const InstanceInfo& info) {
  return info.bits_allocated <= 8 ? 1 : info.bits_allocated / 8;
}

core::Result<RawFrame> NativeFrame(Parsed& p, DcmElement& element, int index) {
  const InstanceInfo& info = p.info;
  RawFrame raw;
  raw.color = info.photometric_interpretation;
  raw.planar = p.layout.planar_configuration;
  const uint64_t pixels = static_cast<uint64_t>(info.rows) * info.columns;
  const uint8_t* base = nullptr;
  if (info.bits_allocated <= 8) {
    Uint8* data = nullptr;  // DCMTK hands out OB or OW pixel data as little-endian bytes here
    if (element.getUint8Array(data).bad() || data == nullptr) {
      return Status::InvalidArgument("unreadable pixel data");
    }
    base = data;
  } else {
    Uint16* data = nullptr;  // host-order 16-bit words
    if (element.getUint16Array(data).bad() || data == nullptr) {
      return Status::InvalidArgument("unreadable pixel data");
    }
    base = reinterpret_cast<const uint8_t*>(data);
  }
  if (info.bits_allocated == 1) {
    // Bit-packed, LSB first; frames are not byte aligned.
    raw.bytes.resize(pixels);
    uint64_t bit = static_cast<uint64_t>(index) * pixels;
    for (uint64_t i = 0; i < pixels; ++i, ++bit) raw.bytes[i] = (base[bit >> 3] >> (bit & 7)) & 1;
    return raw;
  }
  uint64_t frame_bytes = FrameBytes(info);
  if (raw.color == "YBR_FULL_422") {
    if (info.bits_allocated != 8) return Status::Unprocessable("16-bit YBR_FULL_422 unsupported");
    frame_bytes = frame_bytes * 2 / 3;
    raw.subsampled_422 = true;
  }
  const uint8_t* start = base + static_cast<uint64_t>(index) * frame_bytes;
  raw.bytes.assign(start, start + frame_bytes);
  return raw;
}

core::Result<RawFrame> EncapsulatedFrame(Parsed& p, DcmPixelData& pixel_data, int index) {
  const InstanceInfo& info = p.info;
  const E_TransferSyntax xfer = p.dataset->getOriginalXfer();
  const Codec codec = p.layout.codec;
  if (codec == Codec::kUnsupported) {
    return Status::UnsupportedMediaType("cannot decode transfer syntax " +
                                        info.transfer_syntax_uid);
  }
  DcmPixelSequence* seq = nullptr;
  if (pixel_data.getEncapsulatedRepresentation(xfer, nullptr, seq).bad() || seq == nullptr) {
    return Status::InvalidArgument("encapsulated pixel data unreadable");
  }
  IMGPIPE_ASSIGN_OR_RETURN(auto span, FrameFragments(*seq, codec, info.number_of_frames, index));
  // Gather the frame's fragments; check the codec header of this frame before any decoder runs.
  std::vector<uint8_t> joined;
  const uint8_t* data = nullptr;
  size_t size = 0;
  for (uint32_t i = span.first; i < span.first + span.second; ++i) {
    DcmPixelItem* item = nullptr;
    Uint8* bytes = nullptr;
    if (seq->getItem(item, i).bad() || item->getUint8Array(bytes).bad()) {
      return Status::InvalidArgument("unreadable fragment");
    }
    if (bytes == nullptr) continue;
    if (span.second == 1) {
      data = bytes;
      size = item->getLength();
    } else {
      joined.insert(joined.end(), bytes, bytes + item->getLength());
    }
  }
  if (span.second > 1) {
    data = joined.data();
    size = joined.size();
  }
  IMGPIPE_RETURN_IF_ERROR(CheckCodecHeader(codec, data, size, info));
  if (codec == Codec::kRle && span.second != 1) {
    return Status::InvalidArgument("RLE frame spans several fragments");
  }
  RawFrame raw;
  if (codec == Codec::kJpeg2000) {
    IMGPIPE_ASSIGN_OR_RETURN(raw.bytes, DecodeJpeg2000(data, size, info));
    const std::string& pi = info.photometric_interpretation;
    // OpenJPEG undoes the codestream's MCT; other YBR data stays YBR.
    raw.color = (pi == "YBR_RCT" || pi == "YBR_ICT") ? "RGB" : pi;
    if (raw.color == "YBR_FULL_422") raw.color = "YBR_FULL";
    return raw;
  }
  // DCMTK codecs write the frame in the dataset's planar configuration.
  Uint32 frame_size = 0;
  if (pixel_data.getUncompressedFrameSize(p.dataset, frame_size).bad()) {
    return Status::InvalidArgument("cannot size the uncompressed frame");
  }
  const uint64_t needed = FrameBytes(info);
  raw.bytes.resize(std::max<uint64_t>(frame_size, needed));
  Uint32 start = span.first;
  OFString color;
  DcmFileCache cache;
  OFCondition cond = pixel_data.getUncompressedFrame(p.dataset, static_cast<Uint32>(index), start,
                                                     raw.bytes.data(), frame_size, color, &cache);
  if (cond.bad()) {
    return Status::InvalidArgument(std::string("cannot decode frame: ") + cond.text());
  }
  raw.bytes.resize(needed);
  raw.color = color.c_str();
  raw.planar = p.layout.planar_configuration;
  if (raw.color == "YBR_FULL_422") raw.color = "YBR_FULL";  // decoders upsample
  return raw;
}

// Keeps the stored bits (HighBit down to HighBit - BitsStored + 1) and sign-extends them.
template <typename U, typename S>
void NormalizeSamples(std::vector<uint8_t>& bytes, int shift, int bits, bool is_signed) {
  const size_t n = bytes.size() / sizeof(U);
  const U mask = bits >= static_cast<int>(8 * sizeof(U)) ? static_cast<U>(~U{0})
                                                         : static_cast<U>((U{1} << bits) - 1);
  const U sign = static_cast<U>(U{1} << (bits - 1));
  for (size_t i = 0; i < n; ++i) {
    U v;
    std::memcpy(&v, bytes.data() + i * sizeof(U), sizeof(U));
    v = static_cast<U>((v >> shift) & mask);
    if (is_signed && (v & sign)) v = static_cast<U>(v | ~mask);
    std::memcpy(bytes.data() + i * sizeof(U), &v, sizeof(U));
  }
}

void Normalize(Frame& frame, int high_bit) {
  const int width = frame.bytes_per_sample * 8;
  const int shift = high_bit + 1 - frame.bits_stored;
  if (shift == 0 && frame.bits_stored == width) return;  // nothing to mask or extend
  if (frame.bytes_per_sample == 1) {
    NormalizeSamples<uint8_t, int8_t>(frame.pixels, shift, frame.bits_stored, frame.is_signed);
  } else if (frame.bytes_per_sample == 2) {
    NormalizeSamples<uint16_t, int16_t>(frame.pixels, shift, frame.bits_stored, frame.is_signed);
  } else {
    NormalizeSamples<uint32_t, int32_t>(frame.pixels, shift, frame.bits_stored, frame.is_signed);
  }
}

}  // namespace

core::Result<Frame> DecodeParsed(Parsed& p, int frame_number) {
  const InstanceInfo& info = p.info;
  if (!p.layout.present) return Status::Unprocessable("the instance has no pixel data");
  if (frame_number < 1 || frame_number > info.number_of_frames) {
    return Status::NotFound("frame " + std::to_string(frame_number) + " not in 1.." +
                            std::to_string(info.number_of_frames));
  }
  DcmElement* element = nullptr;
  if (p.dataset->findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
    return Status::Unprocessable("the instance has no pixel data");
  }
  RawFrame raw;
  if (p.layout.encapsulated) {
    auto* pixel_data = dynamic_cast<DcmPixelData*>(element);
    if (pixel_data == nullptr) return Status::InvalidArgument("pixel data unreadable");
    IMGPIPE_ASSIGN_OR_RETURN(raw, EncapsulatedFrame(p, *pixel_data, frame_number - 1));
  } else {
    IMGPIPE_ASSIGN_OR_RETURN(raw, NativeFrame(p, *element, frame_number - 1));
  }
  Frame frame;
  frame.rows = info.rows;
  frame.columns = info.columns;
  frame.samples = info.samples_per_pixel;
  frame.bits_stored = info.bits_stored;
  frame.bytes_per_sample = BytesPerSample(info);
  frame.is_signed = info.pixel_representation == 1 && info.samples_per_pixel == 1;
  frame.pixels = std::move(raw.bytes);
  if (raw.subsampled_422) {
    frame.pixels = Expand422(frame.pixels, frame.rows, frame.columns);
    raw.color = "YBR_FULL";
  }
  if (frame.samples == 3 && raw.planar == 1) InterleavePlanes(frame);
  Normalize(frame, info.bits_allocated == 1 ? 0 : p.layout.high_bit);
  if (frame.samples == 3 && raw.color != "RGB") {
    IMGPIPE_RETURN_IF_ERROR(YbrToRgb(frame, raw.color));
  }
  if (info.photometric_interpretation == "PALETTE COLOR") {
    IMGPIPE_RETURN_IF_ERROR(ApplyPalette(*p.dataset, frame));
  }
  return frame;
}

}  // namespace internal

core::Result<Frame> ParsedFile::DecodeFrame(int frame_number) {
  try {
    return internal::DecodeParsed(*parsed_, frame_number);
  } catch (const std::exception& e) {
    return core::Status::Internal(std::string("decoding DICOM: ") + e.what());
  }
}

core::Result<Frame> DecodeFrame(std::string_view file, int frame_number) {
  try {
    IMGPIPE_ASSIGN_OR_RETURN(internal::Parsed parsed, internal::Parse(file));
    return internal::DecodeParsed(parsed, frame_number);
  } catch (const std::exception& e) {
    return core::Status::Internal(std::string("decoding DICOM: ") + e.what());
  }
}

}  // namespace imgpipe::dicom
