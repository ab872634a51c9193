// A byte-bounded LRU cache of rendered previews. Stored instances never change, so entries never
// go stale; they are only evicted for space.
//
// Thread-safety: thread-safe (sharded by key hash, one mutex per shard).
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "dicom/dicom.h"

namespace imgpipe::pacs {

class RenderCache {
 public:
  // `capacity_bytes` 0 disables the cache (Get misses, Put drops).
  explicit RenderCache(uint64_t capacity_bytes);

  std::shared_ptr<const dicom::EncodedImage> Get(const std::string& key);
  void Put(const std::string& key, std::shared_ptr<const dicom::EncodedImage> image);

  uint64_t bytes() const;  // current total, for tests and metrics

 private:
  static constexpr size_t kShards = 16;
  struct Entry {
    std::string key;
    std::shared_ptr<const dicom::EncodedImage> image;
    uint64_t bytes;
  };
  struct Shard {
    mutable std::mutex mu;
    std::list<Entry> lru;  // front = most recent
    std::unordered_map<std::string, std::list<Entry>::iterator> map;
    uint64_t bytes = 0;
  };
  Shard& ShardFor(const std::string& key);

  uint64_t shard_capacity_;
  std::array<Shard, kShards> shards_;
};

}  // namespace imgpipe::pacs
