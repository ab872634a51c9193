// ExternalAlgorithm: an Algorithm that runs a configured program on the folder protocol
// (external_io.cc) in a bounded child process (external_process.cc).
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "algorithms/external_internal.h"
#include "algorithms/external_process.h"

namespace imgpipe::algorithms {

using core::Status;

namespace internal {

bool IsValidAlgorithmName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Status CheckExternalSpec(const ExternalSpec& spec) {
  auto bad = [](std::string_view field, std::string_view problem) {
    return Status::InvalidArgument(fmt::format("manifest field '{}': {}", field, problem));
  };
  const AlgorithmInfo& info = spec.info;
  if (!IsValidAlgorithmName(info.name)) return bad("name", "must match [a-z0-9_]{1,64}");
  if (spec.command.empty()) return bad("command", "must name the program to run");
  for (const std::string& arg : spec.command) {
    if (arg.find('\0') != std::string::npos) return bad("command", "contains a NUL character");
  }
  const std::string& program = spec.command[0];
  if (program.empty() || program[0] != '/') {
    return bad("command", "the program '" + program + "' must be an absolute path");
  }
  struct stat st {};
  if (stat(program.c_str(), &st) != 0) return bad("command", program + " does not exist");
  if (!S_ISREG(st.st_mode)) return bad("command", program + " is not a regular file");
  if (access(program.c_str(), X_OK) != 0) return bad("command", program + " is not executable");
  if (spec.time_limit.count() <= 0) return bad("time_limit_seconds", "must be positive");
  if (spec.memory_limit_bytes < (16u << 20)) return bad("memory_limit_mb", "must be >= 16");
  if (spec.cpu_limit_seconds <= 0) return bad("cpu_limit_seconds", "must be positive");
  if (spec.log_limit_bytes == 0) return bad("log_limit_bytes", "must be positive");
  if (info.scopes.empty()) return bad("scopes", "must not be empty");
  std::set<std::string> scopes;
  for (const std::string& s : info.scopes) {
    if (s != "image" && s != "series" && s != "study") {
      return bad("scopes", "'" + s + "' is not one of image, series, study");
    }
    if (!scopes.insert(s).second) return bad("scopes", "'" + s + "' is listed twice");
  }
  std::set<std::string> names;
  for (const ParamSpec& p : info.params) {
    if (!names.insert(p.name).second) return bad("params", p.name + " is declared twice");
    if (p.type == ParamType::kString && p.enum_values.empty()) {
      return bad("params." + p.name + ".enum", "string parameters need a non-empty enum");
    }
  }
  return Status::Ok();
}

namespace {

// The last non-empty line of `text`, at most 300 bytes.
std::string LastLine(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  const size_t nl = text.rfind('\n');
  std::string_view line = nl == std::string_view::npos ? text : text.substr(nl + 1);
  if (line.size() > 300) line = line.substr(line.size() - 300);
  return std::string(line);
}

std::string Log(const ProcessResult& r) {
  std::string log = "stdout:\n" + r.out;
  if (r.out_dropped > 0) log += fmt::format("\n[stdout truncated: {} more bytes]", r.out_dropped);
  log += "\nstderr:\n" + r.err;
  if (r.err_dropped > 0) log += fmt::format("\n[stderr truncated: {} more bytes]", r.err_dropped);
  return log;
}

class ExternalAlgorithm : public Algorithm {
 public:
  explicit ExternalAlgorithm(ExternalSpec spec) : spec_(std::move(spec)) {}
  const AlgorithmInfo& info() const override { return spec_.info; }

 protected:
  core::Result<Output> DoRun(const Image& image, const Params& params,
                             const RunContext& ctx) const override {
    const std::string& name = spec_.info.name;
    auto progress = [&](int done) {
      if (ctx.progress) ctx.progress(done, 3);
    };
    IMGPIPE_ASSIGN_OR_RETURN(std::unique_ptr<TempDir> dir, TempDir::Make());
    IMGPIPE_RETURN_IF_ERROR(WriteInputs(dir->path(), image, params, ctx.source_file));
    progress(1);

    // Exactly this environment: nothing of the server's (credentials, tokens) reaches the program.
    const std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin",
                                          "HOME=" + dir->path(), "TMPDIR=" + dir->path(),
                                          "LANG=C.UTF-8", "IMGPIPE_INPUT=" + dir->path()};
    ProcessLimits limits;
    limits.time_limit = spec_.time_limit;
    limits.memory_limit_bytes = spec_.memory_limit_bytes;
    limits.cpu_limit_seconds = spec_.cpu_limit_seconds;
    limits.log_limit_bytes = spec_.log_limit_bytes;
    core::Result<ProcessResult> run =
        RunProcess(spec_.command, env, dir->path(), limits, ctx.cancelled);
    if (!run.ok()) return run.status().WithContext("external algorithm " + name);
    const ProcessResult& r = *run;
    const std::string last = LastLine(r.err);
    switch (r.end) {
      case ProcessResult::End::kCancelled:
        return Status::Unavailable("cancelled");
      case ProcessResult::End::kTimedOut:
        return Status::Unprocessable(
            fmt::format("external algorithm {} timed out after {} s", name,
                        static_cast<double>(spec_.time_limit.count()) / 1000));
      case ProcessResult::End::kSignaled: {
        std::string m =
            fmt::format("external algorithm {} crashed (signal {})", name, SignalName(r.signal));
        if (r.signal == SIGXCPU) m += fmt::format(": CPU limit of {} s", spec_.cpu_limit_seconds);
        if (!last.empty()) m += ": " + last;
        return Status::Unprocessable(std::move(m));
      }
      case ProcessResult::End::kExited:
        if (r.exit_code != 0) {
          std::string m =
              fmt::format("external algorithm {} exited with status {}", name, r.exit_code);
          if (!last.empty()) m += ": " + last;
          return Status::Unprocessable(std::move(m));
        }
        break;
    }
    progress(2);
    Output out;
    Status read = ReadOutputs(dir->path(), image, &out);
    if (!read.ok()) return read.WithContext("external algorithm " + name);
    out.log = Log(r);
    progress(3);
    return out;
  }

 private:
  ExternalSpec spec_;
};

}  // namespace
}  // namespace internal

core::Result<std::unique_ptr<Algorithm>> MakeExternalAlgorithm(ExternalSpec spec) {
  IMGPIPE_RETURN_IF_ERROR(internal::CheckExternalSpec(spec));
  return std::unique_ptr<Algorithm>(new internal::ExternalAlgorithm(std::move(spec)));
}

}  // namespace imgpipe::algorithms
