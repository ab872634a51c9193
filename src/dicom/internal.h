// Internals shared by the dicom module's translation units. Not part of the public contract.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dicom/dicom.h"

namespace imgpipe::dicom::internal {

// Hard limits from the ingest contract.
inline constexpr int kMaxFrames = 100000;
inline constexpr uint64_t kMaxDecodedBytes = uint64_t{2} << 30;   // 2 GiB, all frames
inline constexpr uint64_t kMaxInflatedBytes = uint64_t{1} << 30;  // deflated datasets

// How the pixel data of a transfer syntax is stored, i.e. which decoder handles it.
enum class Codec { kNative, kJpeg, kJpegLs, kRle, kJpeg2000, kUnsupported };

// Registers the DCMTK decoders and silences DCMTK logging; idempotent and thread-safe.
void InitDcmtk();

// The image description needed to decode, beyond InstanceInfo.
struct PixelLayout {
  bool present = false;  // the dataset has Pixel Data
  bool encapsulated = false;
  Codec codec = Codec::kNative;
  int planar_configuration = 0;
  int high_bit = 0;
};

// A parsed and validated file. `file` owns the DCMTK objects; `dataset` points into it.
struct Parsed {
  std::unique_ptr<DcmFileFormat> file;
  DcmDataset* dataset = nullptr;
  InstanceInfo info;
  PixelLayout layout;
};

// Parses `bytes` (bounded, see dicom.h) and validates identity and image description.
core::Result<Parsed> Parse(std::string_view bytes);

// Decodes one frame (1-based) of a parsed file.
core::Result<Frame> DecodeParsed(Parsed& parsed, int frame_number);

// Bytes of one uncompressed frame as stored (bits_allocated 1 counts as 1 byte per sample).
uint64_t FrameBytes(const InstanceInfo& info);

// Checks the codec header at the start of a frame's first fragment against the dataset, without
// decoding: dimensions, components and precision must agree.
core::Status CheckCodecHeader(Codec codec, const uint8_t* data, size_t size,
                              const InstanceInfo& info);

// Locates frame `index` (0-based) in an encapsulated pixel sequence: returns the 1-based item
// index of its first fragment and the number of fragments it spans.
core::Result<std::pair<uint32_t, uint32_t>> FrameFragments(DcmPixelSequence& seq, Codec codec,
                                                           int frames, int index);

// Decodes one JPEG 2000 frame (raw codestream or JP2) with OpenJPEG into interleaved samples of
// info.bits_allocated / 8 bytes each (little-endian), colour transform (RCT/ICT) undone.
core::Result<std::vector<uint8_t>> DecodeJpeg2000(const uint8_t* data, size_t size,
                                                  const InstanceInfo& info);

// Serialises `ff` as a Part 10 file (zero preamble, "DICM", a meta header created afresh from
// the dataset) in transfer syntax `xfer`. Pixel data must already be in a representation
// writable in `xfer` (for an encapsulated syntax: the one it was read in).
core::Result<std::string> WritePart10(DcmFileFormat& ff, E_TransferSyntax xfer);

// De-identification rules by tag (deid_rules.cc; PS3.15 Table E.1-1, Basic Profile).
enum class DeidAction { kKeep, kRemove, kEmpty };
DeidAction DeidActionFor(const DcmTagKey& tag);
// True for UI attributes naming classes, transfer syntaxes or coding schemes: never remapped.
bool IsClassUidTag(const DcmTagKey& tag);

// Writers' helpers (derived.cc).
// A DS value (at most 16 characters, PS3.5 6.2) with as much precision as fits.
std::string Ds(double v);
// Copies `tag` (any VR, sequences deeply) from `from` to `to` when present, replacing.
void CopyIfPresent(DcmItem& from, DcmItem& to, const DcmTagKey& tag);
// Type 2 attributes must be present: inserts an empty `tag` when absent.
void EnsurePresent(DcmItem& item, const DcmTagKey& tag);
// The patient and study modules (and what a viewer needs to show them: body part, laterality,
// lossy compression, burned-in annotation) of `from`, copied into `to`; type 2 ones ensured.
void CopyPatientAndStudy(DcmItem& from, DcmItem& to);

// Trims DICOM padding (spaces, NULs) from both ends.
std::string_view TrimPadding(std::string_view s);

}  // namespace imgpipe::dicom::internal
