#include "dicom/color.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dctk.h"

namespace imgpipe::dicom::internal {
namespace {

using core::Status;

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// One palette LUT: descriptor (entries, first mapped value, bits) and 8-bit output entries.
struct Lut {
  int64_t first = 0;
  std::vector<uint8_t> entries;
};

core::Result<Lut> ReadLut(DcmDataset& ds, const DcmTagKey& descriptor_tag,
                          const DcmTagKey& data_tag, bool signed_pixels) {
  Uint16 count = 0, first = 0, bits = 0;
  if (ds.findAndGetUint16(descriptor_tag, count, 0).bad() ||
      ds.findAndGetUint16(descriptor_tag, first, 1).bad() ||
      ds.findAndGetUint16(descriptor_tag, bits, 2).bad()) {
    return Status::InvalidArgument("PALETTE COLOR without a usable LUT descriptor");
  }
  // PS3.3 C.7.6.3.1.5 allows 8 or 16 bits per entry; fewer are tolerated, more cannot be read.
  if (bits < 1 || bits > 16) {
    return Status::InvalidArgument("palette LUT descriptor gives " + std::to_string(bits) +
                                   " bits per entry (8 or 16 expected)");
  }
  const size_t n = count == 0 ? 65536 : count;
  Lut lut;
  lut.first = signed_pixels ? static_cast<int16_t>(first) : first;
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(data_tag, element).bad() || element == nullptr) {
    return Status::Unprocessable("PALETTE COLOR without LUT data (segmented palettes unsupported)");
  }
  const size_t length = element->getLength();
  Uint16* words = nullptr;
  if (element->getUint16Array(words).bad() || words == nullptr) {
    return Status::InvalidArgument("unreadable palette LUT data");
  }
  lut.entries.resize(n);
  if (length >= 2 * n) {
    // One 16-bit word per entry; 8-bit LUTs sometimes store each byte in a word.
    int shift = bits > 8 ? bits - 8 : 0;
    for (size_t i = 0; i < n; ++i) lut.entries[i] = static_cast<uint8_t>(words[i] >> shift);
  } else if (bits <= 8 && length >= n) {
    // 8-bit entries packed two per word (little-endian).
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(words);
    std::memcpy(lut.entries.data(), bytes, n);
  } else {
    return Status::InvalidArgument("palette LUT data shorter than its descriptor");
  }
  return lut;
}

}  // namespace

std::vector<uint8_t> Expand422(const std::vector<uint8_t>& in, int rows, int columns) {
  const size_t pairs = static_cast<size_t>(rows) * columns / 2;
  std::vector<uint8_t> out(pairs * 6);
  for (size_t i = 0; i < pairs; ++i) {
    const uint8_t* s = in.data() + 4 * i;
    uint8_t* d = out.data() + 6 * i;
    d[0] = s[0], d[1] = s[2], d[2] = s[3];
    d[3] = s[1], d[4] = s[2], d[5] = s[3];
  }
  return out;
}

void InterleavePlanes(Frame& frame) {
  const size_t pixels = static_cast<size_t>(frame.rows) * frame.columns;
  const size_t b = frame.bytes_per_sample;
  std::vector<uint8_t> out(frame.pixels.size());
  for (size_t c = 0; c < 3; ++c) {
    const uint8_t* plane = frame.pixels.data() + c * pixels * b;
    for (size_t i = 0; i < pixels; ++i) std::memcpy(&out[(i * 3 + c) * b], plane + i * b, b);
  }
  frame.pixels = std::move(out);
}

Status YbrToRgb(Frame& frame, const std::string& color) {
  const bool partial = color.starts_with("YBR_PARTIAL");
  if (color != "YBR_FULL" && !partial) {
    return Status::Unprocessable("unsupported photometric interpretation " + color);
  }
  if (frame.bytes_per_sample > 2) return Status::Unprocessable("32-bit YBR unsupported");
  const double max = std::ldexp(1.0, frame.bits_stored) - 1;
  const double half = std::ldexp(1.0, frame.bits_stored - 1);
  const double scale = max / 255.0;
  const size_t n = frame.pixels.size() / (3 * frame.bytes_per_sample);
  auto convert = [&](double y, double cb, double cr, double out[3]) {
    if (partial) {
      y = (y - 16 * scale) * 255.0 / 219.0;
      cb = (cb - half) * 255.0 / 224.0 + half;
      cr = (cr - half) * 255.0 / 224.0 + half;
    }
    out[0] = y + 1.402 * (cr - half);
    out[1] = y - 0.344136 * (cb - half) - 0.714136 * (cr - half);
    out[2] = y + 1.772 * (cb - half);
    for (int k = 0; k < 3; ++k) out[k] = std::clamp(std::round(out[k]), 0.0, max);
  };
  double rgb[3];
  if (frame.bytes_per_sample == 1) {
    uint8_t* p = frame.pixels.data();
    for (size_t i = 0; i < n; ++i, p += 3) {
      convert(p[0], p[1], p[2], rgb);
      for (int k = 0; k < 3; ++k) p[k] = static_cast<uint8_t>(rgb[k]);
    }
  } else {
    uint8_t* p = frame.pixels.data();
    for (size_t i = 0; i < n; ++i, p += 6) {
      convert(Load<uint16_t>(p), Load<uint16_t>(p + 2), Load<uint16_t>(p + 4), rgb);
      for (int k = 0; k < 3; ++k) {
        uint16_t v = static_cast<uint16_t>(rgb[k]);
        std::memcpy(p + 2 * k, &v, 2);
      }
    }
  }
  return Status::Ok();
}

Status ApplyPalette(DcmDataset& ds, Frame& frame) {
  if (frame.samples != 1) return Status::InvalidArgument("PALETTE COLOR with 3 samples");
  IMGPIPE_ASSIGN_OR_RETURN(Lut red, ReadLut(ds, DCM_RedPaletteColorLookupTableDescriptor,
                                            DCM_RedPaletteColorLookupTableData, frame.is_signed));
  IMGPIPE_ASSIGN_OR_RETURN(Lut green,
                           ReadLut(ds, DCM_GreenPaletteColorLookupTableDescriptor,
                                   DCM_GreenPaletteColorLookupTableData, frame.is_signed));
  IMGPIPE_ASSIGN_OR_RETURN(Lut blue, ReadLut(ds, DCM_BluePaletteColorLookupTableDescriptor,
                                             DCM_BluePaletteColorLookupTableData, frame.is_signed));
  const size_t pixels = static_cast<size_t>(frame.rows) * frame.columns;
  std::vector<uint8_t> out(pixels * 3);
  auto lookup = [](const Lut& lut, int64_t v) {
    int64_t i = std::clamp<int64_t>(v - lut.first, 0, static_cast<int64_t>(lut.entries.size()) - 1);
    return lut.entries[static_cast<size_t>(i)];
  };
  for (size_t i = 0; i < pixels; ++i) {
    int64_t v = 0;
    const uint8_t* p = frame.pixels.data() + i * frame.bytes_per_sample;
    if (frame.bytes_per_sample == 1) {
      v = frame.is_signed ? Load<int8_t>(p) : Load<uint8_t>(p);
    } else if (frame.bytes_per_sample == 2) {
      v = frame.is_signed ? Load<int16_t>(p) : Load<uint16_t>(p);
    } else {
      v = frame.is_signed ? Load<int32_t>(p) : Load<uint32_t>(p);
    }
    out[3 * i] = lookup(red, v);
    out[3 * i + 1] = lookup(green, v);
    out[3 * i + 2] = lookup(blue, v);
  }
  frame.pixels = std::move(out);
  frame.samples = 3;
  frame.bytes_per_sample = 1;
  frame.bits_stored = 8;
  frame.is_signed = false;
  return Status::Ok();
}

}  // namespace imgpipe::dicom::internal
