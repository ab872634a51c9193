// Colour conversions for decoded frames (internal to the dicom module).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "dicom/dicom.h"

class DcmDataset;

namespace imgpipe::dicom::internal {

// Native YBR_FULL_422 (Y1 Y2 Cb Cr per pixel pair, 8-bit) to full-resolution interleaved YBR.
std::vector<uint8_t> Expand422(const std::vector<uint8_t>& in, int rows, int columns);

// Colour-by-plane (RRR.. GGG.. BBB..) to colour-by-pixel (RGBRGB..), in place.
void InterleavePlanes(Frame& frame);

// YBR_FULL / YBR_PARTIAL_* interleaved to RGB (PS3.3 C.7.6.3.1.2), in place. Unknown colour models
// are Unprocessable.
core::Status YbrToRgb(Frame& frame, const std::string& color);

// PALETTE COLOR: maps the frame's indices through the dataset's red/green/blue LUTs to 8-bit RGB.
core::Status ApplyPalette(DcmDataset& dataset, Frame& frame);

}  // namespace imgpipe::dicom::internal
