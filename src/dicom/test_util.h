// Test helpers: build DICOM Part 10 files in memory with DCMTK (encoders are test-only).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "dcmtk/dcmdata/dctk.h"

namespace imgpipe::dicom::testing {

struct ImageSpec {
  int rows = 4;
  int columns = 4;
  int samples = 1;
  int bits_allocated = 8;
  int bits_stored = 8;
  int pixel_representation = 0;
  int frames = 1;
  int planar = 0;
  std::string photometric = "MONOCHROME2";
  std::vector<uint8_t> pixels;  // all frames, as stored (little-endian samples)
};

// A dataset with identity UIDs, patient/study attributes and the image described by `spec`.
std::unique_ptr<DcmFileFormat> MakeImage(const ImageSpec& spec);

// Pixels 0..n-1 of the given sample width, little-endian, with a per-sample pattern.
std::vector<uint8_t> Pattern(size_t samples, int bytes_per_sample, uint32_t mask,
                             uint32_t seed = 0);

// Writes `ff` in transfer syntax `xfer` (compressing with DCMTK's encoders when needed) and returns
// the Part 10 bytes. `param` is the codec's representation parameter, or null for the default.
std::string Save(DcmFileFormat& ff, E_TransferSyntax xfer,
                 const DcmRepresentationParameter* param = nullptr);

// Writes `bytes` to a fresh temp file and returns its path.
std::string WriteTemp(const std::string& bytes, const std::string& suffix);
std::string ReadFile(const std::string& path);

// Runs `command` through the shell; returns its exit status and standard output (stderr goes to
// stdout when the command says 2>&1).
struct CommandResult {
  int status = -1;
  std::string output;
};
CommandResult RunCommand(const std::string& command);

// Independent readers, run as separate processes on `bytes` written to a temp file: DCMTK's
// dcmdump (full dump, warnings on stderr folded into the output) and pydicom via
// pydicom_dump.py (strict reading; prints JSON, see the script).
CommandResult Dcmdump(const std::string& bytes);
CommandResult PydicomDump(const std::string& bytes);

// pydicom's view of `file`: {"meta": {...}, "values": {...}, "pixel_sha256": ...}; a test
// failure (and an empty object) when pydicom cannot read it.
boost::json::object ReadWithPydicom(const std::string& file);
// values[key] of such a dump, or "<absent>".
std::string Value(const boost::json::object& dump, const std::string& key);
// dcmdump reads `file` without error or warning.
void ExpectDcmdumpClean(const std::string& file);

}  // namespace imgpipe::dicom::testing
