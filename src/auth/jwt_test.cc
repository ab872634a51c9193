#include "auth/jwt.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <thread>

#include "auth/jws.h"
#include "auth/jwt_testing.h"

namespace imgpipe::auth {
namespace {

using boost::json::array;
using boost::json::object;
using core::StatusCode;
using testing::B64;
using testing::MakeToken;
using testing::TestKey;

constexpr int64_t kNow = 1'700'000'000;

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new TestKey("RSA", "rsa-1");
    other_rsa_ = new TestKey("RSA", "rsa-2");
    ec256_ = new TestKey("P-256", "ec-256");
    ec384_ = new TestKey("P-384", "ec-384");
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete other_rsa_;
    delete ec256_;
    delete ec384_;
  }

  void SetUp() override {
    options_.issuer = "https://issuer.example";
    options_.audience = "imgpipe";
    verifier_ = Load(Jwks({rsa_, ec256_, ec384_}));
  }

  static std::string Jwks(std::initializer_list<const TestKey*> keys) {
    array list;
    for (const TestKey* k : keys) list.push_back(k->Jwk());
    return boost::json::serialize(object{{"keys", list}});
  }
  std::unique_ptr<JwtVerifier> Load(const std::string& jwks) {
    auto v = JwtVerifier::FromJwks(jwks, options_);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? std::move(v).value() : nullptr;
  }

  static object Header(std::string alg, const TestKey* key) {
    object h{{"alg", alg}, {"typ", "JWT"}};
    if (key != nullptr) h["kid"] = key->kid();
    return h;
  }
  static object Claims() {
    return object{{"iss", "https://issuer.example"},
                  {"aud", "imgpipe"},
                  {"sub", "client-7"},
                  {"exp", kNow + 300},
                  {"iat", kNow - 10},
                  {"scope", "read jobs"}};
  }
  // A valid RS256 token of `claims`.
  static std::string Rs256(const object& claims) {
    return MakeToken(Header("RS256", rsa_), claims, rsa_);
  }

  // Expects `token` refused with Unauthenticated, a reason containing `reason`, and no part of
  // the token in the message.
  void ExpectRefused(const std::string& token, const std::string& reason) {
    core::Result<JwtClaims> r = verifier_->Verify(token, kNow);
    ASSERT_FALSE(r.ok()) << "accepted, expected: " << reason;
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << r.status().ToString();
    EXPECT_NE(r.status().message().find(reason), std::string::npos) << r.status().ToString();
    if (token.size() >= 8) {
      EXPECT_EQ(r.status().message().find(token.substr(0, 8)), std::string::npos);
    }
  }

  static TestKey* rsa_;
  static TestKey* other_rsa_;
  static TestKey* ec256_;
  static TestKey* ec384_;
  JwtOptions options_;
  std::unique_ptr<JwtVerifier> verifier_;
};

TestKey* JwtTest::rsa_ = nullptr;
TestKey* JwtTest::other_rsa_ = nullptr;
TestKey* JwtTest::ec256_ = nullptr;
TestKey* JwtTest::ec384_ = nullptr;

TEST_F(JwtTest, ValidTokensOfEveryAlgorithmPass) {
  ASSERT_EQ(verifier_->key_count(), 3u);
  const std::pair<const char*, const TestKey*> cases[] = {
      {"RS256", rsa_}, {"RS384", rsa_}, {"RS512", rsa_}, {"ES256", ec256_}, {"ES384", ec384_}};
  for (const auto& [alg, key] : cases) {
    object claims = Claims();
    claims["scp"] = array{"push", "read"};
    core::Result<JwtClaims> r = verifier_->Verify(MakeToken(Header(alg, key), claims, key), kNow);
    ASSERT_TRUE(r.ok()) << alg << ": " << r.status().ToString();
    EXPECT_EQ(r->subject, "client-7");
    EXPECT_EQ(r->scopes, (std::vector<std::string>{"read", "jobs", "push"})) << alg;
    EXPECT_EQ(r->expires_at_s, kNow + 300);
  }
}

TEST_F(JwtTest, ScpMayBeASpaceSeparatedString) {
  object claims = Claims();
  claims.erase("scope");
  claims["scp"] = "a b  c";
  auto r = verifier_->Verify(Rs256(claims), kNow);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->scopes, (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(JwtTest, KidMayBeOmittedOnlyWithASingleKey) {
  ExpectRefused(MakeToken(Header("RS256", nullptr), Claims(), rsa_), "no key id");
  std::unique_ptr<JwtVerifier> single = Load(Jwks({rsa_}));
  EXPECT_TRUE(single->Verify(MakeToken(Header("RS256", nullptr), Claims(), rsa_), kNow).ok());
}

TEST_F(JwtTest, TimeClaimsWithLeeway) {
  object claims = Claims();
  claims["exp"] = kNow - 61;
  ExpectRefused(Rs256(claims), "expired");
  claims["exp"] = kNow - 30;  // within the 60 s leeway
  EXPECT_TRUE(verifier_->Verify(Rs256(claims), kNow).ok());
  claims["exp"] = static_cast<double>(kNow) + 100.5;  // a NumericDate may have a fraction
  EXPECT_TRUE(verifier_->Verify(Rs256(claims), kNow).ok());

  claims = Claims();
  claims["nbf"] = kNow + 120;
  ExpectRefused(Rs256(claims), "not yet valid");
  claims["nbf"] = kNow + 30;
  EXPECT_TRUE(verifier_->Verify(Rs256(claims), kNow).ok());

  claims = Claims();
  claims["iat"] = kNow + 3600;
  ExpectRefused(Rs256(claims), "issued in the future");
}

TEST_F(JwtTest, ExpIsRequiredAndANumber) {
  object claims = Claims();
  claims.erase("exp");
  ExpectRefused(Rs256(claims), "no expiry");
  claims["exp"] = std::to_string(kNow + 300);
  ExpectRefused(Rs256(claims), "not a number");
  claims["exp"] = true;
  ExpectRefused(Rs256(claims), "not a number");
}

TEST_F(JwtTest, IssuerMustMatch) {
  object claims = Claims();
  claims["iss"] = "https://evil.example";
  ExpectRefused(Rs256(claims), "wrong issuer");
  claims.erase("iss");
  ExpectRefused(Rs256(claims), "wrong issuer");
  claims["iss"] = 7;
  ExpectRefused(Rs256(claims), "issuer");
}

TEST_F(JwtTest, AudienceStringOrArray) {
  object claims = Claims();
  claims["aud"] = "someone-else";
  ExpectRefused(Rs256(claims), "wrong audience");
  claims["aud"] = array{"a", "b"};
  ExpectRefused(Rs256(claims), "wrong audience");
  claims["aud"] = array{};
  ExpectRefused(Rs256(claims), "wrong audience");
  claims.erase("aud");
  ExpectRefused(Rs256(claims), "wrong audience");
  claims["aud"] = array{"a", "imgpipe"};
  EXPECT_TRUE(verifier_->Verify(Rs256(claims), kNow).ok());
}

TEST_F(JwtTest, UncheckedIssuerAndAudienceMayBeAnything) {
  options_.issuer.clear();
  options_.audience.clear();
  verifier_ = Load(Jwks({rsa_}));
  object claims = Claims();
  claims["iss"] = "https://other.example";
  claims["aud"] = array{"x"};
  EXPECT_TRUE(verifier_->Verify(Rs256(claims), kNow).ok());
}

TEST_F(JwtTest, TamperedTokensAreRefused) {
  std::string good = Rs256(Claims());
  object evil = Claims();
  evil["sub"] = "admin";
  std::string forged = Rs256(evil);
  // Payload of one token with the signature of another.
  size_t d1 = good.find('.'), d2 = good.rfind('.');
  size_t e1 = forged.find('.'), e2 = forged.rfind('.');
  ExpectRefused(good.substr(0, d1) + forged.substr(e1, e2 - e1) + good.substr(d2), "signature");
  // One signature character changed.
  std::string flipped = good;
  flipped[d2 + 5] = flipped[d2 + 5] == 'A' ? 'B' : 'A';
  ExpectRefused(flipped, "signature");
  // A signature one byte short, and one byte long.
  std::string sig = *jws::Base64UrlDecode(good.substr(d2 + 1));
  ExpectRefused(good.substr(0, d2 + 1) + B64(sig.substr(1)), "signature");
  ExpectRefused(good.substr(0, d2 + 1) + B64(sig + '\0'), "signature");
}

TEST_F(JwtTest, WrongOrUnknownKeyIsRefused) {
  // Signed by a key outside the set, naming a key inside it.
  ExpectRefused(MakeToken(Header("RS256", rsa_), Claims(), other_rsa_), "signature");
  ExpectRefused(MakeToken(Header("RS256", other_rsa_), Claims(), other_rsa_), "unknown key id");
  object header = Header("ES256", ec256_);
  header["kid"] = 42;
  ExpectRefused(MakeToken(header, Claims(), ec256_), "kid");
}

TEST_F(JwtTest, NoneAndUnknownAlgorithmsAreRefused) {
  ExpectRefused(MakeToken(Header("none", rsa_), Claims(), nullptr), "algorithm not accepted");
  ExpectRefused(MakeToken(Header("None", nullptr), Claims(), nullptr), "algorithm not accepted");
  ExpectRefused(MakeToken(Header("PS256", rsa_), Claims(), rsa_), "algorithm not accepted");
  ExpectRefused(MakeToken(Header("ES512", ec384_), Claims(), ec384_), "algorithm not accepted");
  object no_alg = Header("RS256", rsa_);
  no_alg.erase("alg");
  ExpectRefused(MakeToken(no_alg, Claims(), rsa_), "no algorithm");
}

// The key-confusion attack: HS256 with the RSA public key (as the JWK's modulus bytes, or as
// the JWK text) as the HMAC secret must not pass.
TEST_F(JwtTest, Hs256WithThePublicKeyAsSecretIsRefused) {
  std::string n = *jws::Base64UrlDecode(rsa_->Jwk().at("n").as_string());
  std::string jwk_text = boost::json::serialize(rsa_->Jwk());
  for (const std::string& secret : {n, jwk_text}) {
    std::string input = B64(boost::json::serialize(Header("HS256", rsa_))) + "." +
                        B64(boost::json::serialize(Claims()));
    ExpectRefused(input + "." + B64(testing::HmacSha256(secret, input)), "algorithm not accepted");
  }
}

TEST_F(JwtTest, AlgorithmMustFitTheKey) {
  // An ES256 header on the RSA key, and RS256 on an EC key (each signed by the named key).
  std::string input = B64(boost::json::serialize(Header("ES256", rsa_))) + "." +
                      B64(boost::json::serialize(Claims()));
  ExpectRefused(input + "." + B64(rsa_->Sign(input, 256)), "does not fit");
  ExpectRefused(MakeToken(Header("RS256", ec256_), Claims(), ec256_), "does not fit");
  // ES384 on the P-256 key.
  ExpectRefused(MakeToken(Header("ES384", ec256_), Claims(), ec256_), "does not fit");
}

TEST_F(JwtTest, EcSignatureMustBeRawOfTheRightLength) {
  std::string good = MakeToken(Header("ES256", ec256_), Claims(), ec256_);
  size_t dot = good.rfind('.');
  std::string raw = *jws::Base64UrlDecode(good.substr(dot + 1));
  ASSERT_EQ(raw.size(), 64u);
  std::string prefix = good.substr(0, dot + 1);
  ExpectRefused(prefix + B64(std::string(64, '\0')), "signature");  // r = s = 0
  ExpectRefused(prefix + B64(raw + '\0'), "signature");
  ExpectRefused(prefix + B64(raw.substr(1)), "signature");
  // The same signature in DER form.
  std::string der = "\x30\x44\x02\x20" + raw.substr(0, 32) + "\x02\x20" + raw.substr(32);
  ExpectRefused(prefix + B64(der), "signature");
}

TEST_F(JwtTest, MalformedTokensAreRefused) {
  std::string good = Rs256(Claims());
  ExpectRefused(good + "=", "base64url");
  ExpectRefused("+" + good.substr(1), "base64url");
  ExpectRefused(good.substr(0, good.find('.')) + "=" + good.substr(good.find('.')), "base64url");
  ExpectRefused(good.substr(0, good.rfind('.')), "compact JWS");  // 2 parts
  ExpectRefused(good + ".e30", "compact JWS");                    // 4 parts
  ExpectRefused("", "compact JWS");
  ExpectRefused("..", "header");
  ExpectRefused(B64("{\"alg\":\"RS256\"") + "." + B64("{}") + ".", "header");
  ExpectRefused(B64("[1,2]") + "." + B64("{}") + ".", "header");
  object header = Header("RS256", rsa_);
  header["crit"] = array{"exp"};
  ExpectRefused(MakeToken(header, Claims(), rsa_), "critical");
}

TEST_F(JwtTest, GarbagePayloadWithAValidSignatureIsRefused) {
  for (std::string payload : {"not json", "[\"exp\"]", "{\"exp\":1e999}"}) {
    std::string input = B64(boost::json::serialize(Header("RS256", rsa_))) + "." + B64(payload);
    core::Result<JwtClaims> r = verifier_->Verify(input + "." + B64(rsa_->Sign(input, 256)), kNow);
    ASSERT_FALSE(r.ok()) << payload;
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  }
}

TEST_F(JwtTest, OversizeTokensAreRefusedFirst) {
  object claims = Claims();
  claims["pad"] = std::string(11'800, 'x');
  std::string just_fits = Rs256(claims);
  ASSERT_LE(just_fits.size(), 16u * 1024);
  EXPECT_TRUE(verifier_->Verify(just_fits, kNow).ok());
  claims["pad"] = std::string(12'500, 'x');
  ExpectRefused(Rs256(claims), "too large");
  ExpectRefused(std::string(16 * 1024 + 1, 'A'), "too large");
}

TEST_F(JwtTest, VerifiesFromManyThreads) {
  std::string rs = Rs256(Claims());
  std::string es = MakeToken(Header("ES256", ec256_), Claims(), ec256_);
  std::string bad = MakeToken(Header("RS256", rsa_), Claims(), other_rsa_);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        if (!verifier_->Verify(rs, kNow).ok() || !verifier_->Verify(es, kNow).ok() ||
            verifier_->Verify(bad, kNow).ok()) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace imgpipe::auth
