// fuzz_dicom: an uploaded file on the server's path. ParseInstance (what ingest runs on every
// file), then, on what it accepts, what the PACS serves from a stored file: the DICOM JSON
// metadata (WADO-RS /metadata), the first and last frame decoded (/frames/{n}) and rendered
// (/preview, /rendered).
//
// Work bound: ParseInstance refuses images whose decoded pixel data, all frames, would exceed
// 2 GiB (dicom/internal.h kMaxDecodedBytes). One frame under that bound is still more than the
// fuzzer's 2 GB RSS budget holds once decoded and rendered, so frames over kMaxFuzzFrameBytes are
// parsed but not decoded here: what the fuzzer looks for is memory errors and crashes on small
// malformed inputs, not the cost of a legitimately huge image.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dicom/dicom.h"

namespace {

using namespace imgpipe;

constexpr uint64_t kMaxFuzzFrameBytes = uint64_t{64} << 20;

void DecodeAndRender(std::string_view file, const dicom::InstanceInfo& info, int frame) {
  (void)dicom::DecodeFrame(file, frame);
  dicom::RenderOptions native;
  native.frame = frame;
  (void)dicom::Render(file, native);
  dicom::RenderOptions thumb;  // the browser's preview: fitted, JPEG, explicit window
  thumb.frame = frame;
  thumb.size = 64;
  thumb.format = dicom::ImageFormat::kJpeg;
  thumb.window_center = info.window_center;
  thumb.window_width = info.has_window ? info.window_width : 1;
  (void)dicom::Render(file, thumb);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dicom::Initialize();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view file(reinterpret_cast<const char*>(data), size);
  (void)dicom::CheckPart10Prefix(file);
  core::Result<dicom::InstanceInfo> info = dicom::ParseInstance(file);
  if (!info.ok()) return 0;
  (void)dicom::ToDicomJson(file, "/dicomweb/studies/1/series/2/instances/3/bulk", 64);
  if (info->number_of_frames < 1) return 0;
  const uint64_t frame_bytes = static_cast<uint64_t>(info->rows) * info->columns *
                               info->samples_per_pixel * ((info->bits_allocated + 7) / 8);
  if (frame_bytes > kMaxFuzzFrameBytes) return 0;
  DecodeAndRender(file, *info, 1);
  if (info->number_of_frames > 1) DecodeAndRender(file, *info, info->number_of_frames);
  return 0;
}
