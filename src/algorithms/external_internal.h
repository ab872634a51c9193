// Shared by the external-algorithm files (manifest parsing and the Algorithm itself).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "algorithms/algorithms.h"

namespace imgpipe::algorithms::internal {

// [a-z0-9_]{1,64}: algorithm names are used in URLs and queue names.
bool IsValidAlgorithmName(std::string_view name);

// InvalidArgument unless `spec` can run: a valid name, a command whose argv[0] is an absolute
// path to an executable regular file, positive limits, scopes within image/series/study.
core::Status CheckExternalSpec(const ExternalSpec& spec);

}  // namespace imgpipe::algorithms::internal

namespace imgpipe::algorithms::internal {

// A private folder (mkdtemp under $TMPDIR, else /tmp; mode 0700) removed with everything in it
// when destroyed, even if the program made parts of it read-only.
class TempDir {
 public:
  // Internal when the folder cannot be made.
  static core::Result<std::unique_ptr<TempDir>> Make();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Writes input.json, input.f32 and (when `source_file` is not empty) input.dcm into `dir`.
core::Status WriteInputs(const std::string& dir, const Image& image, const Params& params,
                         std::string_view source_file);

// Reads output.json, output.raw, mask.raw and output.dcm back from `dir` into `out` (all but
// log). Unprocessable, naming the file and the problem, when they are missing or malformed.
core::Status ReadOutputs(const std::string& dir, const Image& input, Output* out);

}  // namespace imgpipe::algorithms::internal
