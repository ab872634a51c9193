// The daily log file of core/log.h: spdlog's daily_file_sink for the writing and the rotation,
// plus the retention, done here: spdlog 1.10's max_files deletes only at a rotation and only the
// files of an unbroken run of days, so files left by a process stopped for a while stayed forever.
#pragma once

#include <spdlog/sinks/sink.h>

#include <chrono>
#include <memory>
#include <string>

#include "core/status.h"

namespace imgpipe::core::internal {

// A sink writing to "{stem}_{YYYY-MM-DD}{ext}" for `path` "{stem}{ext}" (local date, rotated at
// local midnight, appending to an existing file), which prunes (PruneDailyLogs) when it opens and
// whenever a line's date passes midnight. Thread-safe. Fails when the file cannot be opened.
Result<std::shared_ptr<spdlog::sinks::sink>> NewDailyFileSink(const std::string& path,
                                                              int retention_days);

// Deletes the daily files of `path` dated more than `retention_days` days before the local date of
// `now`; other files in the folder are left alone. retention_days 0 deletes nothing. Returns how
// many files were deleted.
int PruneDailyLogs(const std::string& path, std::chrono::system_clock::time_point now,
                   int retention_days);

}  // namespace imgpipe::core::internal
