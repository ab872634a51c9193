// PNG and JPEG encoding of 8-bit grey or RGB rasters (internal to the dicom module).
//
// libpng and libjpeg are called directly rather than through cv::imencode: Debian's
// libopencv_imgcodecs links GDCM, which must never be loaded into imgpipe, and a direct libpng
// call lets us pick fast settings (compression level 1, one filter).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace imgpipe::dicom::internal {

// `pixels` is rows of width * channels bytes (channels 1 = grey, 3 = RGB), `stride` bytes apart.
core::Result<std::string> EncodePng(const uint8_t* pixels, int width, int height, int channels,
                                    size_t stride);
core::Result<std::string> EncodeJpeg(const uint8_t* pixels, int width, int height, int channels,
                                     size_t stride, int quality);

}  // namespace imgpipe::dicom::internal
