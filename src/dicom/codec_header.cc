// Codec header checks (without decoding) and frame-to-fragment mapping for encapsulated data.
#include <string>
#include <vector>

#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dicom/internal.h"

namespace imgpipe::dicom::internal {
namespace {

using core::Status;

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[3]) << 24 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[1]) << 8 | p[0];
}

Status Bad(const std::string& what) { return Status::InvalidArgument("invalid image: " + what); }

// The decoders size their output by precision: <= 8 bits gives bytes, more gives 16-bit words.
// So precision and BitsAllocated / BitsStored must fall on the same side of 8.
Status CheckPrecision(const char* codec, int precision, const InstanceInfo& info) {
  bool narrow = precision <= 8;
  if (precision < 2 || precision > 16 || narrow != (info.bits_allocated == 8) ||
      narrow != (info.bits_stored <= 8)) {
    return Bad(std::string(codec) + " precision " + std::to_string(precision) +
               " disagrees with BitsAllocated " + std::to_string(info.bits_allocated) +
               " / BitsStored " + std::to_string(info.bits_stored));
  }
  return Status::Ok();
}

Status CheckDims(const char* codec, uint32_t rows, uint32_t cols, uint32_t comps,
                 const InstanceInfo& info) {
  if (rows != static_cast<uint32_t>(info.rows) || cols != static_cast<uint32_t>(info.columns) ||
      comps != static_cast<uint32_t>(info.samples_per_pixel)) {
    return Bad(std::string(codec) + " header says " + std::to_string(cols) + "x" +
               std::to_string(rows) + "x" + std::to_string(comps) + ", dataset " +
               std::to_string(info.columns) + "x" + std::to_string(info.rows) + "x" +
               std::to_string(info.samples_per_pixel));
  }
  return Status::Ok();
}

// JPEG and JPEG-LS: walk marker segments from SOI to the first SOF.
Status CheckJpeg(bool jpeg_ls, const uint8_t* d, size_t n, const InstanceInfo& info) {
  const char* name = jpeg_ls ? "JPEG-LS" : "JPEG";
  if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return Bad(std::string(name) + " frame lacks SOI");
  size_t pos = 2;
  while (pos + 4 <= n) {
    if (d[pos] != 0xFF) return Bad(std::string(name) + " marker expected");
    uint8_t marker = d[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length
      pos += 2;
      continue;
    }
    size_t len = Be16(d + pos + 2);
    if (len < 2 || pos + 2 + len > n) return Bad(std::string(name) + " segment overruns fragment");
    const uint8_t* seg = d + pos + 4;
    bool sof = jpeg_ls ? marker == 0xF7
                       : (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
                          marker != 0xCC);
    if (sof) {
      if (len < 8) return Bad(std::string(name) + " SOF too short");
      IMGPIPE_RETURN_IF_ERROR(CheckDims(name, Be16(seg + 1), Be16(seg + 3), seg[5], info));
      return CheckPrecision(name, seg[0], info);
    }
    if (marker == 0xDA || marker == 0xD9) break;
    pos += 2 + len;
  }
  return Bad(std::string(name) + " frame has no SOF before scan data");
}

// JPEG 2000: SIZ right after SOC in a codestream, which may sit in a JP2 'jp2c' box.
Status CheckJ2k(const uint8_t* d, size_t n, const InstanceInfo& info) {
  if (n >= 12 && Be32(d) == 12 && Be32(d + 4) == 0x6A502020) {  // JP2 signature box
    size_t pos = 0;
    for (;;) {
      if (pos + 8 > n) return Bad("JP2 file without codestream box");
      uint64_t len = Be32(d + pos);
      uint32_t type = Be32(d + pos + 4);
      size_t header = 8;
      if (len == 1) {
        if (pos + 16 > n) return Bad("JP2 box overruns fragment");
        len = static_cast<uint64_t>(Be32(d + pos + 8)) << 32 | Be32(d + pos + 12);
        header = 16;
      } else if (len == 0) {
        len = n - pos;
      }
      if (len < header) return Bad("JP2 box length invalid");
      if (type == 0x6A703263) {  // 'jp2c'
        d += pos + header;
        n -= pos + header;
        break;
      }
      if (len > n - pos) return Bad("JP2 box overruns fragment");
      pos += len;
    }
  }
  if (n < 4 || Be16(d) != 0xFF4F || Be16(d + 2) != 0xFF51) {
    return Bad("JPEG 2000 codestream lacks SOC/SIZ");
  }
  if (n < 4 + 40) return Bad("JPEG 2000 SIZ truncated");
  const uint8_t* siz = d + 4;  // at Lsiz
  size_t lsiz = Be16(siz);
  uint32_t xsiz = Be32(siz + 4), ysiz = Be32(siz + 8), xo = Be32(siz + 12), yo = Be32(siz + 16);
  uint32_t comps = Be16(siz + 36);
  if (xo >= xsiz || yo >= ysiz || comps == 0 || lsiz != 38 + 3 * comps || 4 + 2 + lsiz - 2 > n) {
    return Bad("JPEG 2000 SIZ inconsistent");
  }
  IMGPIPE_RETURN_IF_ERROR(CheckDims("JPEG 2000", ysiz - yo, xsiz - xo, comps, info));
  for (uint32_t c = 0; c < comps; ++c) {
    const uint8_t* comp = siz + 38 + 3 * c;
    int precision = (comp[0] & 0x7F) + 1;
    if (precision > info.bits_allocated || precision > 16) {
      return Bad("JPEG 2000 precision " + std::to_string(precision) + " exceeds BitsAllocated");
    }
    if (comp[1] != 1 || comp[2] != 1) return Bad("JPEG 2000 subsampled components");
  }
  return Status::Ok();
}

// RLE (PS3.5 G.3): 64-byte header, segment count, offsets ascending inside the fragment.
Status CheckRle(const uint8_t* d, size_t n, const InstanceInfo& info) {
  if (n < 64) return Bad("RLE fragment shorter than its 64-byte header");
  uint32_t segments = Le32(d);
  uint32_t expected = static_cast<uint32_t>(info.samples_per_pixel * (info.bits_allocated / 8));
  if (segments < 1 || segments > 15 || segments != expected || info.bits_allocated < 8) {
    return Bad("RLE segment count " + std::to_string(segments) + ", expected " +
               std::to_string(expected));
  }
  uint32_t previous = 64;
  for (uint32_t i = 0; i < segments; ++i) {
    uint32_t offset = Le32(d + 4 + 4 * i);
    if ((i == 0 && offset != 64) || offset < previous || offset >= n) {
      return Bad("RLE segment offset " + std::to_string(offset) + " out of the fragment");
    }
    previous = offset;
  }
  return Status::Ok();
}

bool StartsFrame(Codec codec, const uint8_t* d, size_t n) {
  if (n < 4) return false;
  if (codec == Codec::kJpeg2000) return Be16(d) == 0xFF4F || (n >= 8 && Be32(d + 4) == 0x6A502020);
  if (codec == Codec::kRle) return true;
  return d[0] == 0xFF && d[1] == 0xD8;
}

}  // namespace

core::Status CheckCodecHeader(Codec codec, const uint8_t* data, size_t size,
                              const InstanceInfo& info) {
  if (data == nullptr) size = 0;
  switch (codec) {
    case Codec::kJpeg:
      return CheckJpeg(false, data, size, info);
    case Codec::kJpegLs:
      return CheckJpeg(true, data, size, info);
    case Codec::kJpeg2000:
      return CheckJ2k(data, size, info);
    case Codec::kRle:
      return CheckRle(data, size, info);
    default:
      return Status::Ok();
  }
}

core::Result<std::pair<uint32_t, uint32_t>> FrameFragments(DcmPixelSequence& seq, Codec codec,
                                                           int frames, int index) {
  const uint32_t count = static_cast<uint32_t>(seq.card());
  if (count < 2) return Bad("encapsulated pixel data has no fragments");
  const uint32_t fragments = count - 1;
  if (frames == 1) return std::make_pair(1u, fragments);
  if (fragments == static_cast<uint32_t>(frames)) return std::make_pair(index + 1u, 1u);
  // Collect fragment sizes, then try the Basic Offset Table, then codec start markers.
  std::vector<uint64_t> starts;  // byte offset of each fragment's item header after the BOT
  std::vector<bool> marker;
  uint64_t pos = 0;
  for (uint32_t i = 1; i < count; ++i) {
    DcmPixelItem* item = nullptr;
    Uint8* data = nullptr;
    if (seq.getItem(item, i).bad()) return Bad("unreadable fragment");
    item->getUint8Array(data);
    starts.push_back(pos);
    marker.push_back(data != nullptr && StartsFrame(codec, data, item->getLength()));
    pos += 8 + item->getLength();
  }
  std::vector<uint32_t> first;  // 1-based item index of each frame's first fragment
  DcmPixelItem* bot = nullptr;
  Uint8* bot_data = nullptr;
  if (seq.getItem(bot, 0).good() && bot->getLength() == 4u * static_cast<uint32_t>(frames) &&
      bot->getUint8Array(bot_data).good() && bot_data != nullptr) {
    for (int f = 0; f < frames; ++f) {
      uint64_t offset = Le32(bot_data + 4 * f);
      for (uint32_t i = 0; i < fragments; ++i) {
        if (starts[i] == offset) first.push_back(i + 1);
      }
    }
  }
  if (first.size() != static_cast<size_t>(frames)) {
    first.clear();
    for (uint32_t i = 0; i < fragments; ++i) {
      if (marker[i]) first.push_back(i + 1);
    }
  }
  if (first.size() != static_cast<size_t>(frames)) {
    return Bad("cannot locate frame " + std::to_string(index + 1) + " among the fragments");
  }
  uint32_t begin = first[index];
  uint32_t end = index + 1 < frames ? first[index + 1] : count;
  if (end <= begin) return Bad("fragment offsets out of order");
  return std::make_pair(begin, end - begin);
}

}  // namespace imgpipe::dicom::internal
