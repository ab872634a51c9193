// Helpers shared by the blob backends. Internal to src/blob.
#pragma once

#include <cstdint>
#include <string>

#include "blob/blob_store.h"

namespace imgpipe::blob {

// Pulls the whole stream of a PutStream into memory: exactly `size` bytes, else InvalidArgument
// (or the reader's own error).
core::Result<std::string> ReadExactly(uint64_t size, const BlobStore::Reader& read);

// Pulls up to `want` bytes into `out` (replacing its contents), fewer only at the stream's end.
core::Status ReadChunk(const BlobStore::Reader& read, size_t want, std::string* out);

}  // namespace imgpipe::blob
