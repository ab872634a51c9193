// imgpipe import PATH|s3://bucket/prefix ...: index DICOM files, in parallel, with progress. Files
// of a folder tree are copied into the blob store; objects of a bucket (the seed's existing PACS
// bucket) are indexed in place, never copied, and served from their bucket (blob::WithReferences).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "app/commands.h"
#include "app/stores.h"
#include "dicom/dicom.h"

namespace imgpipe::app {
namespace {

namespace fs = std::filesystem;

constexpr uintmax_t kMaxFileBytes = 4ull << 30;
constexpr uint64_t kProbeAbove = 1 << 20;  // objects larger than this are probed before reading

struct Tally {
  std::atomic<int64_t> done{0}, stored{0}, already{0}, rejected{0}, bytes{0};
  std::mutex mu;
  std::map<std::string, int64_t> reasons;                     // GUARDED_BY(mu)
  std::vector<std::pair<std::string, std::string>> examples;  // GUARDED_BY(mu)
};

core::Result<std::string> ReadWholeFile(const fs::path& path) {
  std::error_code ec;
  uintmax_t size = fs::file_size(path, ec);
  if (ec) return core::Status::InvalidArgument("cannot stat: " + ec.message());
  if (size > kMaxFileBytes) return core::Status::PayloadTooLarge("file larger than 4 GiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Status::InvalidArgument("cannot open");
  std::string data(size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (static_cast<uintmax_t>(in.gcount()) != size)
    return core::Status::InvalidArgument("short read");
  return data;
}

// One file to import: a local file, or an object indexed in place (its blob::ReferenceKey).
struct Source {
  std::string path;       // local file, or "" for an object
  std::string reference;  // "s3://bucket/object"
  uint64_t size = 0;      // of the object, from its listing
  const std::string& name() const { return path.empty() ? reference : path; }
};

void Reject(Tally& t, const Source& source, const core::Status& st) {
  t.rejected++;
  std::lock_guard lock(t.mu);
  t.reasons[std::string(core::StatusCodeName(st.code()))]++;
  if (t.examples.size() < 20) t.examples.emplace_back(source.name(), st.message());
}

// Adds every object under an s3:// URL (the bucket's endpoint, region and credentials are the
// blob store's settings: blob.s3_endpoint, blob.s3_region, the AWS environment variables).
core::Status ListBucket(const Config& config, const std::string& url, std::vector<Source>* out) {
  IMGPIPE_ASSIGN_OR_RETURN(blob::S3Options options, blob::ParseS3Url(url));
  options.endpoint = config.blob_s3_endpoint;
  options.region = config.blob_s3_region;
  std::string bucket = options.bucket;
  size_t before = out->size();
  IMGPIPE_RETURN_IF_ERROR(blob::ListS3Objects(options, [&](const blob::BlobInfo& object) {
    if (!object.key.ends_with('/')) {  // "folder" marker objects hold no file
      out->push_back({"", blob::ReferenceKey(bucket, object.key), object.size});
    }
    return true;
  }));
  std::fprintf(stderr, "%s: %zu objects, indexed in place\n", url.c_str(), out->size() - before);
  return core::Status::Ok();
}

void PrintProgress(const Tally& t, size_t total, double seconds, bool tty, bool final) {
  double pct = total ? 100.0 * static_cast<double>(t.done) / static_cast<double>(total) : 100;
  double mbps = seconds > 0 ? static_cast<double>(t.bytes) / (1 << 20) / seconds : 0;
  int filled = static_cast<int>(pct / 5);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(20, '.');
  std::fprintf(stderr,
               "%s[%s] %lld/%zu files (%.0f%%), %.1f MB/s, stored %lld, already %lld, "
               "rejected %lld%s",
               tty ? "\r" : "", bar.c_str(), static_cast<long long>(t.done.load()), total, pct,
               mbps, static_cast<long long>(t.stored.load()),
               static_cast<long long>(t.already.load()), static_cast<long long>(t.rejected.load()),
               (tty && !final) ? "" : "\n");
  std::fflush(stderr);
}

}  // namespace

int RunImport(const Config& config, const std::vector<std::string>& paths) {
  if (paths.empty()) {
    std::fprintf(stderr, "usage: imgpipe import PATH|s3://bucket/prefix ...\n");
    return 2;
  }
  std::vector<Source> files;
  for (const auto& p : paths) {
    if (p.rfind("s3://", 0) == 0) {
      if (auto st = ListBucket(config, p, &files); !st.ok()) {
        std::fprintf(stderr, "imgpipe: cannot list %s: %s\n", p.c_str(), st.ToString().c_str());
        return 1;
      }
      continue;
    }
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) {
      files.push_back({p, "", 0});
      continue;
    }
    if (!fs::is_directory(p, ec)) {
      std::fprintf(stderr, "imgpipe: %s is neither a file, a folder nor an s3:// URL\n", p.c_str());
      return 2;
    }
    size_t first = files.size();
    for (auto it =
             fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec)) files.push_back({it->path().string(), "", 0});
    }
    if (ec) {
      std::fprintf(stderr, "imgpipe: cannot walk %s: %s\n", p.c_str(), ec.message().c_str());
      return 1;
    }
    std::sort(files.begin() + static_cast<std::ptrdiff_t>(first), files.end(),
              [](const Source& a, const Source& b) { return a.path < b.path; });
  }

  dicom::Initialize();
  auto stores = OpenStores(config);
  if (!stores.ok()) {
    std::fprintf(stderr, "imgpipe: %s\n", stores.status().message().c_str());
    return 1;
  }
  pacs::Pacs& pacs = *stores->pacs;
  Tally tally;
  std::atomic<size_t> next{0};
  std::atomic<bool> store_failed{false};
  auto start = std::chrono::steady_clock::now();
  auto worker = [&] {
    for (size_t i = next++; i < files.size() && !store_failed; i = next++) {
      const Source& source = files[i];
      auto data = [&]() -> core::Result<std::string> {
        if (!source.path.empty()) return ReadWholeFile(source.path);
        if (source.size > kMaxFileBytes) {
          return core::Status::PayloadTooLarge("object larger than 4 GiB");
        }
        if (source.size > kProbeAbove) {
          // A bucket may hold other files too: a large one is read only once its Part 10
          // marker ("DICM" at byte 128) says it is DICOM.
          IMGPIPE_ASSIGN_OR_RETURN(
              std::string prefix,
              stores->blobs->GetRange(source.reference, 0, dicom::kPart10PrefixBytes));
          IMGPIPE_RETURN_IF_ERROR(dicom::CheckPart10Prefix(prefix));
        }
        return stores->blobs->Get(source.reference);
      }();
      if (!data.ok()) {
        Reject(tally, source, data.status());
        // An unreachable bucket fails every object alike: stop, as for a failed store.
        if (data.status().code() == core::StatusCode::kUnavailable) store_failed = true;
      } else {
        tally.bytes += static_cast<int64_t>(data->size());
        auto r =
            source.path.empty() ? pacs.IndexInPlace(*data, source.reference) : pacs.Ingest(*data);
        if (r.ok()) {
          (r->outcome == pacs::IngestOutcome::kStored ? tally.stored : tally.already)++;
        } else if (r.status().code() == core::StatusCode::kUnavailable ||
                   r.status().code() == core::StatusCode::kInternal) {
          // The store itself failed: stop rather than reject every remaining file.
          Reject(tally, source, r.status());
          store_failed = true;
        } else {
          Reject(tally, source, r.status());
        }
      }
      tally.done++;
    }
  };
  unsigned n = std::max(2u, std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < n; ++i) threads.emplace_back(worker);
  bool tty = isatty(STDERR_FILENO);
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // Progress every 200 ms on a terminal, every 2 s in a log; checked often so a short import
  // ends as soon as its last file is done.
  auto last_print = std::chrono::steady_clock::now();
  const auto print_every = std::chrono::milliseconds(tty ? 200 : 2000);
  while (static_cast<size_t>(tally.done) < files.size() && !store_failed) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (std::chrono::steady_clock::now() - last_print >= print_every) {
      PrintProgress(tally, files.size(), seconds(), tty, false);
      last_print = std::chrono::steady_clock::now();
    }
  }
  for (auto& t : threads) t.join();
  PrintProgress(tally, files.size(), seconds(), tty, true);

  std::printf("import: %zu files in %.2f s: stored %lld, already stored %lld, rejected %lld\n",
              files.size(), seconds(), static_cast<long long>(tally.stored.load()),
              static_cast<long long>(tally.already.load()),
              static_cast<long long>(tally.rejected.load()));
  for (const auto& [reason, count] : tally.reasons) {
    std::printf("  rejected (%s): %lld\n", reason.c_str(), static_cast<long long>(count));
  }
  for (const auto& [path, why] : tally.examples) {
    std::printf("  %s: %s\n", path.c_str(), why.c_str());
  }
  return store_failed ? 1 : 0;
}

int RunDemo(const Config& config, const std::string& out_dir) {
  auto files = dicom::MakeDemoDataset();
  if (!out_dir.empty()) {
    for (const auto& f : files) {
      fs::path path = fs::path(out_dir) / f.name;
      std::error_code ec;
      fs::create_directories(path.parent_path(), ec);
      std::ofstream out(path, std::ios::binary);
      out.write(f.bytes.data(), static_cast<std::streamsize>(f.bytes.size()));
      if (!out) {
        std::fprintf(stderr, "imgpipe: cannot write %s\n", path.c_str());
        return 1;
      }
    }
    std::printf("demo: wrote %zu files under %s\n", files.size(), out_dir.c_str());
    return 0;
  }
  auto stores = OpenStores(config);
  if (!stores.ok()) {
    std::fprintf(stderr, "imgpipe: %s\n", stores.status().message().c_str());
    return 1;
  }
  int stored = 0, already = 0;
  for (const auto& f : files) {
    auto r = stores->pacs->Ingest(f.bytes);
    if (!r.ok()) {
      std::fprintf(stderr, "imgpipe: demo file %s rejected: %s\n", f.name.c_str(),
                   r.status().ToString().c_str());
      return 1;
    }
    (r->outcome == pacs::IngestOutcome::kStored ? stored : already)++;
  }
  std::printf("demo: %d images stored, %d already stored, in %s\n", stored, already,
              config.data_dir.c_str());
  return 0;
}

}  // namespace imgpipe::app
