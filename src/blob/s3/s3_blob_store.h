// Inside the blob module: the S3 store in object-name mode, for references (blob_store.h).
#pragma once

#include <memory>

#include "blob/blob_store.h"

namespace imgpipe::blob {

// Like NewS3BlobStore, but its keys are whole object names of the bucket, any name S3 allows
// (options.prefix is ignored), and List visits every object. Used read-only, for objects imgpipe
// did not write.
core::Result<std::unique_ptr<BlobStore>> NewS3ObjectStore(S3Options options);

}  // namespace imgpipe::blob
