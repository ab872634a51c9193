#include "blob/blob_store_conformance.h"

namespace imgpipe::blob {
namespace {

IMGPIPE_INSTANTIATE_BLOB_STORE_CONFORMANCE(Mem, [] { return NewMemBlobStore(); });

TEST(MemBlobStoreTest, Describe) { EXPECT_EQ(NewMemBlobStore()->Describe(), "mem:"); }

}  // namespace
}  // namespace imgpipe::blob
