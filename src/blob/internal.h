// Helpers shared by the blob backends. Internal to src/blob.
#pragma once

#include <cstdint>
#include <string>

#include "blob/blob_store.h"

namespace imgpipe::blob {

// The stream of a PutStream, counted against its declared size: every backend pulls it in
// chunks through Next, which fails (InvalidArgument) as soon as the stream runs past `size`, or
// ends before it.
class SizedStream {
 public:
  SizedStream(const BlobStore::Reader& read, uint64_t size) : read_(read), size_(size) {}

  // Fills `chunk` (replacing its contents) with up to `want` bytes, fewer only at the end; empty
  // once all `size` bytes were read.
  core::Status Next(size_t want, std::string* chunk);

 private:
  const BlobStore::Reader& read_;
  const uint64_t size_;
  uint64_t total_ = 0;
};

// The whole stream in memory (backends that store a blob in one piece).
core::Result<std::string> ReadExactly(uint64_t size, const BlobStore::Reader& read);

}  // namespace imgpipe::blob
