#include "pacs/render_cache.h"

#include <gtest/gtest.h>

namespace imgpipe::pacs {
namespace {

std::shared_ptr<const dicom::EncodedImage> Image(size_t bytes) {
  auto img = std::make_shared<dicom::EncodedImage>();
  img->bytes.assign(bytes, 'x');
  return img;
}

TEST(RenderCacheTest, HitsAndBoundedBytes) {
  RenderCache cache(16 * 10000);  // 10000 bytes per shard
  cache.Put("a", Image(1000));
  ASSERT_NE(cache.Get("a"), nullptr);
  EXPECT_EQ(cache.Get("a")->bytes.size(), 1000u);
  EXPECT_EQ(cache.Get("b"), nullptr);
  for (int i = 0; i < 2000; ++i) cache.Put("k" + std::to_string(i), Image(900));
  EXPECT_LE(cache.bytes(), 16u * 10000u);
  EXPECT_GT(cache.bytes(), 0u);
}

TEST(RenderCacheTest, EvictsLeastRecentlyUsed) {
  RenderCache cache(16 * 3000);
  // Find three keys in one shard by probing: the cache is sharded by std::hash.
  std::vector<std::string> same;
  size_t target = std::hash<std::string>{}("p0") % 16;
  for (int i = 0; same.size() < 3; ++i) {
    std::string k = "p" + std::to_string(i);
    if (std::hash<std::string>{}(k) % 16 == target) same.push_back(k);
  }
  cache.Put(same[0], Image(1000));
  cache.Put(same[1], Image(1000));
  ASSERT_NE(cache.Get(same[0]), nullptr);  // same[0] is now the most recent
  cache.Put(same[2], Image(1000));         // over 3000 with overhead: evicts same[1]
  EXPECT_NE(cache.Get(same[0]), nullptr);
  EXPECT_EQ(cache.Get(same[1]), nullptr);
  EXPECT_NE(cache.Get(same[2]), nullptr);
}

TEST(RenderCacheTest, DisabledCacheStoresNothing) {
  RenderCache cache(0);
  cache.Put("a", Image(10));
  EXPECT_EQ(cache.Get("a"), nullptr);
  EXPECT_EQ(cache.bytes(), 0u);
}

}  // namespace
}  // namespace imgpipe::pacs
