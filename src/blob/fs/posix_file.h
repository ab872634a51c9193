// Small POSIX helpers for the file-system blob store: errno -> Status, write-all, fsync of
// files and directories, temp-file creation. Internal to src/blob.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace imgpipe::blob::fs {

// Maps `err` (an errno value) to a Status: no space -> ResourceExhausted, permission or read-only
// file system -> Unavailable, anything else -> Internal. The message names `what` and `path`.
core::Status ErrnoStatus(int err, std::string_view what, const std::string& path);

// A file name that is never a valid key segment ('~' is not a key character), so List skips it
// and no key can collide with it: ".tmp~<16 hex digits>".
std::string TempName();

// fsyncs the directory `dir` so that entries created, renamed or removed in it are durable.
core::Status FsyncDir(const std::string& dir);

// Creates a new temp file in `dir` holding exactly `data`, fsynced and closed, and returns its
// path. On failure nothing is left behind.
core::Result<std::string> WriteTempFile(const std::string& dir, std::string_view data,
                                        bool sync = true);

// The same, with the contents written by `fill(fd, path)` (a stream, chunk by chunk).
core::Result<std::string> WriteTempFileWith(
    const std::string& dir,
    const std::function<core::Status(int fd, const std::string& path)>& fill, bool sync = true);

// Writes all of `data` to `fd` (retrying short writes and EINTR).
core::Status WriteAll(int fd, std::string_view data, const std::string& path);

// Creates every missing directory of `root`/`rel_dir` ('/'-separated, relative, may be empty),
// fsyncing the parent of each one it creates. An existing non-directory on the way -> Conflict.
core::Status MakeDirs(const std::string& root, std::string_view rel_dir, bool sync = true);

}  // namespace imgpipe::blob::fs
