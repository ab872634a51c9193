// In-memory BlobStore: a sorted map under a shared mutex. Put replaces the whole value under the
// lock, so readers see either the old or the new blob, as the contract requires.
#include <map>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "blob/blob_store.h"

namespace imgpipe::blob {

namespace {

core::Status InvalidKey(std::string_view key) {
  return core::Status::InvalidArgument("invalid blob key: \"" + std::string(key) + "\"");
}

class MemBlobStore final : public BlobStore {
 public:
  core::Status Put(std::string_view key, std::string_view data) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::string copy(data);  // copy outside the lock
    std::unique_lock lock(mu_);
    blobs_[std::string(key)] = std::move(copy);
    return core::Status::Ok();
  }

  // Memory has no durability to wait for.
  core::Status PutUnsynced(std::string_view key, std::string_view data) override {
    return Put(key, data);
  }
  core::Status Sync() override { return core::Status::Ok(); }

  core::Status PutIfAbsent(std::string_view key, std::string_view data) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::string copy(data);
    std::unique_lock lock(mu_);
    auto [it, inserted] = blobs_.try_emplace(std::string(key), std::move(copy));
    if (!inserted) return core::Status::AlreadyExists("blob exists: " + std::string(key));
    return core::Status::Ok();
  }

  core::Result<std::string> Get(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::shared_lock lock(mu_);
    auto it = blobs_.find(key);
    if (it == blobs_.end()) return core::Status::NotFound("no blob: " + std::string(key));
    return it->second;
  }

  core::Result<uint64_t> Size(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::shared_lock lock(mu_);
    auto it = blobs_.find(key);
    if (it == blobs_.end()) return core::Status::NotFound("no blob: " + std::string(key));
    return static_cast<uint64_t>(it->second.size());
  }

  core::Status Delete(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::unique_lock lock(mu_);
    auto it = blobs_.find(key);
    if (it != blobs_.end()) blobs_.erase(it);
    return core::Status::Ok();
  }

  core::Status List(std::string_view prefix,
                    const std::function<bool(const BlobInfo&)>& visit) override {
    // Snapshot under the lock, visit outside it: `visit` may call back into the store.
    std::vector<BlobInfo> snapshot;
    {
      std::shared_lock lock(mu_);
      for (auto it = blobs_.lower_bound(prefix); it != blobs_.end(); ++it) {
        if (!std::string_view(it->first).starts_with(prefix)) break;
        snapshot.push_back({it->first, it->second.size()});
      }
    }
    for (const BlobInfo& info : snapshot) {
      if (!visit(info)) break;
    }
    return core::Status::Ok();
  }

  std::string Describe() const override { return "mem:"; }

 private:
  std::shared_mutex mu_;
  std::map<std::string, std::string, std::less<>> blobs_;  // GUARDED_BY(mu_)
};

}  // namespace

std::unique_ptr<BlobStore> NewMemBlobStore() { return std::make_unique<MemBlobStore>(); }

}  // namespace imgpipe::blob
