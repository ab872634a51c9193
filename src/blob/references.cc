// References to objects imgpipe indexes in place: "s3://bucket/object name" keys, served
// read-only from their bucket beside a primary store (blob_store.h).
#include <map>
#include <mutex>
#include <string>

#include "blob/blob_store.h"
#include "blob/s3/s3_blob_store.h"

namespace imgpipe::blob {
namespace {

constexpr std::string_view kScheme = "s3://";

// Splits a reference into bucket and object name; false when it names no object.
bool SplitReference(std::string_view key, std::string_view* bucket, std::string_view* object) {
  if (!key.starts_with(kScheme)) return false;
  std::string_view rest = key.substr(kScheme.size());
  size_t slash = rest.find('/');
  if (slash == 0 || slash == std::string_view::npos || slash + 1 == rest.size()) return false;
  *bucket = rest.substr(0, slash);
  *object = rest.substr(slash + 1);
  return true;
}

core::Status ReadOnly(std::string_view key) {
  return core::Status::PermissionDenied(
      "'" + std::string(key) + "' is indexed in place: imgpipe never writes or deletes it");
}

class ReferencingBlobStore final : public BlobStore {
 public:
  ReferencingBlobStore(std::unique_ptr<BlobStore> primary, S3Options s3)
      : primary_(std::move(primary)), s3_(std::move(s3)) {}

  core::Status Put(std::string_view key, std::string_view data) override {
    if (IsReference(key)) return ReadOnly(key);
    return primary_->Put(key, data);
  }
  core::Status PutIfAbsent(std::string_view key, std::string_view data) override {
    if (IsReference(key)) return ReadOnly(key);
    return primary_->PutIfAbsent(key, data);
  }
  core::Status PutUnsynced(std::string_view key, std::string_view data) override {
    if (IsReference(key)) return ReadOnly(key);
    return primary_->PutUnsynced(key, data);
  }
  core::Status Sync() override { return primary_->Sync(); }
  core::Result<std::string> Get(std::string_view key) override {
    if (!IsReference(key)) return primary_->Get(key);
    std::string_view object;
    IMGPIPE_ASSIGN_OR_RETURN(BlobStore * bucket, Bucket(key, &object));
    return bucket->Get(object);
  }
  core::Result<std::string> GetRange(std::string_view key, uint64_t offset,
                                     uint64_t length) override {
    if (!IsReference(key)) return primary_->GetRange(key, offset, length);
    std::string_view object;
    IMGPIPE_ASSIGN_OR_RETURN(BlobStore * bucket, Bucket(key, &object));
    return bucket->GetRange(object, offset, length);
  }
  core::Status PutStream(std::string_view key, uint64_t size, const Reader& read) override {
    if (IsReference(key)) return ReadOnly(key);
    return primary_->PutStream(key, size, read);
  }
  core::Result<uint64_t> Size(std::string_view key) override {
    if (!IsReference(key)) return primary_->Size(key);
    std::string_view object;
    IMGPIPE_ASSIGN_OR_RETURN(BlobStore * bucket, Bucket(key, &object));
    return bucket->Size(object);
  }
  core::Status Delete(std::string_view key) override {
    if (IsReference(key)) return ReadOnly(key);
    return primary_->Delete(key);
  }
  core::Status List(std::string_view prefix,
                    const std::function<bool(const BlobInfo&)>& visit) override {
    return primary_->List(prefix, visit);
  }
  std::string Describe() const override {
    return primary_->Describe() + ", with references to S3 objects (" +
           (s3_.endpoint.empty() ? "AWS_ENDPOINT_URL or AWS" : s3_.endpoint) + ")";
  }

 private:
  // The store of the reference's bucket, opened on first use. A bucket that cannot be opened is
  // tried again on the next read (it may be a transient outage).
  core::Result<BlobStore*> Bucket(std::string_view key, std::string_view* object) {
    std::string_view bucket;
    if (!SplitReference(key, &bucket, object)) {
      return core::Status::InvalidArgument("'" + std::string(key) + "' names no S3 object");
    }
    {
      std::lock_guard lock(mu_);
      auto it = buckets_.find(bucket);
      if (it != buckets_.end()) return it->second.get();
    }
    // Opened outside the lock (it asks the server), so an unreachable bucket never holds up the
    // reads of the others; of two threads opening one bucket, the first to finish is kept.
    S3Options options = s3_;
    options.bucket = std::string(bucket);
    IMGPIPE_ASSIGN_OR_RETURN(std::unique_ptr<BlobStore> store, NewS3ObjectStore(options));
    std::lock_guard lock(mu_);
    auto [it, inserted] = buckets_.try_emplace(std::string(bucket), std::move(store));
    return it->second.get();
  }

  std::unique_ptr<BlobStore> primary_;
  const S3Options s3_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<BlobStore>, std::less<>> buckets_;  // guarded by mu_
};

}  // namespace

bool IsReference(std::string_view key) {
  std::string_view bucket, object;
  return SplitReference(key, &bucket, &object);
}

std::string ReferenceKey(std::string_view bucket, std::string_view object) {
  return std::string(kScheme) + std::string(bucket) + "/" + std::string(object);
}

std::unique_ptr<BlobStore> WithReferences(std::unique_ptr<BlobStore> primary, S3Options s3) {
  return std::make_unique<ReferencingBlobStore>(std::move(primary), std::move(s3));
}

core::Status ListS3Objects(S3Options options, const std::function<bool(const BlobInfo&)>& visit) {
  std::string prefix = options.prefix;
  while (prefix.starts_with('/')) prefix.erase(0, 1);
  if (!prefix.empty() && !prefix.ends_with('/')) prefix.push_back('/');
  IMGPIPE_ASSIGN_OR_RETURN(std::unique_ptr<BlobStore> store, NewS3ObjectStore(std::move(options)));
  return store->List(prefix, visit);
}

}  // namespace imgpipe::blob
