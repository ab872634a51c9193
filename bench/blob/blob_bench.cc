// Blob store throughput: Put then Get of N objects of a given size, with T threads, against the
// folder backend or an S3-compatible endpoint (bench/blob/run.sh starts a local s3rver).
//
//   blob_bench fs DIR SIZE_BYTES COUNT THREADS
//   blob_bench s3 s3://bucket/prefix ENDPOINT SIZE_BYTES COUNT THREADS   (AWS_* credentials)
//
// Prints MB/s and objects/s for Put and Get; every Get is checked byte for byte.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "blob/blob_store.h"

using imgpipe::blob::BlobStore;
using Clock = std::chrono::steady_clock;

namespace {

double Run(int threads, int count, const std::function<bool(int)>& op) {
  std::atomic<int> next{0};
  std::atomic<bool> ok{true};
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < count;) {
        if (!op(i)) ok = false;
      }
    });
  }
  for (auto& th : pool) th.join();
  if (!ok) {
    std::fprintf(stderr, "blob_bench: an operation failed\n");
    std::exit(1);
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr,
                 "usage: blob_bench fs DIR SIZE COUNT THREADS\n"
                 "       blob_bench s3 s3://bucket/prefix ENDPOINT SIZE COUNT THREADS\n");
    return 2;
  }
  std::string kind = argv[1];
  std::unique_ptr<BlobStore> store;
  int arg = 3;
  if (kind == "fs") {
    auto opened = imgpipe::blob::NewFsBlobStore(argv[2]);
    if (!opened.ok()) return std::fprintf(stderr, "%s\n", opened.status().ToString().c_str()), 1;
    store = std::move(*opened);
  } else {
    auto options = imgpipe::blob::ParseS3Url(argv[2]);
    if (!options.ok()) return std::fprintf(stderr, "%s\n", options.status().ToString().c_str()), 1;
    options->endpoint = argv[3];
    auto opened = imgpipe::blob::NewS3BlobStore(*options);
    if (!opened.ok()) return std::fprintf(stderr, "%s\n", opened.status().ToString().c_str()), 1;
    store = std::move(*opened);
    arg = 4;
  }
  const size_t size = std::strtoull(argv[arg], nullptr, 10);
  const int count = std::atoi(argv[arg + 1]);
  const int threads = std::atoi(argv[arg + 2]);
  std::string data(size, '\0');
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>((i * 2654435761u) >> 13);
  auto key = [](int i) { return "bench/obj-" + std::to_string(i); };

  double put = Run(threads, count, [&](int i) { return store->Put(key(i), data).ok(); });
  double get = Run(threads, count, [&](int i) {
    auto got = store->Get(key(i));
    return got.ok() && *got == data;
  });
  const double mb = static_cast<double>(size) * count / (1 << 20);
  std::printf("%s %zu B x %d, %d threads: put %.1f MB/s (%.1f obj/s), get %.1f MB/s (%.1f obj/s)\n",
              store->Describe().c_str(), size, count, threads, mb / put, count / put, mb / get,
              count / get);
  for (int i = 0; i < count; ++i) (void)store->Delete(key(i));
  return 0;
}
