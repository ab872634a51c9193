#include "core/allocator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace imgpipe::core {
namespace {

// With the settings, an 8 MB block (above glibc's default mmap threshold of 128 KB) comes from
// the heap, and freeing it keeps the memory (below the 64 MB trim threshold) for the next one.
// With glibc's defaults, the block is a fresh mmap, unmapped again by free.
TEST(AllocatorTest, LargeBlocksComeFromTheHeapAndStayWhenFreed) {
  ConfigureAllocator();
  constexpr size_t kBlock = size_t{8} << 20;
  void* block = std::malloc(kBlock);
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kBlock);  // the allocator must work as before, whatever it is
  // Under ASan its allocator replaces glibc's: there is nothing of glibc's heap to observe.
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
  const struct mallinfo2 held = mallinfo2();
  std::free(block);
  const struct mallinfo2 freed = mallinfo2();
  EXPECT_EQ(held.hblks, 0u) << "the block was mmapped";
  EXPECT_GE(freed.keepcost, kBlock) << "the freed block went back to the kernel";
#else
  std::free(block);
#endif
}

}  // namespace
}  // namespace imgpipe::core
