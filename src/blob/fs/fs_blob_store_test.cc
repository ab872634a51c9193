#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "blob/blob_store_conformance.h"
#include "core/temp_dir.h"

namespace imgpipe::blob {
namespace {

namespace stdfs = std::filesystem;
using core::StatusCode;

// Temp folders named for this suite.
class TempDir : public core::TempDir {
 public:
  TempDir() : core::TempDir("blob") {}
};

// An FsBlobStore that owns (and removes) its temp folder, for the conformance suite.
class TempFsStore final : public BlobStore {
 public:
  TempFsStore() : inner_(std::move(NewFsBlobStore(dir_.path() + "/root").value())) {}
  core::Status Put(std::string_view k, std::string_view d) override { return inner_->Put(k, d); }
  core::Status PutIfAbsent(std::string_view k, std::string_view d) override {
    return inner_->PutIfAbsent(k, d);
  }
  core::Status PutUnsynced(std::string_view k, std::string_view d) override {
    return inner_->PutUnsynced(k, d);
  }
  core::Status Sync() override { return inner_->Sync(); }
  core::Result<std::string> Get(std::string_view k) override { return inner_->Get(k); }
  core::Result<uint64_t> Size(std::string_view k) override { return inner_->Size(k); }
  core::Status Delete(std::string_view k) override { return inner_->Delete(k); }
  core::Status List(std::string_view p, const std::function<bool(const BlobInfo&)>& v) override {
    return inner_->List(p, v);
  }
  std::string Describe() const override { return inner_->Describe(); }

 private:
  TempDir dir_;
  std::unique_ptr<BlobStore> inner_;
};

IMGPIPE_INSTANTIATE_BLOB_STORE_CONFORMANCE(Fs, [] { return std::make_unique<TempFsStore>(); });

// Names anywhere under `root` that are not plain key segments (temp files).
std::vector<std::string> StrayFiles(const std::string& root) {
  std::vector<std::string> stray;
  for (const auto& entry : stdfs::recursive_directory_iterator(root)) {
    std::string name = entry.path().filename().string();
    if (!IsValidKey(name)) stray.push_back(entry.path().string());
  }
  return stray;
}

class FsBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() + "/blobs";
    auto store = NewFsBlobStore(root_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  TempDir dir_;
  std::string root_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(FsBlobStoreTest, KeyMapsToPathUnderRoot) {
  ASSERT_TRUE(store_->Put("pacs/1.2/3.4/5.dcm", "DICM").ok());
  std::ifstream in(root_ + "/pacs/1.2/3.4/5.dcm", std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "DICM");
  EXPECT_EQ(store_->Describe(), "fs:" + root_);
}

// Many threads writing unsynced blobs and syncing share flushes (one leads, the others wait for
// a flush that covers their blobs): every Sync succeeds and every blob is there, whether a flush
// took the few-files path or the syncfs one.
TEST_F(FsBlobStoreTest, ConcurrentSyncsCoverEveryThreadsBlobs) {
  EXPECT_TRUE(store_->Sync().ok());  // nothing written yet
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        std::string job = "results/job-" + std::to_string(t) + "-" + std::to_string(i);
        if (!store_->PutUnsynced(job + "/image.png", "png " + job).ok()) ++failures;
        if (!store_->PutUnsynced(job + "/result.dcm", "dcm " + job).ok()) ++failures;
        if (!store_->Sync().ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  int listed = 0;
  ASSERT_TRUE(store_->List("results/", [&](const BlobInfo&) { return ++listed > 0; }).ok());
  EXPECT_EQ(listed, 8 * 30 * 2);
  EXPECT_EQ(*store_->Get("results/job-7-29/result.dcm"), "dcm results/job-7-29");
}

TEST_F(FsBlobStoreTest, DataSurvivesReopen) {
  ASSERT_TRUE(store_->Put("results/job/image.png", "png").ok());
  store_.reset();
  auto reopened = NewFsBlobStore(root_ + "/");
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(*(*reopened)->Get("results/job/image.png"), "png");
}

TEST_F(FsBlobStoreTest, FailedPutLeavesNothingBehind) {
  ASSERT_TRUE(store_->Put("a/b", "keep").ok());
  // The temp file is written, then the rename onto the directory "a" fails.
  core::Status onto_dir = store_->Put("a", "data");
  EXPECT_FALSE(onto_dir.ok());
  EXPECT_EQ(onto_dir.code(), StatusCode::kConflict) << onto_dir.ToString();
  core::Status if_absent_onto_dir = store_->PutIfAbsent("a", "data");
  EXPECT_EQ(if_absent_onto_dir.code(), StatusCode::kConflict) << if_absent_onto_dir.ToString();
  // A parent path component is an existing file.
  EXPECT_FALSE(store_->Put("a/b/c", "data").ok());
  EXPECT_FALSE(store_->PutIfAbsent("a/b/c/d", "data").ok());

  EXPECT_TRUE(StrayFiles(root_).empty());
  EXPECT_EQ(*store_->Get("a/b"), "keep");
  std::vector<std::string> keys;
  ASSERT_TRUE(store_
                  ->List("",
                         [&](const BlobInfo& i) {
                           keys.push_back(i.key);
                           return true;
                         })
                  .ok());
  EXPECT_EQ(keys, std::vector<std::string>{"a/b"});
}

TEST_F(FsBlobStoreTest, ListSkipsTempFiles) {
  ASSERT_TRUE(store_->Put("x/y", "v").ok());
  std::ofstream(root_ + "/.tmp~0123456789abcdef") << "partial";
  std::ofstream(root_ + "/x/.tmp~fedcba9876543210") << "partial";
  std::vector<std::string> keys;
  ASSERT_TRUE(store_
                  ->List("",
                         [&](const BlobInfo& i) {
                           keys.push_back(i.key);
                           return true;
                         })
                  .ok());
  EXPECT_EQ(keys, std::vector<std::string>{"x/y"});
}

// Readers never observe a partial blob while two writers keep replacing it.
TEST_F(FsBlobStoreTest, ReadersNeverSeePartialBlob) {
  const std::string version_a(256 * 1024, 'A');
  const std::string version_b(512 * 1024, 'B');
  ASSERT_TRUE(store_->Put("hot/key", version_a).ok());

  std::atomic<bool> done{false};
  std::atomic<int> bad_reads{0}, reads{0}, write_errors{0};
  std::vector<std::thread> writers, readers;
  for (const std::string* version : {&version_a, &version_b}) {
    writers.emplace_back([&, version] {
      for (int i = 0; i < 15; ++i) {
        if (!store_->Put("hot/key", *version).ok()) ++write_errors;
      }
    });
  }
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!done.load()) {
        auto got = store_->Get("hot/key");
        ++reads;
        if (!got.ok() || (*got != version_a && *got != version_b)) ++bad_reads;
        std::vector<std::string> keys;
        (void)store_->List("hot/", [&](const BlobInfo& i) {
          keys.push_back(i.key);
          return true;
        });
        if (keys != std::vector<std::string>{"hot/key"}) ++bad_reads;
      }
    });
  }
  for (auto& t : writers) t.join();
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(write_errors.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(bad_reads.load(), 0);
  EXPECT_TRUE(StrayFiles(root_).empty());
}

TEST(FsBlobStoreOpenTest, UncreatableRootIsUnavailable) {
  TempDir dir;
  std::string file = dir.path() + "/a-file";
  std::ofstream(file) << "x";
  std::string root = file + "/blobs";
  auto store = NewFsBlobStore(root);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(store.status().message().find(root), std::string::npos) << store.status().message();
}

TEST(FsBlobStoreOpenTest, EmptyRootIsInvalid) {
  EXPECT_EQ(NewFsBlobStore("").status().code(), StatusCode::kInvalidArgument);
}

TEST(FsBlobStoreOpenTest, CreatesNestedRootAndLeavesNoProbe) {
  TempDir dir;
  std::string root = dir.path() + "/x/y/z";
  auto store = NewFsBlobStore(root);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_TRUE(stdfs::is_directory(root));
  EXPECT_TRUE(stdfs::is_empty(root));
}

}  // namespace
}  // namespace imgpipe::blob
