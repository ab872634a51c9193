// algorithms: the image-processing algorithms imgpipe's workers run, and their registry.
//
// An Algorithm takes one Image (one decoded frame, in real units via its modality LUT) and
// validated Params, and returns an Output (a result image, optionally a mask and an overlay, and a
// JSON summary). Each algorithm declares its parameters (AlgorithmInfo::params); SchemaJson()
// turns them into the JSON-Schema-like object GET /api/algorithms serves, and ValidateParams()
// checks a request's "params" against them BEFORE a job is queued.
//
// Errors (never exceptions; OpenCV's are caught inside Run):
//   InvalidArgument - the params are wrong ("sigma must be a number within 0.1..20"), or a
//                     combination of them is ("low must not exceed high").
//   Unprocessable   - the image does not suit the algorithm: empty, RGB to a grey-only
//                     algorithm, a pixel type it does not take, a modality it does not accept.
//   Unavailable     - RunContext::cancelled() returned true; the run stopped early ("cancelled").
//   Internal        - a bug or an unexpected OpenCV failure.
//
// Thread-safety: Images, Params and Outputs are values. Algorithms are immutable and Run is
// const: one Algorithm may run on many threads at once. Registry::BuiltIn() is built once, on
// first use (thread-safe), and never changes.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"
#include "dicom/dicom.h"

namespace imgpipe::algorithms {

enum class PixelType { kU8, kU16, kS16, kF32 };

// 1, 2, 2, 4.
int BytesPerSample(PixelType type);
// "u8", "u16", "s16", "f32".
std::string_view PixelTypeName(PixelType type);

// One image in memory. Stored values map to real values (Hounsfield units for CT) by the modality
// LUT: real = stored * rescale_slope + rescale_intercept. RGB images have slope 1, intercept 0.
struct Image {
  int rows = 0;
  int columns = 0;
  int samples = 1;  // 1 (grey) or 3 (RGB, interleaved)
  PixelType type = PixelType::kU8;
  std::vector<uint8_t> pixels;  // rows * columns * samples * BytesPerSample(type), host order
  double rescale_slope = 1;
  double rescale_intercept = 0;
  std::string modality;                 // DICOM Modality ("CT", "MR", ...); may be empty
  double pixel_spacing_row = 0;         // mm between rows; 0 when unknown
  double pixel_spacing_col = 0;         // mm between columns; 0 when unknown
  std::optional<double> window_center;  // VOI window in real units, when known
  std::optional<double> window_width;
  bool monochrome1 = false;  // displayed inverted (WindowToU8 inverts, as the PACS preview does)

  // An image of that shape with zeroed pixels and default metadata.
  static Image Make(int rows, int columns, int samples, PixelType type);
  bool empty() const { return rows <= 0 || columns <= 0 || pixels.empty(); }
  size_t PixelCount() const { return static_cast<size_t>(rows) * columns; }
  // REQUIRES: T matches type (uint8_t, uint16_t, int16_t, float).
  template <typename T>
  T* data() {
    return reinterpret_cast<T*>(pixels.data());
  }
  template <typename T>
  const T* data() const {
    return reinterpret_cast<const T*>(pixels.data());
  }
};

// A decoded frame and its instance's attributes as an Image: 8-bit unsigned (and 1-bit data,
// values 0/1) -> U8, 8-bit signed -> S16, 16-bit -> U16 / S16, 32-bit -> F32 (exact below 2^24).
// Fails with Unprocessable when the frame is inconsistent (pixel bytes vs shape, samples not 1/3).
core::Result<Image> ImageFromFrame(const dicom::Frame& frame, const dicom::InstanceInfo& info);

// Applies a VOI window (real units, the DICOM linear function: center - width/2 -> 0,
// center + width/2 -> 255) and returns a U8 image of the same shape. The window defaults to
// the image's own, else its real-value range. RGB images are windowed per sample. MONOCHROME1
// images come out inverted. Use it to show any Output::image. InvalidArgument when width < 1.
core::Result<Image> WindowToU8(const Image& image, std::optional<double> center = {},
                               std::optional<double> width = {});

// The image for a browser: WindowToU8 with the image's own window, as PNG.
core::Result<std::string> ToPng(const Image& image);

// The image as pixels for dicom::WriteDerivedImage: U8/U16/S16 as they are, with their modality
// LUT (a CT result still reads in HU) and window; F32 as 16-bit with a LUT that keeps its real
// values (exactly for integers within int16, else to 1/65535 of their range).
dicom::DerivedImage ToDerivedImage(const Image& image);

// ---- Parameters ----

enum class ParamType { kInteger, kNumber, kBoolean, kString };
using ParamValue = std::variant<bool, int64_t, double, std::string>;

struct ParamSpec {
  std::string name;  // snake_case
  ParamType type = ParamType::kNumber;
  std::string description;  // with units
  // Absent: the parameter is optional and the algorithm documents what it does without it.
  std::optional<ParamValue> default_value;
  std::optional<double> minimum;  // inclusive; integer and number only
  std::optional<double> maximum;
  std::vector<std::string> enum_values;  // kString: the allowed values (never empty)
};

// Validated parameters: every declared parameter with a default is present; optional ones only
// when given. Getters REQUIRE the parameter to be present with that type (assert; they return
// 0 / false / "" otherwise). GetNumber also reads integers.
class Params {
 public:
  void Set(std::string name, ParamValue value);
  bool Has(std::string_view name) const;
  double GetNumber(std::string_view name) const;
  int64_t GetInt(std::string_view name) const;
  bool GetBool(std::string_view name) const;
  const std::string& GetString(std::string_view name) const;
  boost::json::object ToJson() const;

 private:
  std::map<std::string, ParamValue, std::less<>> values_;
};

// Where a job may point: "image", "series", "study". The built-ins are per-image; for a series
// or study the worker runs them on each image.
struct AlgorithmInfo {
  std::string name;  // [a-z0-9_]+, used in URLs and queue names ("algo.{name}")
  std::string description;
  std::vector<ParamSpec> params;
  std::vector<std::string> modalities;  // accepted modalities; empty = any
  std::vector<std::string> scopes;
  std::string alias_of;  // non-empty for an alias ("processing_1" -> "clahe")
};

// {"type":"object","properties":{name:{"type","description","default","minimum","maximum",
// "enum"}},"additionalProperties":false}.
boost::json::object SchemaJson(const AlgorithmInfo& info);
// {"name","description","modalities","scopes","alias_of"(aliases only),"params":SchemaJson}.
boost::json::object InfoJson(const AlgorithmInfo& info);

// Checks `params` (a JSON object; null counts as {}, a null member as absent) against
// info.params and fills defaults. See docs/algorithms.md for each algorithm's parameters.
// InvalidArgument naming the parameter and the rule: non-object, unknown name, wrong type,
// out of range, not one of the enum values.
core::Result<Params> ValidateParams(const AlgorithmInfo& info, const boost::json::value& params);

// ---- Running ----

struct Output {
  Image image;                   // the primary result (type per algorithm; see docs/algorithms.md)
  std::optional<Image> mask;     // U8 grey, 0/255, the input's shape
  std::optional<Image> overlay;  // U8 RGB: the input windowed to 8 bits, the mask coloured on top
  boost::json::object summary;   // numbers worth showing (threshold chosen, edge pixels, ...)
  // A DICOM file the algorithm made itself (de-identification, external algorithms that write
  // one). When set, the worker stores it as the job's DICOM result instead of deriving a
  // Secondary Capture from `image`.
  std::optional<std::string> dicom;
  // What the algorithm wants in the job's log (an external program's stdout and stderr).
  std::string log;
};

struct RunContext {
  // Called with done = 1..total as the run advances (total is per algorithm); may be empty.
  std::function<void(int done, int total)> progress;
  // Polled between steps; when it returns true Run stops with Unavailable("cancelled").
  std::function<bool()> cancelled;
  // The source instance's Part 10 file, when the caller has it (workers always do). Algorithms
  // that work on the file rather than the pixels (de-identification) fail with Unprocessable
  // without it; external algorithms hand it to the program as input.dcm.
  std::string_view source_file;
  // A secret stable across the images of one job (workers derive it from the job id and a server
  // secret). Algorithms that make pseudonyms (de-identification's UID mapping) key them with it,
  // so every image of a series or study job maps to one new study and series. Empty: a random
  // key per run.
  std::string_view run_key;
};

// One algorithm. Subclasses implement DoRun; Run checks what every algorithm needs (a
// non-empty, consistent image; finite float values; info().modalities; cancellation before
// starting) and turns any exception into Status::Internal.
class Algorithm {
 public:
  Algorithm() = default;
  Algorithm(const Algorithm&) = delete;
  Algorithm& operator=(const Algorithm&) = delete;
  virtual ~Algorithm() = default;

  virtual const AlgorithmInfo& info() const = 0;
  // REQUIRES: params came from ValidateParams(info(), ...).
  core::Result<Output> Run(const Image& image, const Params& params, const RunContext& ctx) const;

 protected:
  virtual core::Result<Output> DoRun(const Image& image, const Params& params,
                                     const RunContext& ctx) const = 0;
};

// Algorithms by name. Aliases are entries of their own in List() (info().alias_of names the
// target; description starts "Alias of <target>."), and Find(alias) returns an Algorithm that
// runs the target, so each name is a queue of its own and the seed's "processing_1" works as is.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // denoise, clahe, canny, window_level, threshold, resize, deidentify, and processing_1 (alias
  // of clahe).
  static const Registry& BuiltIn();
  // A new registry holding the built-in algorithms, to which more (external ones) can be added.
  static std::unique_ptr<Registry> WithBuiltIns();

  // AlreadyExists when the name is taken.
  core::Status Add(std::unique_ptr<Algorithm> algorithm);
  // NotFound when `target` is not registered.
  core::Status AddAlias(std::string alias, std::string_view target);

  const Algorithm* Find(std::string_view name) const;  // nullptr when unknown
  std::vector<const Algorithm*> List() const;          // in registration order

 private:
  std::vector<std::unique_ptr<Algorithm>> algorithms_;
};

// ---- External algorithms ----
//
// An external algorithm is an executable declared by a JSON manifest (see docs/algorithms.md,
// "External algorithms", for the manifest and the folder protocol). Each run gets a private
// temporary folder (mode 0700, removed afterwards) holding input.json, input.f32 and input.dcm;
// the program runs there in a child process of its own process group, with a cleared environment,
// rlimits (address space, CPU, core 0, files, file size), stdin from /dev/null, and stdout and
// stderr captured (bounded) into Output::log. It writes output.json and output.raw (optionally
// mask.raw and output.dcm), which are read back and validated.
//
// Errors of a run (the worker itself never dies or hangs on any child behaviour):
//   Unprocessable - the program exited non-zero ("... exited with status N: <last stderr line>"),
//                   was killed by a signal ("... crashed (signal SIGSEGV)"), exceeded its time
//                   limit ("... timed out after N s"; Unprocessable, not ResourceExhausted: the
//                   job must not be retried as if the limit were transient), could not be
//                   executed, or wrote missing or malformed outputs.
//   Unavailable   - cancelled ("cancelled"); the process group is killed.
//   Internal      - the temporary folder, a pipe or fork failed.
// The worker process must not ignore SIGCHLD nor reap children it did not start (waitpid(-1)).

struct ExternalSpec {
  AlgorithmInfo info;
  // argv; argv[0] absolute, or relative to the manifest's folder.
  std::vector<std::string> command;
  std::chrono::milliseconds time_limit{60'000};
  uint64_t memory_limit_bytes = 2ull << 30;  // RLIMIT_AS
  int cpu_limit_seconds = 120;               // RLIMIT_CPU
  size_t log_limit_bytes = 64 << 10;         // kept of each of stdout and stderr
};

// Parses and strictly validates a manifest: {"name","description","command":[...],"params":{name:
// {"type":"integer|number|boolean|string","description","default","minimum","maximum","enum"}},
// "modalities":[...],"scopes":[...],"time_limit_seconds","memory_limit_mb","cpu_limit_seconds"}.
// command[0] is resolved against `manifest_dir` when relative and must be an executable file.
// InvalidArgument naming the field (unknown keys included).
core::Result<ExternalSpec> ParseExternalManifest(std::string_view json,
                                                 const std::string& manifest_dir);

// An Algorithm running `spec`. InvalidArgument when the spec is inconsistent (bad name, empty
// command, command[0] not an absolute path to an executable, limits not positive).
core::Result<std::unique_ptr<Algorithm>> MakeExternalAlgorithm(ExternalSpec spec);

// Adds to `registry` every algorithm declared in `dir`: each `*/algorithm.json` (one folder per
// algorithm) and each `*.json` directly in `dir`, in order of file name. Any bad manifest (or a
// name already taken) fails the whole load with the file named, and nothing is added. NotFound
// when `dir` does not exist.
core::Status LoadExternalAlgorithms(const std::string& dir, Registry& registry);

}  // namespace imgpipe::algorithms
