// BlobStore: where DICOM files and job outputs live, addressed by key.
//
// Keys are relative, '/'-separated paths of segments made of [A-Za-z0-9._-], no empty, "." or
// ".." segment, at most 1024 bytes (IsValidKey). DESIGN.md fixes the layout:
// "pacs/{study}/{series}/{image}.dcm" and "results/{job_id}/{name}".
//
// Contract, for every backend:
// - Put is atomic: a reader sees the previous complete blob, or the new complete blob, never a part
//   of one; when Put returns ok the blob is durable (fsynced, or committed by the object store).
// - PutIfAbsent stores only when no blob has the key; it returns AlreadyExists otherwise, and two
//   concurrent PutIfAbsent calls for one key store exactly one of the two.
// - Get / Size return NotFound for a missing key; Delete of a missing key is ok.
// - List visits the keys under `prefix` (a plain string prefix) in lexicographic order.
// - A failed Put leaves nothing behind under the key (no partial files, no stray temp names visible
//   to List).
//
// Thread-safety: every method may be called from many threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace imgpipe::blob {

bool IsValidKey(std::string_view key);

struct BlobInfo {
  std::string key;
  uint64_t size = 0;
};

class BlobStore {
 public:
  BlobStore() = default;
  BlobStore(const BlobStore&) = delete;
  BlobStore& operator=(const BlobStore&) = delete;
  virtual ~BlobStore() = default;

  virtual core::Status Put(std::string_view key, std::string_view data) = 0;
  virtual core::Status PutIfAbsent(std::string_view key, std::string_view data) = 0;
  // Put without the wait for durability, for callers that store many blobs and then commit a
  // record of them (the PACS index): one Sync() then covers them all, instead of several syncs
  // per blob. Readers see the complete new blob at once. Until the next Sync() returns, a crash
  // may leave the key missing, or holding an empty or partial file: never commit a reference to
  // the blob before Sync() has returned.
  virtual core::Status PutUnsynced(std::string_view key, std::string_view data) = 0;
  // Makes every PutUnsynced that returned before this call durable.
  virtual core::Status Sync() = 0;
  virtual core::Result<std::string> Get(std::string_view key) = 0;
  // Ranged download: bytes [offset, offset + length) of the blob, fewer where it ends sooner
  // (empty from its end on). NotFound for a missing key. The folder reads only that range
  // (pread) and S3 asks only for it (a Range request); the default reads the whole blob.
  virtual core::Result<std::string> GetRange(std::string_view key, uint64_t offset,
                                             uint64_t length);
  // Streaming upload: a Put of exactly `size` bytes pulled from `read`, without holding them all
  // in memory. `read(buf, n)` fills up to n bytes and returns how many (0 only at the end, an
  // error status to abandon). Same atomicity and durability as Put: a reader error, or fewer or
  // more than `size` bytes, stores nothing. The folder writes each chunk to its temp file; S3
  // holds one part at a time (a multipart upload above multipart_threshold); the default buffers.
  using Reader = std::function<core::Result<size_t>(char* buf, size_t n)>;
  virtual core::Status PutStream(std::string_view key, uint64_t size, const Reader& read);
  virtual core::Result<uint64_t> Size(std::string_view key) = 0;
  virtual core::Status Delete(std::string_view key) = 0;
  // Calls `visit` for each key under `prefix`; stops early when `visit` returns false.
  virtual core::Status List(std::string_view prefix,
                            const std::function<bool(const BlobInfo&)>& visit) = 0;
  // A short description for logs and the start-up banner ("fs:/var/lib/imgpipe/blobs").
  virtual std::string Describe() const = 0;
};

// A folder on the local file system. Creates `root` if needed; fails if it is not writable.
core::Result<std::unique_ptr<BlobStore>> NewFsBlobStore(const std::string& root);

// An S3-compatible object store (AWS S3, MinIO, s3rver, ...). Empty strings take the defaults.
struct S3Options {
  // "https://s3.eu-west-1.amazonaws.com" or "http://127.0.0.1:4568"; empty: AWS_ENDPOINT_URL,
  // else https://s3.{region}.amazonaws.com.
  std::string endpoint;
  std::string region;  // empty: AWS_REGION, else AWS_DEFAULT_REGION, else "us-east-1"
  std::string bucket;
  // Keys are stored as objects named prefix + key; a non-empty prefix gets a trailing '/'.
  std::string prefix;
  // Empty: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  // "endpoint/bucket/key" when true, "bucket.endpoint/key" (virtual-hosted) when false; unset:
  // virtual-hosted for amazonaws.com endpoints, path style for any other (custom) endpoint.
  std::optional<bool> path_style;
  uint64_t multipart_threshold = 16 << 20;  // Put uses a multipart upload above this size
  uint64_t part_size = 8 << 20;             // S3 needs >= 5 MiB for all parts but the last
  int list_page_size = 1000;                // max-keys of each ListObjectsV2 page
  // Retries after 5xx, 429/SlowDown, timeouts and connection errors (never after other 4xx),
  // waiting retry_backoff, then twice as long each time.
  int max_retries = 4;
  std::chrono::milliseconds retry_backoff{100};
  std::chrono::milliseconds connect_timeout{10'000};
  // A request fails (and is retried) when it moves fewer than 1 KiB/s for this long.
  std::chrono::milliseconds stall_timeout{30'000};
};

// Parses "s3://bucket" or "s3://bucket/some/prefix" into bucket and prefix (other fields keep
// their defaults).
core::Result<S3Options> ParseS3Url(std::string_view url);

// Checks that the bucket is reachable (HEAD bucket): NotFound for a missing bucket,
// PermissionDenied / Unauthenticated for refused or missing credentials, Unavailable when the
// endpoint cannot be reached.
core::Result<std::unique_ptr<BlobStore>> NewS3BlobStore(S3Options options);

// References: objects imgpipe indexes in place and did not write (`imgpipe import
// s3://bucket/prefix`, the seed's "existing PACS bucket"). Their blob key is the object's URL,
// "s3://bucket/object name", with any object name S3 allows; IsValidKey is false for them.
bool IsReference(std::string_view key);
std::string ReferenceKey(std::string_view bucket, std::string_view object);

// A store that serves references (Get, Size) from their buckets, with `s3`'s endpoint, region and
// credentials (its bucket and prefix are ignored; one client per bucket, opened on first use),
// and every other key from `primary`. References are read-only: imgpipe never writes or deletes
// an object of a bucket it indexes in place, so Put, PutIfAbsent and Delete of one are
// PermissionDenied. List lists `primary` only.
std::unique_ptr<BlobStore> WithReferences(std::unique_ptr<BlobStore> primary, S3Options s3);

// Visits every object under s3://{options.bucket}/{options.prefix} (the prefix taken as a folder:
// "archive" lists "archive/..."), whatever its name, in lexicographic order; BlobInfo::key is the
// whole object name. Fails like NewS3BlobStore when the bucket cannot be reached.
core::Status ListS3Objects(S3Options options, const std::function<bool(const BlobInfo&)>& visit);

// In memory, for unit tests of other modules.
std::unique_ptr<BlobStore> NewMemBlobStore();

}  // namespace imgpipe::blob
