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

#include <cstdint>
#include <functional>
#include <memory>
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

// In memory, for unit tests of other modules.
std::unique_ptr<BlobStore> NewMemBlobStore();

}  // namespace imgpipe::blob
