#include "auth/keys.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "core/temp_dir.h"

namespace imgpipe::auth {
namespace {

TEST(KeysTest, NewKeysAreLongAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string key = NewKey();
    EXPECT_EQ(key.size(), 43u);
    EXPECT_EQ(
        key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
    seen.insert(key);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(KeysTest, DigestIsSha256Hex) {
  // FIPS 180-4 example "abc".
  EXPECT_EQ(KeyDigestHex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(KeysTest, ContainsOnlyAddedKeys) {
  KeySet keys;
  EXPECT_FALSE(keys.Contains("0123456789abcdef"));
  ASSERT_TRUE(keys.AddKey("0123456789abcdef").ok());
  ASSERT_TRUE(keys.AddDigestHex(KeyDigestHex("another-key-of-16+")).ok());
  EXPECT_TRUE(keys.Contains("0123456789abcdef"));
  EXPECT_TRUE(keys.Contains("another-key-of-16+"));
  EXPECT_FALSE(keys.Contains("0123456789abcdeF"));
  EXPECT_FALSE(keys.Contains("0123456789abcde"));
  EXPECT_FALSE(keys.Contains(""));
  EXPECT_EQ(keys.size(), 2u);
}

TEST(KeysTest, RefusesShortKeysAndBadDigests) {
  KeySet keys;
  EXPECT_EQ(keys.AddKey("short").code(), core::StatusCode::kInvalidArgument);
  EXPECT_EQ(keys.AddDigestHex("abc").code(), core::StatusCode::kInvalidArgument);
  EXPECT_EQ(keys.AddDigestHex(std::string(64, 'g')).code(), core::StatusCode::kInvalidArgument);
  EXPECT_TRUE(keys.empty());
}

TEST(KeysTest, ReadsKeyFilesAndNamesTheBadLineNotItsContent) {
  core::TempDir dir;
  std::string path = dir.path() + "/keys";
  {
    std::ofstream out(path);
    out << "# API keys\n\n  first-key-0123456789  \nsha256:"
        << KeyDigestHex("second-key-0123456789") << "\n";
  }
  KeySet keys;
  ASSERT_TRUE(keys.AddFile(path).ok());
  EXPECT_TRUE(keys.Contains("first-key-0123456789"));
  EXPECT_TRUE(keys.Contains("second-key-0123456789"));
  EXPECT_EQ(keys.size(), 2u);

  {
    std::ofstream out(path);
    out << "good-key-0123456789\nsecret!\n";
  }
  core::Status st = KeySet().AddFile(path);
  EXPECT_EQ(st.code(), core::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("line 2"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find("secret!"), std::string::npos) << st.message();

  EXPECT_EQ(KeySet().AddFile(dir.path() + "/missing").code(), core::StatusCode::kNotFound);
}

}  // namespace
}  // namespace imgpipe::auth
