// Writes the seed corpus of fuzz_dicom (fuzz/corpus/fuzz_dicom/) into the directory given as
// argument: tiny images (a few hundred bytes each) covering the paths ParseInstance, DecodeFrame
// and Render take - every supported transfer syntax DCMTK can write, grey 1/8/12/16 bits signed
// and unsigned, MONOCHROME1, RGB interleaved and planar, YBR_FULL_422, PALETTE COLOR, several
// frames, window and rescale tags. JPEG 2000 comes from gdcmconv run as a separate process when
// it is installed. Regenerate with: build/fuzz/fuzz_make_dicom_seeds fuzz/corpus/fuzz_dicom
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <tuple>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmjpeg/djrplol.h"
#include "dcmtk/dcmjpeg/djrploss.h"
#include "dcmtk/dcmjpls/djrparam.h"
#include "dicom/dicom.h"
#include "dicom/test_util.h"

namespace {

using namespace imgpipe::dicom;
using testing::ImageSpec;

std::string out_dir;

void Write(const std::string& name, const std::string& bytes) {
  std::ofstream(out_dir + "/" + name, std::ios::binary) << bytes;
  std::printf("%-28s %6zu bytes\n", name.c_str(), bytes.size());
}

ImageSpec Spec(int bits, int samples, int rows, int cols, int frames = 1) {
  ImageSpec s;
  s.rows = rows;
  s.columns = cols;
  s.samples = samples;
  s.bits_allocated = bits;
  s.bits_stored = bits;
  s.frames = frames;
  s.photometric = samples == 3 ? "RGB" : "MONOCHROME2";
  const uint32_t mask = bits == 32 ? 0xFFFFFFFFu : (1u << bits) - 1;
  s.pixels = testing::Pattern(static_cast<size_t>(rows) * cols * samples * frames,
                              bits == 1 ? 1 : bits / 8, mask);
  return s;
}

std::string Save(const ImageSpec& spec, E_TransferSyntax xfer,
                 const DcmRepresentationParameter* param = nullptr) {
  auto ff = testing::MakeImage(spec);
  return testing::Save(*ff, xfer, param);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  Initialize();

  Write("grey8-explicit.dcm", Save(Spec(8, 1, 8, 6), EXS_LittleEndianExplicit));
  Write("grey8-implicit.dcm", Save(Spec(8, 1, 5, 7), EXS_LittleEndianImplicit));
  Write("grey8-bigendian.dcm", Save(Spec(8, 1, 4, 4), EXS_BigEndianExplicit));
  Write("grey8-deflated.dcm", Save(Spec(8, 1, 8, 8), EXS_DeflatedLittleEndianExplicit));
  {
    ImageSpec s = Spec(16, 1, 6, 6);  // CT-like: signed, 12 of 16 bits, window and rescale
    s.bits_stored = 12;
    s.pixel_representation = 1;
    auto ff = testing::MakeImage(s);
    DcmDataset& ds = *ff->getDataset();
    ds.putAndInsertString(DCM_HighBit, "11");
    ds.putAndInsertString(DCM_WindowCenter, "40\\300");
    ds.putAndInsertString(DCM_WindowWidth, "400\\1500");
    ds.putAndInsertString(DCM_RescaleSlope, "1");
    ds.putAndInsertString(DCM_RescaleIntercept, "-1024");
    ds.putAndInsertString(DCM_PixelSpacing, "0.5\\0.7");
    Write("ct16-signed-window.dcm", testing::Save(*ff, EXS_LittleEndianExplicit));
  }
  {
    ImageSpec s = Spec(16, 1, 4, 5);
    s.photometric = "MONOCHROME1";
    Write("mono1-16.dcm", Save(s, EXS_LittleEndianImplicit));
  }
  Write("grey32.dcm", Save(Spec(32, 1, 3, 3), EXS_LittleEndianExplicit));
  Write("bits1.dcm", Save(Spec(1, 1, 8, 8), EXS_LittleEndianExplicit));
  Write("rgb-interleaved.dcm", Save(Spec(8, 3, 4, 4), EXS_LittleEndianExplicit));
  {
    ImageSpec s = Spec(8, 3, 4, 4);
    s.planar = 1;
    Write("rgb-planar.dcm", Save(s, EXS_LittleEndianExplicit));
  }
  {
    ImageSpec s = Spec(8, 3, 2, 4);
    s.photometric = "YBR_FULL_422";
    s.pixels.resize(s.pixels.size() * 2 / 3);
    Write("ybr422-native.dcm", Save(s, EXS_LittleEndianExplicit));
  }
  {
    ImageSpec s = Spec(8, 1, 2, 2);
    s.photometric = "PALETTE COLOR";
    s.pixels = {10, 11, 12, 200};
    auto ff = testing::MakeImage(s);
    DcmDataset& ds = *ff->getDataset();
    const DcmTagKey descriptors[3] = {DCM_RedPaletteColorLookupTableDescriptor,
                                      DCM_GreenPaletteColorLookupTableDescriptor,
                                      DCM_BluePaletteColorLookupTableDescriptor};
    const DcmTagKey data[3] = {DCM_RedPaletteColorLookupTableData,
                               DCM_GreenPaletteColorLookupTableData,
                               DCM_BluePaletteColorLookupTableData};
    const Uint16 lut[4] = {255, 0, 7, 9};
    for (int c = 0; c < 3; ++c) {
      const Uint16 d[3] = {4, 10, 8};
      DcmElement* e = DcmItem::newDicomElement(DcmTag(descriptors[c], EVR_US));
      e->putUint16Array(d, 3);
      ds.insert(e, OFTrue);
      ds.putAndInsertUint16Array(data[c], lut, 4);
    }
    Write("palette.dcm", testing::Save(*ff, EXS_LittleEndianExplicit));
  }
  Write("multiframe3.dcm", Save(Spec(8, 1, 4, 4, 3), EXS_LittleEndianExplicit));

  DJ_RPLossy quality(90);
  Write("jpeg-baseline-grey.dcm", Save(Spec(8, 1, 16, 16), EXS_JPEGProcess1, &quality));
  Write("jpeg-baseline-rgb.dcm", Save(Spec(8, 3, 8, 8), EXS_JPEGProcess1, &quality));
  {
    ImageSpec s = Spec(16, 1, 8, 8);
    s.bits_stored = 12;
    Write("jpeg-extended12.dcm", Save(s, EXS_JPEGProcess2_4, &quality));
  }
  DJ_RPLossless lossless;
  Write("jpeg-lossless16.dcm", Save(Spec(16, 1, 6, 6), EXS_JPEGProcess14SV1, &lossless));
  Write("jpeg-lossless-2frames.dcm", Save(Spec(8, 1, 4, 4, 2), EXS_JPEGProcess14SV1, &lossless));
  DJLSRepresentationParameter jpls_lossless(0, OFTrue);
  Write("jpegls-lossless.dcm", Save(Spec(16, 1, 8, 8), EXS_JPEGLSLossless, &jpls_lossless));
  DJLSRepresentationParameter jpls_near(2, OFFalse);
  Write("jpegls-near.dcm", Save(Spec(8, 3, 4, 4), EXS_JPEGLSLossy, &jpls_near));
  Write("rle-grey16.dcm", Save(Spec(16, 1, 6, 6), EXS_RLELossless));
  Write("rle-rgb-2frames.dcm", Save(Spec(8, 3, 4, 4, 2), EXS_RLELossless));

  // JPEG 2000: gdcmconv, as a separate process (GDCM never enters imgpipe); it fails on images
  // smaller than its default resolution levels need, hence 32x32.
  if (std::system("command -v gdcmconv >/dev/null 2>&1") == 0) {
    for (auto [name, flags, samples] :
         {std::tuple{"j2k-lossless-grey.dcm", "--j2k", 1},
          std::tuple{"j2k-lossy-rgb.dcm", "--j2k --lossy -q 60", 3}}) {
      std::string in =
          testing::WriteTemp(Save(Spec(8, samples, 32, 32), EXS_LittleEndianExplicit), ".dcm");
      std::string out = in + ".j2k.dcm";
      std::string cmd =
          "gdcmconv " + std::string(flags) + " " + in + " " + out + " >/dev/null 2>&1";
      if (std::system(cmd.c_str()) == 0) Write(name, testing::ReadFile(out));
      std::remove(in.c_str());
      std::remove(out.c_str());
    }
  }
  // No pixel data at all (a structured report, say): parse only.
  {
    auto ff = testing::MakeImage(Spec(8, 1, 2, 2));
    ff->getDataset()->findAndDeleteElement(DCM_PixelData);
    Write("no-pixels.dcm", testing::Save(*ff, EXS_LittleEndianExplicit));
  }
  return 0;
}
