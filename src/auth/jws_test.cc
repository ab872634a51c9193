// Base64url, JWK parsing and JWKS loading (the verifier's inputs before any token).
#include "auth/jws.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <fstream>

#include "auth/jwt.h"
#include "auth/jwt_testing.h"
#include "core/temp_dir.h"

namespace imgpipe::auth {
namespace {

using boost::json::array;
using boost::json::object;
using core::StatusCode;
using testing::TestKey;

TEST(Base64UrlTest, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    std::string encoded = jws::Base64UrlEncode(bytes);
    EXPECT_EQ(encoded.find_first_of("+/="), std::string::npos);
    std::optional<std::string> decoded = jws::Base64UrlDecode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(*decoded, bytes);
    bytes.push_back(static_cast<char>(i * 37 + 250));
  }
  // RFC 7515 appendix C.
  EXPECT_EQ(jws::Base64UrlEncode(std::string("\x03\xec\xff\xe0", 4)), "A-z_4A");
}

TEST(Base64UrlTest, IsStrict) {
  EXPECT_FALSE(jws::Base64UrlDecode("QQ==").has_value());    // padding
  EXPECT_FALSE(jws::Base64UrlDecode("A+z/4A").has_value());  // standard alphabet
  EXPECT_FALSE(jws::Base64UrlDecode("QUJD R").has_value());  // space
  EXPECT_FALSE(jws::Base64UrlDecode("QUJDR").has_value());   // length 1 mod 4
  EXPECT_FALSE(jws::Base64UrlDecode("QR").has_value());      // non-zero unused bits
  EXPECT_EQ(jws::Base64UrlDecode("QQ").value(), "A");
  EXPECT_EQ(jws::Base64UrlDecode("").value(), "");
}

class JwksTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new TestKey("RSA", "r");
    ec_ = new TestKey("P-256", "e");
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete ec_;
  }
  static core::Result<std::unique_ptr<JwtVerifier>> Load(const array& keys) {
    return JwtVerifier::FromJwks(boost::json::serialize(object{{"keys", keys}}), {});
  }
  static TestKey* rsa_;
  static TestKey* ec_;
};

TestKey* JwksTest::rsa_ = nullptr;
TestKey* JwksTest::ec_ = nullptr;

TEST_F(JwksTest, MalformedDocumentsAreInvalidArgument) {
  for (const char* text : {"", "{", "[]", "{\"keys\": 3}", "{\"keys\": [1]}", "{\"k\": []}"}) {
    auto v = JwtVerifier::FromJwks(text, {});
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument) << text;
  }
}

TEST_F(JwksTest, NoUsableKeyIsInvalidArgument) {
  object oct{{"kty", "oct"}, {"k", "c2VjcmV0"}};
  object okp{
      {"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}};
  auto v = Load(array{oct, okp});
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(v.status().message().find("no usable"), std::string::npos);
  EXPECT_FALSE(Load(array{}).ok());
}

TEST_F(JwksTest, EncryptionAndNonVerifyKeysAreSkipped) {
  object enc = rsa_->Jwk();
  enc["use"] = "enc";
  object sig = ec_->Jwk();
  sig["use"] = "sig";
  auto v = Load(array{enc, sig});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ((*v)->key_count(), 1u);
  EXPECT_FALSE(Load(array{enc}).ok());

  object sign_only = rsa_->Jwk();
  sign_only["key_ops"] = array{"sign"};
  object verify = rsa_->Jwk();
  verify["key_ops"] = array{"verify"};
  v = Load(array{sign_only, verify});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ((*v)->key_count(), 1u);
}

TEST_F(JwksTest, UnsupportedCurvesAndAlgsAreSkipped) {
  object p521{{"kty", "EC"}, {"crv", "P-521"}, {"x", "AA"}, {"y", "AA"}};
  object ps256 = rsa_->Jwk();
  ps256["alg"] = "PS256";
  auto v = Load(array{p521, ps256, ec_->Jwk()});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ((*v)->key_count(), 1u);
}

TEST_F(JwksTest, BrokenSupportedKeysAreInvalidArgument) {
  object no_n = rsa_->Jwk();
  no_n.erase("n");
  object bad_e = rsa_->Jwk();
  bad_e["e"] = "AQAB=";
  object even_e = rsa_->Jwk();
  even_e["e"] = "AQAA";
  object off_curve = ec_->Jwk();
  std::string y = *jws::Base64UrlDecode(off_curve["y"].as_string());
  y.back() ^= 1;
  off_curve["y"] = testing::B64(y);
  object short_x = ec_->Jwk();
  short_x["x"] = testing::B64(std::string(31, '\x01'));
  object rsa_pinned_es = rsa_->Jwk();
  rsa_pinned_es["alg"] = "ES256";
  for (const object& jwk : {no_n, bad_e, even_e, off_curve, short_x, rsa_pinned_es}) {
    auto v = Load(array{jwk, ec_->Jwk()});
    ASSERT_FALSE(v.ok()) << boost::json::serialize(jwk);
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(v.status().message().find("JWKS key 0"), std::string::npos);
  }
}

TEST_F(JwksTest, SmallRsaModulusIsSkipped) {
  object small = rsa_->Jwk();
  small["n"] = testing::B64(std::string(128, '\xC5'));  // 1024 bits
  auto v = Load(array{small, ec_->Jwk()});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ((*v)->key_count(), 1u);
}

TEST_F(JwksTest, PinnedAlgIsEnforced) {
  object pinned = rsa_->Jwk();
  pinned["alg"] = "RS256";
  auto v = Load(array{pinned});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  object header{{"alg", "RS384"}, {"kid", "r"}};
  object claims{{"exp", 2'000'000'000}};
  auto r = (*v)->Verify(testing::MakeToken(header, claims, rsa_), 1'700'000'000);
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  header["alg"] = "RS256";
  EXPECT_TRUE((*v)->Verify(testing::MakeToken(header, claims, rsa_), 1'700'000'000).ok());
}

TEST_F(JwksTest, FromFile) {
  core::TempDir dir("jwks");
  auto missing = JwtVerifier::FromJwksFile(dir.path() + "/none.json", {});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  std::string path = dir.path() + "/jwks.json";
  std::ofstream(path) << boost::json::serialize(object{{"keys", array{rsa_->Jwk()}}});
  auto v = JwtVerifier::FromJwksFile(path, {});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ((*v)->key_count(), 1u);
  std::ofstream(path) << "{\"keys\": [";
  auto bad = JwtVerifier::FromJwksFile(path, {});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find(path), std::string::npos);
}

}  // namespace
}  // namespace imgpipe::auth
