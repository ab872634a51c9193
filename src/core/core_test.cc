#include <gtest/gtest.h>

#include <set>

#include "core/ids.h"
#include "core/log.h"
#include "core/status.h"
#include "core/strings.h"
#include "core/uid.h"

namespace imgpipe::core {
namespace {

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = Status::NotFound("no such study");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "not_found: no such study");
  EXPECT_EQ(s.WithContext("loading").message(), "loading: no such study");
}

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("odd");
  return x / 2;
}

Status UseHalf(int x, int* out) {
  IMGPIPE_ASSIGN_OR_RETURN(*out, Half(x));
  return Status::Ok();
}

TEST(ResultTest, ValueOrError) {
  EXPECT_EQ(*Half(8), 4);
  EXPECT_EQ(Half(3).status().code(), StatusCode::kInvalidArgument);
  int v = 0;
  EXPECT_TRUE(UseHalf(10, &v).ok());
  EXPECT_EQ(v, 5);
  EXPECT_FALSE(UseHalf(7, &v).ok());
}

TEST(UidTest, AcceptsDicomUids) {
  EXPECT_TRUE(IsValidUid("1.2.840.10008.1.2.1"));
  EXPECT_TRUE(IsValidUid("2.25.123456789012345678901234567890"));
  EXPECT_TRUE(IsValidUid(std::string(64, '1')));
}

TEST(UidTest, RejectsEverythingElse) {
  EXPECT_FALSE(IsValidUid(""));
  EXPECT_FALSE(IsValidUid(std::string(65, '1')));
  EXPECT_FALSE(IsValidUid("../etc/passwd"));
  EXPECT_FALSE(IsValidUid("1..2"));
  EXPECT_FALSE(IsValidUid(".1.2"));
  EXPECT_FALSE(IsValidUid("1.2."));
  EXPECT_FALSE(IsValidUid("1.2'; DROP TABLE x;--"));
  EXPECT_FALSE(IsValidUid("1.2 3"));
  EXPECT_FALSE(IsValidUid(std::string_view("1.2\0.3", 5)));
  EXPECT_EQ(ValidateUid("x", "study_id").code(), StatusCode::kInvalidArgument);
}

TEST(UidTest, UidFromUuidIsTheDecimalOfTheBigEndianNumber) {
  std::array<uint8_t, 16> all;
  all.fill(0xFF);
  EXPECT_EQ(UidFromUuid(all), "2.25.340282366920938463463374607431768211455");
  std::array<uint8_t, 16> pattern;
  for (int i = 0; i < 16; ++i) pattern[i] = static_cast<uint8_t>(i % 2 == 0 ? 1 : 2);
  EXPECT_EQ(UidFromUuid(pattern), "2.25.1339633030679821829153134183526301954");
  EXPECT_EQ(UidFromUuid({}), "2.25.0");
}

TEST(UidTest, NewUidIsValidAndFresh) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string uid = NewUid();
    EXPECT_TRUE(IsValidUid(uid)) << uid;
    EXPECT_TRUE(uid.starts_with("2.25.")) << uid;
    EXPECT_LE(uid.size(), 44u);
    seen.insert(uid);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(IdsTest, UuidV7IsSortableAndVersioned) {
  std::string a = NewUuidV7();
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '7');
  EXPECT_TRUE(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b');  // variant
  std::set<std::string> seen;
  std::string previous = a;
  // Thousands per millisecond: strictly increasing all the same (the counter), never equal.
  for (int i = 0; i < 20000; ++i) {
    std::string id = NewUuidV7();
    EXPECT_LT(previous, id);
    EXPECT_TRUE(seen.insert(id).second);
    previous = id;
  }
}

TEST(IdsTest, TokensAndHashes) {
  EXPECT_EQ(RandomUrlSafeToken(16).size(), 22u);
  EXPECT_NE(RandomUrlSafeToken(16), RandomUrlSafeToken(16));
  EXPECT_EQ(ShortHash("abc"), ShortHash("abc"));
  EXPECT_NE(ShortHash("abc"), ShortHash("abd"));
  EXPECT_EQ(ShortHash("abc").size(), 8u);
  EXPECT_TRUE(IsAcceptableRequestId(NewRequestId()));
  EXPECT_FALSE(IsAcceptableRequestId("a b"));
  EXPECT_FALSE(IsAcceptableRequestId(std::string(65, 'a')));
}

TEST(LogTest, RequestIdScopesNest) {
  EXPECT_EQ(CurrentRequestId(), "-");
  {
    ScopedRequestId outer("r1");
    EXPECT_EQ(CurrentRequestId(), "r1");
    {
      ScopedRequestId inner("r2");
      EXPECT_EQ(CurrentRequestId(), "r2");
    }
    EXPECT_EQ(CurrentRequestId(), "r1");
  }
  EXPECT_EQ(CurrentRequestId(), "-");
  EXPECT_EQ(JsonEscape("a\"b\\\n\x01"), "a\\\"b\\\\\\n\\u0001");
}

TEST(StringsTest, AsciiLowerAndTrimSpace) {
  EXPECT_EQ(AsciiLower("Content-Type: GZIP \xC3\x9C"), "content-type: gzip \xC3\x9C");
  EXPECT_EQ(TrimSpace(" \t gzip;q=1 \r"), "gzip;q=1");
  EXPECT_EQ(TrimSpace(" \t\r "), "");
  EXPECT_EQ(TrimSpace("a b"), "a b");
}

}  // namespace
}  // namespace imgpipe::core
