#include "blob/fs/posix_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace imgpipe::blob::fs {

core::Status ErrnoStatus(int err, std::string_view what, const std::string& path) {
  std::string message = std::string(what) + " " + path + ": " + std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return core::Status::ResourceExhausted(std::move(message));
    case EACCES:
    case EPERM:
    case EROFS:
      return core::Status::Unavailable(std::move(message));
    default:
      return core::Status::Internal(std::move(message));
  }
}

std::string TempName() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t bits = rng();
  std::string name = ".tmp~";
  for (int i = 0; i < 16; ++i) {
    name.push_back(kHex[bits & 0xf]);
    bits >>= 4;
  }
  return name;
}

core::Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "opening directory", dir);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(err, "fsyncing directory", dir);
  return core::Status::Ok();
}

core::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "writing", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return core::Status::Ok();
}

core::Result<std::string> WriteTempFile(const std::string& dir, std::string_view data, bool sync) {
  return WriteTempFileWith(
      dir, [data](int fd, const std::string& path) { return WriteAll(fd, data, path); }, sync);
}

core::Result<std::string> WriteTempFileWith(
    const std::string& dir,
    const std::function<core::Status(int fd, const std::string& path)>& fill, bool sync) {
  std::string path;
  int fd = -1;
  for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
    path = dir + "/" + TempName();
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) return ErrnoStatus(errno, "creating", path);
  }
  if (fd < 0) return core::Status::Internal("no free temp file name in " + dir);

  core::Status status = fill(fd, path);
  if (status.ok() && sync && ::fsync(fd) != 0) status = ErrnoStatus(errno, "fsyncing", path);
  if (::close(fd) != 0 && status.ok()) status = ErrnoStatus(errno, "closing", path);
  if (!status.ok()) {
    ::unlink(path.c_str());
    return status;
  }
  return path;
}

core::Status MakeDirs(const std::string& root, std::string_view rel_dir, bool sync) {
  if (rel_dir.empty()) return core::Status::Ok();
  struct stat existing;
  std::string full = root + "/" + std::string(rel_dir);
  if (::stat(full.c_str(), &existing) == 0 && S_ISDIR(existing.st_mode)) {
    return core::Status::Ok();  // the common case: one stat instead of a mkdir per level
  }
  std::string parent = root;
  while (!rel_dir.empty()) {
    size_t slash = rel_dir.find('/');
    std::string_view segment = rel_dir.substr(0, slash);
    rel_dir = slash == std::string_view::npos ? std::string_view() : rel_dir.substr(slash + 1);
    std::string dir = parent + "/" + std::string(segment);
    if (::mkdir(dir.c_str(), 0755) == 0) {
      // The new entry lives in `parent`: make it durable before anything is renamed into it.
      if (sync) IMGPIPE_RETURN_IF_ERROR(FsyncDir(parent));
    } else if (errno == EEXIST || errno == ENOTDIR) {
      struct stat st;
      if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return core::Status::Conflict("blob key path component is not a directory: " + dir);
      }
    } else {
      return ErrnoStatus(errno, "creating directory", dir);
    }
    parent = std::move(dir);
  }
  return core::Status::Ok();
}

}  // namespace imgpipe::blob::fs
