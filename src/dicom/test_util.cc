#include "dicom/test_util.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "dcmtk/dcmdata/dcrleerg.h"
#include "dcmtk/dcmimage/diregist.h"  // colour support for the lossy encoders
#include "dcmtk/dcmjpeg/djencode.h"
#include "dcmtk/dcmjpls/djencode.h"

namespace imgpipe::dicom::testing {

std::unique_ptr<DcmFileFormat> MakeImage(const ImageSpec& s) {
  auto ff = std::make_unique<DcmFileFormat>();
  DcmDataset* ds = ff->getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, "1.2.826.0.1.3680043.2.1125.1.1");
  ds->putAndInsertString(DCM_StudyInstanceUID, "1.2.826.0.1.3680043.2.1125.1.2");
  ds->putAndInsertString(DCM_SeriesInstanceUID, "1.2.826.0.1.3680043.2.1125.1.3");
  ds->putAndInsertString(DCM_PatientName, "DOE^JOHN");
  ds->putAndInsertString(DCM_PatientID, "PID1");
  ds->putAndInsertString(DCM_Modality, "OT");
  ds->putAndInsertString(DCM_StudyDate, "20240102");
  ds->putAndInsertString(DCM_SeriesNumber, "7");
  ds->putAndInsertString(DCM_InstanceNumber, "3");
  ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(s.rows));
  ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(s.columns));
  ds->putAndInsertUint16(DCM_SamplesPerPixel, static_cast<Uint16>(s.samples));
  ds->putAndInsertUint16(DCM_BitsAllocated, static_cast<Uint16>(s.bits_allocated));
  ds->putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(s.bits_stored));
  ds->putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(s.bits_stored - 1));
  ds->putAndInsertUint16(DCM_PixelRepresentation, static_cast<Uint16>(s.pixel_representation));
  ds->putAndInsertString(DCM_PhotometricInterpretation, s.photometric.c_str());
  if (s.samples == 3)
    ds->putAndInsertUint16(DCM_PlanarConfiguration, static_cast<Uint16>(s.planar));
  if (s.frames != 1) ds->putAndInsertString(DCM_NumberOfFrames, std::to_string(s.frames).c_str());
  if (s.bits_allocated <= 8) {
    ds->putAndInsertUint8Array(DCM_PixelData, s.pixels.data(), s.pixels.size());
  } else {
    std::vector<Uint16> words(s.pixels.size() / 2);
    std::memcpy(words.data(), s.pixels.data(), words.size() * 2);
    ds->putAndInsertUint16Array(DCM_PixelData, words.data(), words.size());
  }
  return ff;
}

std::vector<uint8_t> Pattern(size_t samples, int bytes, uint32_t mask, uint32_t seed) {
  std::vector<uint8_t> out(samples * bytes);
  uint32_t x = 2463534242u + seed;
  for (size_t i = 0; i < samples; ++i) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;  // xorshift: noisy but deterministic
    uint32_t v = ((i * 37) ^ (x & 0xFF)) & mask;
    for (int b = 0; b < bytes; ++b) out[i * bytes + b] = static_cast<uint8_t>(v >> (8 * b));
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string WriteTemp(const std::string& bytes, const std::string& suffix) {
  const char* dir = std::getenv("IMGPIPE_TEST_TMPDIR");
  std::string base = dir ? dir : "/tmp";
  std::string tmpl = base + "/dicomtestXXXXXX" + suffix;
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = mkstemps(name.data(), static_cast<int>(suffix.size()));
  if (fd < 0) {
    std::string fallback = "/tmp/dicomtestXXXXXX" + suffix;
    name.assign(fallback.begin(), fallback.end());
    name.push_back('\0');
    fd = mkstemps(name.data(), static_cast<int>(suffix.size()));
  }
  if (fd < 0) throw std::runtime_error("mkstemps failed");
  close(fd);
  std::ofstream(name.data(), std::ios::binary) << bytes;
  return name.data();
}

std::string Save(DcmFileFormat& ff, E_TransferSyntax xfer, const DcmRepresentationParameter* p) {
  static std::once_flag once;
  std::call_once(once, [] {
    OFLog::configure(std::getenv("DCMTK_LOG") ? OFLogger::DEBUG_LOG_LEVEL
                                              : OFLogger::OFF_LOG_LEVEL);
    DJEncoderRegistration::registerCodecs();
    // The raw encoding path: DCMTK 3.6.7's "cooked" JPEG-LS path (its default) leaves bytes of
    // the compressed frame uninitialised (valgrind: DJLSEncoderBase::compressCookedFrame), so
    // whether the test file decodes depended on the heap's leftovers (the environment's size).
    DJLSEncoderRegistration::registerCodecs(0, 0, 0, 0, /*preferCookedEncoding=*/OFFalse);
    DcmRLEEncoderRegistration::registerCodecs();
  });
  DcmXfer x(xfer);
  if (x.isEncapsulated()) {
    if (ff.getDataset()->chooseRepresentation(xfer, p).bad() ||
        !ff.getDataset()->canWriteXfer(xfer)) {
      throw std::runtime_error("cannot compress to " + std::string(x.getXferName()));
    }
  }
  std::string path = WriteTemp("", ".dcm");
  OFCondition c = ff.saveFile(path.c_str(), xfer);
  if (c.bad()) throw std::runtime_error(std::string("saveFile: ") + c.text());
  std::string bytes = ReadFile(path);
  std::remove(path.c_str());
  return bytes;
}

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  const int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

namespace {
CommandResult RunOnTemp(const std::string& bytes, const std::string& command_prefix) {
  const std::string path = WriteTemp(bytes, ".dcm");
  CommandResult result = RunCommand(command_prefix + " '" + path + "' 2>&1");
  std::remove(path.c_str());
  return result;
}
}  // namespace

CommandResult Dcmdump(const std::string& bytes) { return RunOnTemp(bytes, "dcmdump"); }

CommandResult PydicomDump(const std::string& bytes) {
  return RunOnTemp(bytes, std::string("/usr/bin/python3 ") + IMGPIPE_PYDICOM_DUMP);
}

boost::json::object ReadWithPydicom(const std::string& file) {
  testing::CommandResult r = testing::PydicomDump(file);
  EXPECT_EQ(r.status, 0) << r.output;
  if (r.status != 0) return {};
  return boost::json::parse(r.output).as_object();
}

std::string Value(const boost::json::object& dump, const std::string& key) {
  const auto& values = dump.at("values").as_object();
  auto it = values.find(key);
  return it == values.end() ? std::string("<absent>") : std::string(it->value().as_string());
}

void ExpectDcmdumpClean(const std::string& file) {
  testing::CommandResult r = testing::Dcmdump(file);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("E: "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("W: "), std::string::npos) << r.output;
}

}  // namespace imgpipe::dicom::testing
