// BlobStore on a local folder: key "a/b/c" is the file root/a/b/c.
//
// Atomicity and durability come from the classic sequence: write a temp file in the target's
// directory, fsync it, rename (Put) or link/renameat2(RENAME_NOREPLACE) (PutIfAbsent) it onto the
// key, fsync the directory. Temp names contain '~', which no key segment may, so List skips them.
// A crash between writing and renaming can leave a temp file behind; it is invisible to every
// method (a sweeper could remove old ".tmp~*" files, not done yet).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <set>
#include <vector>

#include "blob/blob_store.h"
#include "blob/fs/posix_file.h"
#include "blob/internal.h"

namespace imgpipe::blob {

namespace {

using fs::ErrnoStatus;

core::Status InvalidKey(std::string_view key) {
  return core::Status::InvalidArgument("invalid blob key: \"" + std::string(key) + "\"");
}

// Splits "a/b/c" into ("a/b", "c"); ("", "c") for a top-level key.
std::pair<std::string_view, std::string_view> SplitKey(std::string_view key) {
  size_t slash = key.rfind('/');
  if (slash == std::string_view::npos) return {{}, key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Atomically moves `from` onto `to` only if `to` does not exist. Prefers renameat2, falls back to
// link+unlink on file systems without RENAME_NOREPLACE. Returns 0 or an errno value.
int RenameNoReplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) return errno;
  if (::link(from.c_str(), to.c_str()) != 0) return errno;
  ::unlink(from.c_str());
  return 0;
}

// Writes `data` to an O_TMPFILE inode in `dir` and links it at `target`. False (and nothing
// left behind) when the file system lacks O_TMPFILE, the target exists, or anything fails: the
// caller then takes the temp-file-and-rename path.
bool LinkNewFile(const std::string& dir, const std::string& target, std::string_view data) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = true;
  while (ok && !data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) data.remove_prefix(static_cast<size_t>(n));
  }
  if (ok) {
    // linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc path form needs nothing.
    std::string proc = "/proc/self/fd/" + std::to_string(fd);
    ok = ::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, target.c_str(), AT_SYMLINK_FOLLOW) == 0;
  }
  ::close(fd);  // an unlinked O_TMPFILE inode vanishes here
  return ok;
}

class FsBlobStore final : public BlobStore {
 public:
  explicit FsBlobStore(std::string root) : root_(std::move(root)) {}

  core::Status Put(std::string_view key, std::string_view data) override {
    return Store(key, data, /*replace=*/true, /*sync=*/true);
  }

  core::Status PutIfAbsent(std::string_view key, std::string_view data) override {
    return Store(key, data, /*replace=*/false, /*sync=*/true);
  }

  core::Status PutUnsynced(std::string_view key, std::string_view data) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    auto [rel_dir, name] = SplitKey(key);
    // Folders that do not exist yet, from the key's own upwards: their parents get new entries.
    size_t created = 0;
    for (std::string dir = DirOf(key); dir.size() > root_.size() && !IsDir(dir);
         dir = dir.substr(0, dir.rfind('/'))) {
      ++created;
    }
    IMGPIPE_RETURN_IF_ERROR(fs::MakeDirs(root_, rel_dir, /*sync=*/false));
    // A new key (the common case): an unnamed O_TMPFILE inode, filled, then linked into place
    // in one step; cheaper than a named temp file plus rename, and just as atomic for readers.
    if (!LinkNewFile(DirOf(key), PathOf(key), data)) {
      IMGPIPE_RETURN_IF_ERROR(Store(key, data, /*replace=*/true, /*sync=*/false));
    }
    std::lock_guard lock(pending_mu_);
    pending_files_.push_back(PathOf(key));
    // The key's folder, and every folder above it that did not exist before: new entries.
    std::string dir = DirOf(key);
    pending_dirs_.insert(dir);
    for (size_t n = 0; n < created; ++n) {
      dir = dir.substr(0, dir.rfind('/'));
      pending_dirs_.insert(dir);
    }
    ++puts_;
    return core::Status::Ok();
  }

  // Group sync: concurrent callers share one flush. Whoever finds no flush running leads: it
  // takes everything written so far (its own blobs and other threads') and flushes it; the others
  // wait, and are done when a flush that started after their Put has completed. A few blobs:
  // fdatasync each, then fsync their folders (nothing else on the file system is flushed). Many
  // (bulk ingest, or a busy worker pool's batch): syncfs(2), one device flush for everything
  // written so far, however much it is. A failed flush puts its blobs back for the next Sync.
  core::Status Sync() override {
    std::unique_lock lock(pending_mu_);
    const uint64_t target = puts_;
    while (synced_ < target) {
      if (flushing_) {
        flushed_cv_.wait(lock);
        continue;
      }
      flushing_ = true;
      std::vector<std::string> files;
      std::set<std::string> dirs;
      files.swap(pending_files_);
      dirs.swap(pending_dirs_);
      const uint64_t upto = puts_;
      lock.unlock();
      core::Status st = Flush(files, dirs);
      lock.lock();
      flushing_ = false;
      if (st.ok()) {
        synced_ = upto;
      } else {
        pending_files_.insert(pending_files_.end(), files.begin(), files.end());
        pending_dirs_.insert(dirs.begin(), dirs.end());
      }
      flushed_cv_.notify_all();
      if (!st.ok()) return st;
    }
    return core::Status::Ok();
  }

  core::Result<std::string> Get(std::string_view key) override {
    std::string path = PathOf(key);
    struct stat st;
    IMGPIPE_ASSIGN_OR_RETURN(int fd, OpenBlob(key, &st));
    std::string data;
    data.resize(static_cast<size_t>(st.st_size));
    size_t filled = 0;
    while (true) {
      if (filled == data.size()) data.resize(data.size() + 64 * 1024);
      ssize_t n = ::read(fd, data.data() + filled, data.size() - filled);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return ErrnoStatus(err, "reading", path);
      }
      if (n == 0) break;
      filled += static_cast<size_t>(n);
    }
    ::close(fd);
    data.resize(filled);
    return data;
  }

  core::Result<std::string> GetRange(std::string_view key, uint64_t offset,
                                     uint64_t length) override {
    std::string path = PathOf(key);
    struct stat st;
    IMGPIPE_ASSIGN_OR_RETURN(int fd, OpenBlob(key, &st));
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    std::string data;
    if (offset < size) data.resize(static_cast<size_t>(std::min(length, size - offset)));
    size_t filled = 0;
    while (filled < data.size()) {
      ssize_t n = ::pread(fd, data.data() + filled, data.size() - filled,
                          static_cast<off_t>(offset + filled));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        return ErrnoStatus(err, "reading", path);
      }
      if (n == 0) break;  // truncated meanwhile
      filled += static_cast<size_t>(n);
    }
    ::close(fd);
    data.resize(filled);
    return data;
  }

  core::Status PutStream(std::string_view key, uint64_t size, const Reader& read) override {
    // Chunk by chunk into the temp file, counted against `size`; then renamed into place as Put.
    auto fill = [&](int fd, const std::string& path) -> core::Status {
      SizedStream stream(read, size);
      std::string chunk;
      while (true) {
        IMGPIPE_RETURN_IF_ERROR(stream.Next(256 * 1024, &chunk));
        if (chunk.empty()) return core::Status::Ok();
        IMGPIPE_RETURN_IF_ERROR(fs::WriteAll(fd, chunk, path));
      }
    };
    return StoreWith(key, fill, /*replace=*/true, /*sync=*/true);
  }

  core::Result<uint64_t> Size(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::string path = PathOf(key);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return NotFound(key);
      return ErrnoStatus(errno, "stat of", path);
    }
    if (!S_ISREG(st.st_mode)) return NotFound(key);
    return static_cast<uint64_t>(st.st_size);
  }

  core::Status Delete(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::string path = PathOf(key);
    if (::unlink(path.c_str()) != 0) {
      // A missing key, or a key that is only a prefix of others (a directory), holds no blob.
      if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR) return core::Status::Ok();
      return ErrnoStatus(errno, "removing", path);
    }
    // Empty directories are left in place: removing them would race with a concurrent Put that
    // has just created its parent directory.
    return fs::FsyncDir(DirOf(key));
  }

  core::Status List(std::string_view prefix,
                    const std::function<bool(const BlobInfo&)>& visit) override {
    bool stop = false;
    return Walk(root_, "", prefix, visit, stop);
  }

  std::string Describe() const override { return "fs:" + root_; }

 private:
  // One job's two outputs: fdatasync each (nothing else on the file system is flushed). More (a
  // flush shared by several workers, an ingest): one syncfs, one device flush instead of one per
  // file and folder; +5-10% pipeline throughput at 16 workers against a threshold of 16
  // (docs/benchmarks.md, "Pipeline").
  static constexpr size_t kMaxFilesSyncedOneByOne = 2;

  core::Status Flush(const std::vector<std::string>& files, const std::set<std::string>& dirs) {
    if (files.empty()) return core::Status::Ok();
    if (files.size() > kMaxFilesSyncedOneByOne) return SyncFileSystem();
    for (const std::string& path : files) {
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        if (errno == ENOENT) continue;  // deleted since: nothing to make durable
        return ErrnoStatus(errno, "opening", path);
      }
      int rc = ::fdatasync(fd);
      int err = errno;
      ::close(fd);
      if (rc != 0) return ErrnoStatus(err, "syncing", path);
    }
    for (const std::string& dir : dirs) {
      core::Status st = fs::FsyncDir(dir);
      if (!st.ok() && st.code() != core::StatusCode::kNotFound) return st;
    }
    return core::Status::Ok();
  }

  core::Status SyncFileSystem() {
    int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "opening", root_);
    int rc = ::syncfs(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus(err, "syncing the file system of", root_);
    return core::Status::Ok();
  }

  std::string PathOf(std::string_view key) const { return root_ + "/" + std::string(key); }

  // Opens the blob's file for reading (the caller closes it) and stats it into `st`.
  core::Result<int> OpenBlob(std::string_view key, struct stat* st) const {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::string path = PathOf(key);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) return NotFound(key);
      return ErrnoStatus(errno, "opening", path);
    }
    if (::fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
      ::close(fd);
      return NotFound(key);
    }
    return fd;
  }
  std::string DirOf(std::string_view key) const {
    auto [dir, name] = SplitKey(key);
    return dir.empty() ? root_ : root_ + "/" + std::string(dir);
  }
  static core::Status NotFound(std::string_view key) {
    return core::Status::NotFound("no blob: " + std::string(key));
  }

  // `sync` false skips every fsync (the caller will Sync()); the rename keeps readers atomic.
  core::Status Store(std::string_view key, std::string_view data, bool replace, bool sync) {
    return StoreWith(
        key, [data](int fd, const std::string& path) { return fs::WriteAll(fd, data, path); },
        replace, sync);
  }

  core::Status StoreWith(std::string_view key,
                         const std::function<core::Status(int, const std::string&)>& fill,
                         bool replace, bool sync) {
    if (!IsValidKey(key)) return InvalidKey(key);
    auto [rel_dir, name] = SplitKey(key);
    IMGPIPE_RETURN_IF_ERROR(fs::MakeDirs(root_, rel_dir, sync));
    std::string dir = DirOf(key);
    std::string target = PathOf(key);
    IMGPIPE_ASSIGN_OR_RETURN(std::string temp, fs::WriteTempFileWith(dir, fill, sync));

    int err = 0;
    if (replace) {
      if (::rename(temp.c_str(), target.c_str()) != 0) err = errno;
    } else {
      err = RenameNoReplace(temp, target);
    }
    if (err != 0) {
      ::unlink(temp.c_str());
      if (err == EISDIR || (err == EEXIST && IsDir(target))) {
        return core::Status::Conflict("blob key is a prefix of other keys: " + std::string(key));
      }
      if (err == EEXIST) return core::Status::AlreadyExists("blob exists: " + std::string(key));
      return ErrnoStatus(err, "renaming onto", target);
    }
    return sync ? fs::FsyncDir(dir) : core::Status::Ok();
  }

  struct Entry {
    std::string name;
    bool is_dir;
    // Directories sort as "name/" so the walk visits keys in plain lexicographic key order
    // ("a-b" < "a/x" < "a0" because '-' < '/' < '0').
    std::string SortKey() const { return is_dir ? name + "/" : name; }
  };

  core::Status Walk(const std::string& dir, const std::string& rel, std::string_view prefix,
                    const std::function<bool(const BlobInfo&)>& visit, bool& stop) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      if (errno == ENOENT || errno == ENOTDIR) return core::Status::Ok();  // removed meanwhile
      return ErrnoStatus(errno, "listing", dir);
    }
    std::vector<Entry> entries;
    while (dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      // Skips ".", "..", temp files and anything else that cannot be a key segment.
      if (name.find('/') != std::string_view::npos || !IsValidKey(name)) continue;
      unsigned char type = e->d_type;
      if (type == DT_UNKNOWN) {
        struct stat st;
        if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
      }
      if (type == DT_DIR || type == DT_REG) entries.push_back({std::string(name), type == DT_DIR});
    }
    ::closedir(d);
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.SortKey() < b.SortKey(); });

    for (const Entry& entry : entries) {
      std::string key = rel + entry.name;
      std::string path = dir + "/" + entry.name;
      if (entry.is_dir) {
        std::string sub = key + "/";
        if (!sub.starts_with(prefix) && !prefix.starts_with(sub)) continue;
        IMGPIPE_RETURN_IF_ERROR(Walk(path, sub, prefix, visit, stop));
      } else {
        if (!std::string_view(key).starts_with(prefix)) continue;
        struct stat st;
        if (::stat(path.c_str(), &st) != 0) continue;  // deleted meanwhile
        if (!visit(BlobInfo{key, static_cast<uint64_t>(st.st_size)})) stop = true;
      }
      if (stop) break;
    }
    return core::Status::Ok();
  }

  const std::string root_;
  // What PutUnsynced wrote since the last Sync: files, and folders whose entries changed.
  std::mutex pending_mu_;
  std::condition_variable flushed_cv_;
  std::vector<std::string> pending_files_;  // GUARDED_BY(pending_mu_)
  std::set<std::string> pending_dirs_;      // GUARDED_BY(pending_mu_)
  uint64_t puts_ = 0;                       // PutUnsynced calls so far; GUARDED_BY(pending_mu_)
  uint64_t synced_ = 0;    // the first synced_ of them are durable; GUARDED_BY(pending_mu_)
  bool flushing_ = false;  // a Sync is flushing; GUARDED_BY(pending_mu_)
};

}  // namespace

core::Result<std::unique_ptr<BlobStore>> NewFsBlobStore(const std::string& root_in) {
  if (root_in.empty()) return core::Status::InvalidArgument("blob store root is empty");
  std::string root = root_in;
  while (root.size() > 1 && root.back() == '/') root.pop_back();

  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec || !IsDir(root)) {
    return core::Status::Unavailable("blob store folder " + root + " cannot be created: " +
                                     (ec ? ec.message() : "not a directory"));
  }
  // Probe: the folder must accept new files now, not at the first ingest.
  auto probe = fs::WriteTempFile(root, "probe");
  if (!probe.ok()) {
    return core::Status::Unavailable("blob store folder " + root +
                                     " is not writable: " + probe.status().message());
  }
  ::unlink(probe->c_str());
  return std::unique_ptr<BlobStore>(std::make_unique<FsBlobStore>(std::move(root)));
}

}  // namespace imgpipe::blob
