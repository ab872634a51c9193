// JPEG 2000 frames through OpenJPEG, from memory.
#include <openjpeg.h>

#include <cstring>
#include <memory>
#include <string>

#include "dicom/internal.h"

namespace imgpipe::dicom::internal {
namespace {

using core::Status;

struct MemorySource {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
};

OPJ_SIZE_T Read(void* buffer, OPJ_SIZE_T bytes, void* user) {
  auto* src = static_cast<MemorySource*>(user);
  if (src->pos >= src->size) return static_cast<OPJ_SIZE_T>(-1);
  size_t n = std::min<size_t>(bytes, src->size - src->pos);
  std::memcpy(buffer, src->data + src->pos, n);
  src->pos += n;
  return n;
}

OPJ_OFF_T Skip(OPJ_OFF_T bytes, void* user) {
  auto* src = static_cast<MemorySource*>(user);
  if (bytes < 0) {
    size_t back = static_cast<size_t>(-bytes);
    if (back > src->pos) return -1;
    src->pos -= back;
    return bytes;
  }
  size_t n = std::min<size_t>(static_cast<size_t>(bytes), src->size - src->pos);
  src->pos += n;
  return static_cast<OPJ_OFF_T>(n);
}

OPJ_BOOL Seek(OPJ_OFF_T offset, void* user) {
  auto* src = static_cast<MemorySource*>(user);
  if (offset < 0 || static_cast<size_t>(offset) > src->size) return OPJ_FALSE;
  src->pos = static_cast<size_t>(offset);
  return OPJ_TRUE;
}

void KeepError(const char* message, void* user) {
  auto* error = static_cast<std::string*>(user);
  if (error->empty()) *error = message;
  while (!error->empty() && error->back() == '\n') error->pop_back();
}
void Ignore(const char*, void*) {}

struct CodecDeleter {
  void operator()(opj_codec_t* c) const { opj_destroy_codec(c); }
};
struct StreamDeleter {
  void operator()(opj_stream_t* s) const { opj_stream_destroy(s); }
};
struct ImageDeleter {
  void operator()(opj_image_t* i) const { opj_image_destroy(i); }
};

template <typename T>
void Store(uint8_t* out, int32_t v) {
  T t = static_cast<T>(v);
  std::memcpy(out, &t, sizeof(T));
}

}  // namespace

core::Result<std::vector<uint8_t>> DecodeJpeg2000(const uint8_t* data, size_t size,
                                                  const InstanceInfo& info) {
  if (data == nullptr || size < 12) return Status::InvalidArgument("JPEG 2000 frame too short");
  const bool jp2 = data[4] == 'j' && data[5] == 'P';
  std::unique_ptr<opj_codec_t, CodecDeleter> codec(
      opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K));
  std::string error;
  opj_set_error_handler(codec.get(), KeepError, &error);
  opj_set_warning_handler(codec.get(), Ignore, nullptr);
  opj_set_info_handler(codec.get(), Ignore, nullptr);
  opj_dparameters_t params;
  opj_set_default_decoder_parameters(&params);
  if (!opj_setup_decoder(codec.get(), &params)) return Status::Internal("OpenJPEG setup failed");

  MemorySource source{data, size};
  std::unique_ptr<opj_stream_t, StreamDeleter> stream(opj_stream_create(64 * 1024, OPJ_TRUE));
  opj_stream_set_user_data(stream.get(), &source, nullptr);
  opj_stream_set_user_data_length(stream.get(), size);
  opj_stream_set_read_function(stream.get(), Read);
  opj_stream_set_skip_function(stream.get(), Skip);
  opj_stream_set_seek_function(stream.get(), Seek);

  opj_image_t* raw_image = nullptr;
  if (!opj_read_header(stream.get(), codec.get(), &raw_image)) {
    return Status::InvalidArgument("JPEG 2000 header unreadable: " + error);
  }
  std::unique_ptr<opj_image_t, ImageDeleter> image(raw_image);
  const int samples = info.samples_per_pixel;
  if (image->numcomps < static_cast<OPJ_UINT32>(samples)) {
    return Status::InvalidArgument("JPEG 2000 has fewer components than SamplesPerPixel");
  }
  if (!opj_decode(codec.get(), stream.get(), image.get()) ||
      !opj_end_decompress(codec.get(), stream.get())) {
    return Status::InvalidArgument("JPEG 2000 decode failed: " + error);
  }
  const size_t pixels = static_cast<size_t>(info.rows) * info.columns;
  for (int c = 0; c < samples; ++c) {
    const opj_image_comp_t& comp = image->comps[c];
    if (comp.w != static_cast<OPJ_UINT32>(info.columns) ||
        comp.h != static_cast<OPJ_UINT32>(info.rows) || comp.data == nullptr) {
      return Status::InvalidArgument("JPEG 2000 component size disagrees with Rows/Columns");
    }
  }
  const int bytes = info.bits_allocated <= 8 ? 1 : info.bits_allocated / 8;
  std::vector<uint8_t> out(pixels * samples * bytes);
  for (int c = 0; c < samples; ++c) {
    const OPJ_INT32* src = image->comps[c].data;
    uint8_t* dst = out.data() + static_cast<size_t>(c) * bytes;
    const size_t step = static_cast<size_t>(samples) * bytes;
    for (size_t i = 0; i < pixels; ++i, dst += step) {
      if (bytes == 1) {
        Store<uint8_t>(dst, src[i]);
      } else if (bytes == 2) {
        Store<uint16_t>(dst, src[i]);
      } else {
        Store<uint32_t>(dst, src[i]);
      }
    }
  }
  return out;
}

}  // namespace imgpipe::dicom::internal
