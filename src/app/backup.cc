// imgpipe backup DEST: a consistent copy of an embedded deployment (the SQLite database and the
// blob folder of data_dir), taken while `imgpipe serve` runs. Restoring is serving the copy:
// `imgpipe serve --data-dir DEST` (docs/operations.md "Backup and restore").
//
// Why the copy is consistent: the database is copied first, as one snapshot (VACUUM INTO, a read
// transaction of its own), then the blobs. Every blob a row of the snapshot names was written and
// flushed before that row committed, and blobs are never changed in place (a rewrite renames a
// whole new file over the old) nor deleted, so each one is in the folder when the copy reaches it,
// whole. Blobs written after the snapshot are copied too and simply unused. The copy is made in
// DEST.partial and renamed to DEST once flushed: a DEST that exists is a whole backup.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "app/commands.h"
#include "db/database.h"

namespace imgpipe::app {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kTempMarker = ".tmp~";  // the blob store's files being written

// `text` as a SQL string literal.
std::string SqlString(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

// Flushes the file system holding `path` (one device flush for every file copied).
core::Status SyncFileSystem(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return core::Status::Unavailable("cannot open " + path.string());
  int rc = ::syncfs(fd);
  ::close(fd);
  if (rc != 0) return core::Status::Unavailable("cannot flush " + path.string());
  return core::Status::Ok();
}

struct Copied {
  int64_t files = 0;
  uint64_t bytes = 0;
};

// Copies the regular files under `from` to `to` (same relative paths), but the blob store's temp
// files. Reports progress on stderr every 2 s.
core::Result<Copied> CopyTree(const fs::path& from, const fs::path& to) {
  Copied copied;
  std::error_code ec;
  if (!fs::exists(from, ec)) return copied;  // no blob written yet
  auto last_report = Clock::now();
  fs::recursive_directory_iterator it(from, ec), end;
  if (ec) return core::Status::Unavailable("cannot read " + from.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return core::Status::Unavailable("cannot read " + from.string() + ": " + ec.message());
    // Lexical: fs::relative would resolve both paths on disk for every file.
    const fs::path relative = it->path().lexically_relative(from);
    if (it->is_directory(ec)) {
      fs::create_directories(to / relative, ec);
      if (ec) return core::Status::Unavailable("cannot create " + (to / relative).string());
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    if (it->path().filename().string().find(kTempMarker) != std::string::npos) continue;
    fs::copy_file(it->path(), to / relative, ec);
    if (ec) {
      return core::Status::Unavailable("cannot copy " + it->path().string() + ": " + ec.message());
    }
    ++copied.files;
    copied.bytes += it->file_size(ec);  // the source's size, which the copy has
    if (Clock::now() - last_report >= std::chrono::seconds(2)) {
      std::fprintf(stderr, "backup: %lld blobs copied (%.1f MiB)\n",
                   static_cast<long long>(copied.files), copied.bytes / 1048576.0);
      last_report = Clock::now();
    }
  }
  return copied;
}

// Writes the copy of `data_dir` into `partial` and flushes it.
core::Status Fill(const fs::path& data_dir, const fs::path& partial, Copied* copied) {
  std::error_code ec;
  // 1. The database, as one snapshot.
  IMGPIPE_ASSIGN_OR_RETURN(auto db,
                           db::OpenSqlite((data_dir / "imgpipe.db").string(), {.pool_size = 1}));
  IMGPIPE_RETURN_IF_ERROR(
      db->Maintain("VACUUM INTO " + SqlString((partial / "imgpipe.db").string())));
  db.reset();
  std::fprintf(stderr, "backup: database copied\n");
  // 2. The blobs, after it.
  IMGPIPE_ASSIGN_OR_RETURN(*copied, CopyTree(data_dir / "blobs", partial / "blobs"));
  // 3. The admin key file, when there is one (its digest is in the database).
  if (fs::is_regular_file(data_dir / "admin.key", ec)) {
    fs::copy_file(data_dir / "admin.key", partial / "admin.key", ec);
    if (ec) return core::Status::Unavailable("cannot copy admin.key: " + ec.message());
  }
  return SyncFileSystem(partial);
}

// `config`'s data_dir copied to `dest` (absolute), which must not exist.
core::Status Backup(const Config& config, const fs::path& dest, Copied* copied) {
  const fs::path data_dir = config.data_dir;
  const fs::path db_file = data_dir / "imgpipe.db";
  std::error_code ec;
  if (!fs::is_regular_file(db_file, ec)) {
    return core::Status::NotFound("no imgpipe database at " + db_file.string());
  }
  fs::path source = fs::absolute(data_dir, ec).lexically_normal();
  if (source.filename().empty()) source = source.parent_path();  // "dir/" is "dir"
  if (std::mismatch(source.begin(), source.end(), dest.begin(), dest.end()).first == source.end()) {
    return core::Status::InvalidArgument(dest.string() + " is inside the data dir " +
                                         source.string() + ": a backup goes elsewhere");
  }
  if (fs::exists(dest, ec)) {
    return core::Status::AlreadyExists(dest.string() + " exists: a backup goes to a new folder");
  }
  const fs::path partial = dest.string() + ".partial";
  if (fs::exists(partial, ec)) {
    return core::Status::AlreadyExists(
        partial.string() + " exists: an earlier backup was interrupted; remove it first");
  }
  fs::create_directories(partial, ec);
  if (ec)
    return core::Status::Unavailable("cannot create " + partial.string() + ": " + ec.message());
  fs::permissions(partial, fs::perms::owner_all, ec);  // as data_dir: patient data inside
  core::Status status = Fill(data_dir, partial, copied);
  if (!status.ok()) {
    fs::remove_all(partial, ec);  // ours, and not a backup
    return status;
  }
  // Flushed, then named: DEST appears whole or not at all.
  fs::rename(partial, dest, ec);
  if (ec)
    return core::Status::Unavailable("cannot rename " + partial.string() + ": " + ec.message());
  return SyncFileSystem(dest.parent_path());
}

}  // namespace

int RunBackup(const Config& config, const std::vector<std::string>& args) {
  if (args.size() != 1 || args[0].empty()) {
    std::fprintf(stderr, "imgpipe: backup takes one argument, the new folder to write\n");
    return 2;
  }
  if (!config.database_url.empty() || !config.blob_url.empty()) {
    std::fprintf(stderr,
                 "imgpipe: backup copies an embedded deployment (SQLite and a folder); with "
                 "PostgreSQL or S3, back those up with their own tools (docs/operations.md "
                 "\"Backup and restore\")\n");
    return 2;
  }
  const auto started = Clock::now();
  Copied copied;
  fs::path dest = fs::absolute(args[0]).lexically_normal();
  if (dest.filename().empty()) dest = dest.parent_path();  // "backup/" names "backup"
  if (core::Status st = Backup(config, dest, &copied); !st.ok()) {
    std::fprintf(stderr, "imgpipe: backup failed: %s\n", st.message().c_str());
    // The operator's to fix (a name, a folder): usage errors; the rest failed while copying.
    const bool usage = st.code() == core::StatusCode::kAlreadyExists ||
                       st.code() == core::StatusCode::kNotFound ||
                       st.code() == core::StatusCode::kInvalidArgument;
    return usage ? 2 : 1;
  }
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("backup of %s written to %s: database and %lld blobs (%.1f MiB) in %.1f s\n",
              config.data_dir.c_str(), dest.c_str(), static_cast<long long>(copied.files),
              copied.bytes / 1048576.0, seconds);
  return 0;
}

}  // namespace imgpipe::app
