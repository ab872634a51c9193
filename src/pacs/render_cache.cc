#include "pacs/render_cache.h"

#include <functional>

namespace imgpipe::pacs {

RenderCache::RenderCache(uint64_t capacity_bytes) : shard_capacity_(capacity_bytes / kShards) {}

RenderCache::Shard& RenderCache::ShardFor(const std::string& key) {
  return shards_[std::hash<std::string>{}(key) % kShards];
}

std::shared_ptr<const dicom::EncodedImage> RenderCache::Get(const std::string& key) {
  if (shard_capacity_ == 0) return nullptr;
  Shard& s = ShardFor(key);
  std::lock_guard lock(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) return nullptr;
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  return it->second->image;
}

void RenderCache::Put(const std::string& key, std::shared_ptr<const dicom::EncodedImage> image) {
  uint64_t size = image->bytes.size() + key.size() + 128;
  if (size > shard_capacity_) return;  // also covers a disabled cache
  Shard& s = ShardFor(key);
  std::lock_guard lock(s.mu);
  if (auto it = s.map.find(key); it != s.map.end()) {
    s.bytes -= it->second->bytes;
    s.lru.erase(it->second);
    s.map.erase(it);
  }
  s.lru.push_front(Entry{key, std::move(image), size});
  s.map[key] = s.lru.begin();
  s.bytes += size;
  while (s.bytes > shard_capacity_ && !s.lru.empty()) {
    s.bytes -= s.lru.back().bytes;
    s.map.erase(s.lru.back().key);
    s.lru.pop_back();
  }
}

uint64_t RenderCache::bytes() const {
  uint64_t total = 0;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    total += s.bytes;
  }
  return total;
}

}  // namespace imgpipe::pacs
