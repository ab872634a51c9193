// Running one external program in a child process, bounded in time, memory, CPU and output.
// Internal to the algorithms module (external.cc is its user).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace imgpipe::algorithms::internal {

struct ProcessLimits {
  std::chrono::milliseconds time_limit{60'000};  // wall clock, from fork
  uint64_t memory_limit_bytes = 2ull << 30;      // RLIMIT_AS
  int cpu_limit_seconds = 120;                   // RLIMIT_CPU (soft; hard = soft + 1)
  size_t log_limit_bytes = 64 << 10;             // kept of each of stdout and stderr
  uint64_t file_size_limit_bytes = 1ull << 30;   // RLIMIT_FSIZE
  int open_files_limit = 256;                    // RLIMIT_NOFILE
};

struct ProcessResult {
  enum class End { kExited, kSignaled, kTimedOut, kCancelled };
  End end = End::kExited;
  int exit_code = 0;                        // kExited
  int signal = 0;                           // kSignaled
  pid_t pid = 0;                            // the child's pid (gone by the time RunProcess returns)
  std::string out, err;                     // at most log_limit_bytes each
  size_t out_dropped = 0, err_dropped = 0;  // bytes read past the limit and dropped
};

// Runs argv (argv[0] an absolute path) in `cwd` with exactly `env` ("K=V") as its environment,
// stdin /dev/null, stdout and stderr captured, every other descriptor closed, in a process group
// of its own, under `limits`. `cancelled` (may be empty) is polled about every 50 ms. On time
// limit or cancel, and once the child has exited, the whole process group is SIGKILLed (so
// grandchildren holding the pipes open cannot hang the caller) and the child is reaped.
// Unprocessable when argv[0] cannot be executed (naming it and the errno); Internal when a pipe,
// /dev/null or fork fails. Never throws, never leaves a zombie of its own child.
core::Result<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                       const std::vector<std::string>& env, const std::string& cwd,
                                       const ProcessLimits& limits,
                                       const std::function<bool()>& cancelled);

// "SIGSEGV", "SIGKILL", ... ("signal 42" for others).
std::string SignalName(int signal);

}  // namespace imgpipe::algorithms::internal
