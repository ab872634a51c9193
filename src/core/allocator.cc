#include "core/allocator.h"

#include <cstdlib>  // defines __GLIBC__ on glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace imgpipe::core {

void ConfigureAllocator() {
#if defined(__GLIBC__)
  // Setting either turns off glibc's dynamic thresholds, so both are set.
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
#endif
}

}  // namespace imgpipe::core
