#include "blob/blob_store_conformance.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace imgpipe::blob {
namespace {

using core::StatusCode;

std::vector<std::pair<std::string, uint64_t>> ListAll(BlobStore& store, std::string_view prefix) {
  std::vector<std::pair<std::string, uint64_t>> out;
  core::Status status = store.List(prefix, [&](const BlobInfo& info) {
    out.emplace_back(info.key, info.size);
    return true;
  });
  EXPECT_TRUE(status.ok()) << status.ToString();
  return out;
}

std::string AllBytes() {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  bytes += std::string("\0\0tail\0", 7);
  return bytes;
}

TEST(BlobKeyTest, ValidKeys) {
  EXPECT_TRUE(IsValidKey("a"));
  EXPECT_TRUE(IsValidKey("pacs/1.2.840.10008/1.2.3/4.5.6.dcm"));
  EXPECT_TRUE(IsValidKey("results/01J0ABC-x_y/image.png"));
  EXPECT_TRUE(IsValidKey("...a/..b"));
  EXPECT_TRUE(IsValidKey(std::string(1024, 'k')));
}

std::vector<std::string> InvalidKeys() {
  return {"",
          ".",
          "..",
          "a/../b",
          "a/./b",
          "/a",
          "a/",
          "a//b",
          "a\\b",
          "a b",
          "a:b",
          "é",
          "a/~x",
          std::string("a\0b", 3),
          std::string(1025, 'k')};
}

TEST(BlobKeyTest, InvalidKeys) {
  for (const std::string& key : InvalidKeys()) EXPECT_FALSE(IsValidKey(key)) << key;
}

TEST_P(BlobStoreConformance, RoundtripTextBinaryAndEmpty) {
  const std::vector<std::pair<std::string, std::string>> blobs = {
      {"text.txt", "hello"}, {"bin/all-bytes", AllBytes()}, {"empty", ""}};
  for (const auto& [key, data] : blobs) ASSERT_TRUE(store().Put(key, data).ok()) << key;
  for (const auto& [key, data] : blobs) {
    auto got = store().Get(key);
    ASSERT_TRUE(got.ok()) << key << ": " << got.status().ToString();
    EXPECT_EQ(*got, data) << key;
    auto size = store().Size(key);
    ASSERT_TRUE(size.ok()) << key;
    EXPECT_EQ(*size, data.size()) << key;
  }
}

TEST_P(BlobStoreConformance, MissingIsNotFound) {
  EXPECT_EQ(store().Get("no/such/key").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().Size("no/such/key").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store().Put("dir/file", "x").ok());
  // "dir" is only a prefix of a key, not a key.
  EXPECT_EQ(store().Get("dir").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().Size("dir").status().code(), StatusCode::kNotFound);
}

TEST_P(BlobStoreConformance, PutOverwrites) {
  ASSERT_TRUE(store().Put("k", "first version, longer").ok());
  ASSERT_TRUE(store().Put("k", "second").ok());
  auto got = store().Get("k");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "second");
  EXPECT_EQ(*store().Size("k"), 6u);
  EXPECT_EQ(ListAll(store(), "").size(), 1u);
}

TEST_P(BlobStoreConformance, UnsyncedPutsAreReadableAndSyncSucceeds) {
  ASSERT_TRUE(store().PutUnsynced("batch/a/1", "one").ok());
  ASSERT_TRUE(store().PutUnsynced("batch/b/2", AllBytes()).ok());
  ASSERT_TRUE(store().PutUnsynced("batch/a/1", "uno").ok());  // overwrites, like Put
  EXPECT_EQ(*store().Get("batch/a/1"), "uno");
  EXPECT_EQ(*store().Get("batch/b/2"), AllBytes());
  ASSERT_TRUE(store().Sync().ok());
  EXPECT_EQ(ListAll(store(), "batch/").size(), 2u);
  EXPECT_EQ(store().PutUnsynced("../escape", "x").code(), StatusCode::kInvalidArgument);
}

TEST_P(BlobStoreConformance, PutIfAbsentStoresOnlyOnce) {
  ASSERT_TRUE(store().PutIfAbsent("once/k", "one").ok());
  EXPECT_EQ(store().PutIfAbsent("once/k", "two").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(*store().Get("once/k"), "one");
  ASSERT_TRUE(store().Delete("once/k").ok());
  ASSERT_TRUE(store().PutIfAbsent("once/k", "three").ok());
  EXPECT_EQ(*store().Get("once/k"), "three");
}

TEST_P(BlobStoreConformance, PutIfAbsentRaceStoresExactlyOne) {
  constexpr int kThreads = 8;
  for (int round = 0; round < 5; ++round) {
    std::string key = "race/" + std::to_string(round);
    std::latch start(kThreads);
    std::atomic<int> ok_count{0}, exists_count{0};
    std::atomic<int> winner{-1};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        core::Status status = store().PutIfAbsent(key, "writer-" + std::to_string(t));
        if (status.ok()) {
          ++ok_count;
          winner = t;
        } else if (status.code() == StatusCode::kAlreadyExists) {
          ++exists_count;
        }
      });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(ok_count.load(), 1) << key;
    EXPECT_EQ(exists_count.load(), kThreads - 1) << key;
    ASSERT_GE(winner.load(), 0);
    EXPECT_EQ(*store().Get(key), "writer-" + std::to_string(winner.load()));
  }
  EXPECT_EQ(ListAll(store(), "race/").size(), 5u);  // no stray entries
}

TEST_P(BlobStoreConformance, DeleteIsIdempotent) {
  EXPECT_TRUE(store().Delete("never/stored").ok());
  ASSERT_TRUE(store().Put("d/k", "v").ok());
  ASSERT_TRUE(store().Delete("d/k").ok());
  EXPECT_EQ(store().Get("d/k").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store().Delete("d/k").ok());
  EXPECT_TRUE(ListAll(store(), "").empty());
}

TEST_P(BlobStoreConformance, ListPrefixAndLexicographicOrder) {
  // Chosen so that a naive per-directory walk would get the order wrong: '-' < '/' < '0'.
  const std::vector<std::string> keys = {"a0",
                                         "a/y/z",
                                         "b",
                                         "a-b",
                                         "a/x",
                                         "pacs/1.2/3.4/6.dcm",
                                         "pacs/1.3/x.dcm",
                                         "pacs/1.2/3.4/5.dcm",
                                         "pacs/1.2/3.4-x/7.dcm"};
  for (const auto& key : keys) ASSERT_TRUE(store().Put(key, key + "!").ok()) << key;

  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  auto all = ListAll(store(), "");
  ASSERT_EQ(all.size(), sorted.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].first, sorted[i]);
    EXPECT_EQ(all[i].second, sorted[i].size() + 1);
  }

  auto keys_of = [&](std::string_view prefix) {
    std::vector<std::string> out;
    for (auto& [k, size] : ListAll(store(), prefix)) out.push_back(k);
    return out;
  };
  EXPECT_EQ(keys_of("a"), (std::vector<std::string>{"a-b", "a/x", "a/y/z", "a0"}));
  EXPECT_EQ(keys_of("a/"), (std::vector<std::string>{"a/x", "a/y/z"}));
  EXPECT_EQ(keys_of("pacs/1.2/3.4/"),
            (std::vector<std::string>{"pacs/1.2/3.4/5.dcm", "pacs/1.2/3.4/6.dcm"}));
  EXPECT_EQ(keys_of("pacs/1.2/3.4"),
            (std::vector<std::string>{"pacs/1.2/3.4-x/7.dcm", "pacs/1.2/3.4/5.dcm",
                                      "pacs/1.2/3.4/6.dcm"}));
  EXPECT_EQ(keys_of("pacs/1."),
            (std::vector<std::string>{"pacs/1.2/3.4-x/7.dcm", "pacs/1.2/3.4/5.dcm",
                                      "pacs/1.2/3.4/6.dcm", "pacs/1.3/x.dcm"}));
  EXPECT_EQ(keys_of("b"), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(keys_of("zzz").empty());
  EXPECT_TRUE(keys_of("pacs/1.2/3.4/5.dcmx").empty());
}

TEST_P(BlobStoreConformance, ListStopsEarly) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store().Put("s/" + std::to_string(i), "v").ok());
  std::vector<std::string> seen;
  ASSERT_TRUE(store()
                  .List("s/",
                        [&](const BlobInfo& info) {
                          seen.push_back(info.key);
                          return seen.size() < 2;
                        })
                  .ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"s/0", "s/1"}));
}

TEST_P(BlobStoreConformance, InvalidKeysAreRejected) {
  for (const std::string& key : InvalidKeys()) {
    EXPECT_EQ(store().Put(key, "x").code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store().PutIfAbsent(key, "x").code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store().Get(key).status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store().Size(key).status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store().Delete(key).code(), StatusCode::kInvalidArgument) << key;
  }
  EXPECT_TRUE(ListAll(store(), "").empty());
}

TEST_P(BlobStoreConformance, LargeBlob) {
  std::string big(8 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  ASSERT_TRUE(store().Put("big/blob", big).ok());
  auto got = store().Get("big/blob");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == big);
  EXPECT_EQ(*store().Size("big/blob"), big.size());
}

TEST_P(BlobStoreConformance, ConcurrentPutsOfDistinctKeys) {
  constexpr int kThreads = 8, kPerThread = 10;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string key = "c/" + std::to_string(t) + "/" + std::to_string(i);
        if (!store().Put(key, key).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  auto all = ListAll(store(), "c/");
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const auto& [key, size] : all) EXPECT_EQ(*store().Get(key), key);
}

TEST_P(BlobStoreConformance, GetRangeReadsOnlyThatRange) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 7 % 251));
  ASSERT_TRUE(store().Put("r/blob", data).ok());
  EXPECT_EQ(store().GetRange("r/blob", 0, 10).value(), data.substr(0, 10));
  EXPECT_EQ(store().GetRange("r/blob", 500, 123).value(), data.substr(500, 123));
  EXPECT_EQ(store().GetRange("r/blob", 990, 100).value(), data.substr(990));  // cut at the end
  EXPECT_EQ(store().GetRange("r/blob", 0, 5000).value(), data);
  EXPECT_EQ(store().GetRange("r/blob", 1000, 5).value(), "");
  EXPECT_EQ(store().GetRange("r/blob", 5000, 5).value(), "");
  EXPECT_EQ(store().GetRange("r/blob", 3, 0).value(), "");
  EXPECT_EQ(store().GetRange("r/missing", 0, 10).status().code(), core::StatusCode::kNotFound);
  EXPECT_EQ(store().GetRange("r/missing", 0, 0).status().code(), core::StatusCode::kNotFound);
  EXPECT_EQ(store().GetRange("../x", 0, 10).status().code(), core::StatusCode::kInvalidArgument);
}

// A reader giving `data` in chunks of at most `chunk` bytes (odd sizes, to cross any buffer).
BlobStore::Reader ChunkedReader(const std::string& data, size_t chunk) {
  auto offset = std::make_shared<size_t>(0);
  return [&data, chunk, offset](char* buf, size_t n) -> core::Result<size_t> {
    size_t take = std::min({n, chunk, data.size() - *offset});
    std::memcpy(buf, data.data() + *offset, take);
    *offset += take;
    return take;
  };
}

TEST_P(BlobStoreConformance, PutStreamStoresExactlyTheStream) {
  std::string data(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131) >> 3);
  ASSERT_TRUE(store().PutStream("s/big", data.size(), ChunkedReader(data, 99'991)).ok());
  EXPECT_EQ(store().Get("s/big").value(), data);
  ASSERT_TRUE(store().PutStream("s/empty", 0, ChunkedReader(data.substr(0, 0), 10)).ok());
  EXPECT_EQ(store().Get("s/empty").value(), "");
  // Overwrites, like Put.
  ASSERT_TRUE(store().PutStream("s/big", 5, ChunkedReader("hello", 2)).ok());
  EXPECT_EQ(store().Get("s/big").value(), "hello");
}

TEST_P(BlobStoreConformance, AFailedStreamStoresNothing) {
  const std::string data(200'000, 'x');
  // Shorter or longer than declared: InvalidArgument, nothing under the key.
  EXPECT_EQ(store().PutStream("f/short", data.size() + 1, ChunkedReader(data, 65'536)).code(),
            core::StatusCode::kInvalidArgument);
  EXPECT_EQ(store().PutStream("f/long", data.size() - 1, ChunkedReader(data, 65'536)).code(),
            core::StatusCode::kInvalidArgument);
  // The reader's own error comes back as it is.
  int calls = 0;
  BlobStore::Reader failing = [&calls](char* buf, size_t n) -> core::Result<size_t> {
    if (++calls > 2) return core::Status::Unavailable("the source went away");
    std::memset(buf, 'y', std::min<size_t>(n, 1000));
    return std::min<size_t>(n, 1000);
  };
  EXPECT_EQ(store().PutStream("f/broken", 10'000, failing).code(), core::StatusCode::kUnavailable);
  for (const char* key : {"f/short", "f/long", "f/broken"}) {
    EXPECT_EQ(store().Get(key).status().code(), core::StatusCode::kNotFound) << key;
  }
  EXPECT_TRUE(ListAll(store(), "f/").empty());
  EXPECT_EQ(store().PutStream("../x", 1, ChunkedReader("a", 1)).code(),
            core::StatusCode::kInvalidArgument);
}

TEST_P(BlobStoreConformance, DescribeIsNotEmpty) { EXPECT_FALSE(store().Describe().empty()); }

}  // namespace
}  // namespace imgpipe::blob
