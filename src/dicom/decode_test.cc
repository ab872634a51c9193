// DecodeFrame over every transfer syntax, photometric interpretation and bit depth.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "dcmtk/dcmjpeg/djrplol.h"
#include "dcmtk/dcmjpeg/djrploss.h"
#include "dcmtk/dcmjpls/djrparam.h"
#include "dicom/dicom.h"
#include "dicom/test_util.h"

namespace imgpipe::dicom {
namespace {

using core::StatusCode;
using testing::ImageSpec;
using testing::MakeImage;
using testing::Pattern;
using testing::Save;

ImageSpec Spec(int bits, int samples, int rows = 16, int cols = 12, int frames = 1) {
  ImageSpec s;
  s.rows = rows;
  s.columns = cols;
  s.samples = samples;
  s.bits_allocated = bits;
  s.bits_stored = bits;
  s.frames = frames;
  s.photometric = samples == 3 ? "RGB" : "MONOCHROME2";
  const int bytes = bits / 8;
  const uint32_t mask = bits == 32 ? 0xFFFFFFFFu : (1u << bits) - 1;
  s.pixels = Pattern(static_cast<size_t>(rows) * cols * samples * frames, bytes, mask);
  return s;
}

uint32_t Sample(const std::vector<uint8_t>& v, size_t i, int bytes) {
  uint32_t x = 0;
  std::memcpy(&x, v.data() + i * bytes, bytes);
  return x;
}

// Decodes `frame` and compares every sample with `expected` within `tolerance`.
void ExpectDecodes(const std::string& file, int frame, const std::vector<uint8_t>& expected,
                   int bytes, int samples, int tolerance = 0) {
  auto f = DecodeFrame(file, frame);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(f->bytes_per_sample, bytes);
  ASSERT_EQ(f->samples, samples);
  ASSERT_EQ(f->pixels.size(), expected.size());
  size_t n = expected.size() / bytes;
  int worst = 0;
  for (size_t i = 0; i < n; ++i) {
    int64_t d = static_cast<int64_t>(Sample(f->pixels, i, bytes)) - Sample(expected, i, bytes);
    worst = std::max<int>(worst, static_cast<int>(std::abs(d)));
  }
  EXPECT_LE(worst, tolerance);
}

std::vector<uint8_t> FrameOf(const ImageSpec& s, int frame) {
  size_t size = s.pixels.size() / s.frames;
  return {s.pixels.begin() + size * (frame - 1), s.pixels.begin() + size * frame};
}

class NativeTest : public ::testing::TestWithParam<E_TransferSyntax> {};

TEST_P(NativeTest, GreyAndRgbAtEveryDepth) {
  for (int bits : {8, 16, 32}) {
    for (int samples : {1, 3}) {
      if (bits == 32 && samples == 3) continue;
      SCOPED_TRACE(std::to_string(bits) + " bits, " + std::to_string(samples) + " samples");
      ImageSpec s = Spec(bits, samples);
      auto ff = MakeImage(s);
      ExpectDecodes(Save(*ff, GetParam()), 1, s.pixels, bits / 8, samples);
    }
  }
}

TEST_P(NativeTest, MultiFrameSelectsTheFrame) {
  ImageSpec s = Spec(16, 1, 8, 6, 3);
  auto ff = MakeImage(s);
  std::string file = Save(*ff, GetParam());
  for (int frame = 1; frame <= 3; ++frame) ExpectDecodes(file, frame, FrameOf(s, frame), 2, 1);
  EXPECT_EQ(DecodeFrame(file, 4).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(DecodeFrame(file, 0).status().code(), StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(AllNative, NativeTest,
                         ::testing::Values(EXS_LittleEndianImplicit, EXS_LittleEndianExplicit,
                                           EXS_BigEndianExplicit,
                                           EXS_DeflatedLittleEndianExplicit));

TEST(DecodeTest, MasksHighBitsAndSignExtends) {
  ImageSpec s = Spec(16, 1, 1, 4);
  s.bits_stored = 12;
  // Stored 12-bit values with garbage above bit 11.
  const uint16_t stored[4] = {0xF123, 0x0FFF, 0xA800, 0x07FF};
  std::memcpy(s.pixels.data(), stored, 8);
  auto unsigned_file = MakeImage(s);
  const uint16_t masked[4] = {0x0123, 0x0FFF, 0x0800, 0x07FF};
  std::vector<uint8_t> expected(8);
  std::memcpy(expected.data(), masked, 8);
  ExpectDecodes(Save(*unsigned_file, EXS_LittleEndianExplicit), 1, expected, 2, 1);

  s.pixel_representation = 1;
  auto signed_file = MakeImage(s);
  auto f = DecodeFrame(Save(*signed_file, EXS_LittleEndianExplicit), 1);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE(f->is_signed);
  int16_t v[4];
  std::memcpy(v, f->pixels.data(), 8);
  EXPECT_EQ(v[0], 0x123);
  EXPECT_EQ(v[1], -1);
  EXPECT_EQ(v[2], -2048);
  EXPECT_EQ(v[3], 2047);
}

TEST(DecodeTest, OneBitFramesAreExpanded) {
  // 3 frames of 5x3 = 15 bits each, so frames 2 and 3 start mid-byte.
  ImageSpec s;
  s.rows = 3;
  s.columns = 5;
  s.frames = 3;
  s.bits_allocated = s.bits_stored = 1;
  std::vector<uint8_t> bits(45);
  for (size_t i = 0; i < bits.size(); ++i) bits[i] = (i * 7 + i / 3) % 3 == 0;
  s.pixels.assign(6, 0);
  for (size_t i = 0; i < bits.size(); ++i) s.pixels[i / 8] |= bits[i] << (i % 8);
  auto ff = MakeImage(s);
  std::string file = Save(*ff, EXS_LittleEndianExplicit);
  for (int frame = 1; frame <= 3; ++frame) {
    std::vector<uint8_t> expected(bits.begin() + 15 * (frame - 1), bits.begin() + 15 * frame);
    ExpectDecodes(file, frame, expected, 1, 1);
  }
}

TEST(DecodeTest, PlanarConfigurationIsInterleaved) {
  ImageSpec s = Spec(8, 3, 2, 2);
  s.planar = 1;
  s.pixels = {1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 24};  // R plane, G plane, B plane
  auto ff = MakeImage(s);
  ExpectDecodes(Save(*ff, EXS_LittleEndianExplicit), 1,
                {1, 11, 21, 2, 12, 22, 3, 13, 23, 4, 14, 24}, 1, 3);
}

TEST(DecodeTest, YbrFullBecomesRgb) {
  ImageSpec s = Spec(8, 3, 1, 3);
  s.photometric = "YBR_FULL";
  s.pixels = {128, 128, 128, 76, 85, 255, 255, 128, 128};  // grey, red, white
  auto ff = MakeImage(s);
  ExpectDecodes(Save(*ff, EXS_LittleEndianExplicit), 1, {128, 128, 128, 254, 0, 0, 255, 255, 255},
                1, 3, 1);
}

TEST(DecodeTest, YbrFull422IsUpsampled) {
  ImageSpec s = Spec(8, 3, 1, 4);
  s.photometric = "YBR_FULL_422";
  s.pixels = {100, 110, 128, 128, 76, 76, 85, 255};  // Y1 Y2 Cb Cr, twice
  auto ff = MakeImage(s);
  ExpectDecodes(Save(*ff, EXS_LittleEndianExplicit), 1,
                {100, 100, 100, 110, 110, 110, 254, 0, 0, 254, 0, 0}, 1, 3, 1);
}

void AddPalette(DcmDataset& ds, int bits, const std::vector<Uint16>& red,
                const std::vector<Uint16>& green, const std::vector<Uint16>& blue, int first) {
  const Uint16 n = static_cast<Uint16>(red.size());
  const DcmTagKey descriptors[3] = {DCM_RedPaletteColorLookupTableDescriptor,
                                    DCM_GreenPaletteColorLookupTableDescriptor,
                                    DCM_BluePaletteColorLookupTableDescriptor};
  const DcmTagKey data[3] = {DCM_RedPaletteColorLookupTableData,
                             DCM_GreenPaletteColorLookupTableData,
                             DCM_BluePaletteColorLookupTableData};
  const std::vector<Uint16>* luts[3] = {&red, &green, &blue};
  for (int c = 0; c < 3; ++c) {
    Uint16 d[3] = {n, static_cast<Uint16>(first), static_cast<Uint16>(bits)};
    DcmElement* e = DcmItem::newDicomElement(DcmTag(descriptors[c], EVR_US));
    e->putUint16Array(d, 3);
    ds.insert(e, OFTrue);
    ds.putAndInsertUint16Array(data[c], luts[c]->data(), luts[c]->size());
  }
}

TEST(DecodeTest, PaletteColor8And16BitEntries) {
  ImageSpec s = Spec(8, 1, 1, 4);
  s.photometric = "PALETTE COLOR";
  s.pixels = {10, 11, 12, 200};  // 200 is beyond the LUT: clamps to the last entry
  std::vector<Uint16> red = {255, 0, 7, 9}, green = {0, 255, 8, 10}, blue = {0, 0, 9, 11};
  auto ff8 = MakeImage(s);
  AddPalette(*ff8->getDataset(), 8, red, green, blue, 10);
  ExpectDecodes(Save(*ff8, EXS_LittleEndianExplicit), 1, {255, 0, 0, 0, 255, 0, 7, 8, 9, 9, 10, 11},
                1, 3);
  auto ff16 = MakeImage(s);
  std::vector<Uint16> r16, g16, b16;
  for (int i = 0; i < 4; ++i) {
    r16.push_back(static_cast<Uint16>(red[i] * 257));
    g16.push_back(static_cast<Uint16>(green[i] * 257));
    b16.push_back(static_cast<Uint16>(blue[i] * 257));
  }
  AddPalette(*ff16->getDataset(), 16, r16, g16, b16, 10);
  ExpectDecodes(Save(*ff16, EXS_LittleEndianImplicit), 1,
                {255, 0, 0, 0, 255, 0, 7, 8, 9, 9, 10, 11}, 1, 3);
}

// The descriptor's bits per entry shifts each 16-bit entry: a value over 16 (fuzz_dicom found
// 10240) must be refused, never used as a shift count. Render refuses it too.
TEST(DecodeTest, PaletteWithImpossibleEntryBitsIsRejected) {
  ImageSpec s = Spec(8, 1, 1, 4);
  s.photometric = "PALETTE COLOR";
  s.pixels = {10, 11, 12, 13};
  std::vector<Uint16> lut = {1, 2, 3, 4};
  for (int bits : {0, 17, 10240}) {
    SCOPED_TRACE(bits);
    auto ff = MakeImage(s);
    AddPalette(*ff->getDataset(), bits, lut, lut, lut, 10);
    std::string file = Save(*ff, EXS_LittleEndianExplicit);
    ASSERT_TRUE(ParseInstance(file).ok());
    auto frame = DecodeFrame(file, 1);
    ASSERT_FALSE(frame.ok());
    EXPECT_EQ(frame.status().code(), StatusCode::kInvalidArgument) << frame.status().ToString();
    EXPECT_FALSE(Render(file, {}).ok());
  }
}

struct CodecCase {
  const char* name;
  E_TransferSyntax xfer;
  int bits;
  int samples;
  int frames;
};

class LosslessCodecTest : public ::testing::TestWithParam<CodecCase> {};

TEST_P(LosslessCodecTest, DecodesExactly) {
  const CodecCase& c = GetParam();
  ImageSpec s = Spec(c.bits, c.samples, 20, 18, c.frames);
  auto ff = MakeImage(s);
  DJ_RPLossless lossless(1, 0);
  DJLSRepresentationParameter jls(2, OFTrue);
  const DcmRepresentationParameter* param = nullptr;
  if (c.xfer == EXS_JPEGProcess14SV1) param = &lossless;
  if (c.xfer == EXS_JPEGLSLossless) param = &jls;
  std::string file = Save(*ff, c.xfer, param);
  auto info = ParseInstance(file);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->transfer_syntax_uid, DcmXfer(c.xfer).getXferID());
  for (int frame = 1; frame <= c.frames; ++frame) {
    ExpectDecodes(file, frame, FrameOf(s, frame), c.bits / 8, c.samples);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Codecs, LosslessCodecTest,
    ::testing::Values(CodecCase{"rle8", EXS_RLELossless, 8, 1, 1},
                      CodecCase{"rle16", EXS_RLELossless, 16, 1, 1},
                      CodecCase{"rle32", EXS_RLELossless, 32, 1, 1},
                      CodecCase{"rleRgb", EXS_RLELossless, 8, 3, 1},
                      CodecCase{"rleMulti", EXS_RLELossless, 16, 1, 3},
                      CodecCase{"jls8", EXS_JPEGLSLossless, 8, 1, 1},
                      CodecCase{"jls16", EXS_JPEGLSLossless, 16, 1, 1},
                      CodecCase{"jlsRgb", EXS_JPEGLSLossless, 8, 3, 1},
                      CodecCase{"jlsMulti", EXS_JPEGLSLossless, 8, 1, 3},
                      CodecCase{"jpegLossless8", EXS_JPEGProcess14SV1, 8, 1, 1},
                      CodecCase{"jpegLossless16", EXS_JPEGProcess14SV1, 16, 1, 1},
                      CodecCase{"jpegLosslessRgb", EXS_JPEGProcess14SV1, 8, 3, 1},
                      CodecCase{"jpegLosslessMulti", EXS_JPEGProcess14SV1, 16, 1, 3}),
    [](const auto& info) { return std::string(info.param.name); });

// A smooth image, so lossy codecs stay close to it.
ImageSpec Gradient(int bits, int samples, int rows = 32, int cols = 32) {
  ImageSpec s = Spec(bits, samples, rows, cols);
  s.bits_stored = bits == 16 ? 12 : 8;
  const int max = (1 << s.bits_stored) - 1;
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x) {
      for (int c = 0; c < samples; ++c) {
        int v = x * max / cols / 2 + y * max / rows / 4 + c * max / 8;  // no wrap: smooth
        size_t i = (static_cast<size_t>(y) * cols + x) * samples + c;
        for (int b = 0; b < bits / 8; ++b) s.pixels[i * (bits / 8) + b] = (v >> (8 * b)) & 0xFF;
      }
    }
  }
  return s;
}

TEST(DecodeTest, JpegBaselineGreyAndColour) {
  DJ_RPLossy quality(95);
  ImageSpec grey = Gradient(8, 1);
  auto ff = MakeImage(grey);
  ExpectDecodes(Save(*ff, EXS_JPEGProcess1, &quality), 1, grey.pixels, 1, 1, 12);
  ImageSpec rgb = Gradient(8, 3);
  auto ffc = MakeImage(rgb);
  std::string file = Save(*ffc, EXS_JPEGProcess1, &quality);
  auto info = ParseInstance(file);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->photometric_interpretation.starts_with("YBR_FULL"));
  ExpectDecodes(file, 1, rgb.pixels, 1, 3, 24);  // chroma subsampling on a gradient
}

TEST(DecodeTest, JpegExtended12Bit) {
  DJ_RPLossy quality(95);
  ImageSpec s = Gradient(16, 1);
  auto ff = MakeImage(s);
  std::string file = Save(*ff, EXS_JPEGProcess2_4, &quality);
  ExpectDecodes(file, 1, s.pixels, 2, 1, 64);
}

TEST(DecodeTest, JpegLsNearLossless) {
  ImageSpec s = Gradient(8, 1);
  auto ff = MakeImage(s);
  DJLSRepresentationParameter near(2, OFFalse);
  ExpectDecodes(Save(*ff, EXS_JPEGLSLossy, &near), 1, s.pixels, 1, 1, 2);
}

// JPEG 2000 files come from gdcmconv, run as a separate process (GDCM never enters imgpipe).
std::string GdcmConvert(const std::string& input, const std::string& flags) {
  std::string in = testing::WriteTemp(input, ".dcm");
  std::string out = in + ".j2k.dcm";
  std::string cmd = "gdcmconv " + flags + " " + in + " " + out + " >/dev/null 2>&1";
  int rc = std::system(cmd.c_str());
  std::string bytes = rc == 0 ? testing::ReadFile(out) : std::string();
  std::remove(in.c_str());
  std::remove(out.c_str());
  return bytes;
}

bool HaveGdcmconv() { return std::system("command -v gdcmconv >/dev/null 2>&1") == 0; }

TEST(Jpeg2000Test, LosslessGreySignedRgbAndMultiFrame) {
  if (!HaveGdcmconv()) GTEST_SKIP() << "gdcmconv not installed";
  struct Case {
    int bits, samples, frames, pixel_representation;
  };
  for (Case c : {Case{8, 1, 1, 0}, Case{16, 1, 1, 0}, Case{16, 1, 1, 1}, Case{8, 3, 1, 0},
                 Case{16, 1, 3, 0}}) {
    SCOPED_TRACE(std::to_string(c.bits) + "/" + std::to_string(c.samples) + "/" +
                 std::to_string(c.frames) + "/" + std::to_string(c.pixel_representation));
    ImageSpec s = Spec(c.bits, c.samples, 24, 20, c.frames);
    s.pixel_representation = c.pixel_representation;
    auto ff = MakeImage(s);
    std::string file = GdcmConvert(Save(*ff, EXS_LittleEndianExplicit), "--j2k");
    ASSERT_FALSE(file.empty());
    auto info = ParseInstance(file);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->transfer_syntax_uid, "1.2.840.10008.1.2.4.90");
    for (int frame = 1; frame <= c.frames; ++frame) {
      ExpectDecodes(file, frame, FrameOf(s, frame), c.bits / 8, c.samples);
    }
  }
}

TEST(Jpeg2000Test, LossyIrreversible) {
  if (!HaveGdcmconv()) GTEST_SKIP() << "gdcmconv not installed";
  ImageSpec s = Gradient(8, 3);
  auto ff = MakeImage(s);
  std::string file =
      GdcmConvert(Save(*ff, EXS_LittleEndianExplicit), "--j2k --lossy --irreversible -q 60");
  ASSERT_FALSE(file.empty());
  auto info = ParseInstance(file);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ExpectDecodes(file, 1, s.pixels, 1, 3, 16);
}

TEST(Jpeg2000Test, LyingSizIsRejected) {
  if (!HaveGdcmconv()) GTEST_SKIP() << "gdcmconv not installed";
  ImageSpec s = Spec(8, 1, 24, 20);
  auto ff = MakeImage(s);
  std::string file = GdcmConvert(Save(*ff, EXS_LittleEndianExplicit), "--j2k");
  size_t siz = file.find("\xFF\x4F\xFF\x51");
  ASSERT_NE(siz, std::string::npos);
  for (size_t i = siz + 8; i < siz + 16; ++i) file[i] = '\x7F';  // Xsiz, Ysiz
  auto info = ParseInstance(file);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(DecodeFrame(file, 1).ok());
}

}  // namespace
}  // namespace imgpipe::dicom
