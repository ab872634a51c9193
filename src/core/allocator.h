// The heap settings every imgpipe process runs with: the program's main and the benchmarks that
// stand for it (a benchmark without them measures a process imgpipe never is).
#pragma once

namespace imgpipe::core {

// Keeps up to 64 MB of freed memory per glibc arena instead of returning it to the kernel, and
// serves allocations below 32 MB from the arenas rather than from fresh mmaps. Request buffers
// (files, decoded frames, previews) and SQLite's statement journals are freed and made again
// constantly by several threads; with glibc's defaults (trim past 128 KB, mmap from 128 KB until
// a larger mmapped block is freed) each cycle costs a madvise or munmap, then page faults and TLB
// shootdowns to get the memory back. Measured: 20% of preview throughput; 12,500 madvise calls
// and 22,000 page faults per 50,000 queue messages (SQLite, 8 threads, batches of 10), against
// 400 and 2,800 with these settings, and +10% messages/s (docs/benchmarks.md, "Queues").
// Call once, at the start of main, before any thread starts. glibc only; a no-op elsewhere.
void ConfigureAllocator();

}  // namespace imgpipe::core
