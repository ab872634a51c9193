// Cross-check against an independent implementation: tokens and a JWKS made by
// tests/api/jwt_vectors.py (Debian's python3-jwt and python3-cryptography) in the directory
// $IMGPIPE_JWT_VECTORS_DIR, each with its expected outcome. Its own binary, run only by CTest's
// auth_jwt_pyjwt (tests/api/run_jwt_vectors.sh), which makes the vectors and sets the variable;
// without it the test fails (it is never skipped).
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "auth/jwt.h"

namespace imgpipe::auth {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(JwtPyJwtVectorsTest, EveryVectorHasItsExpectedOutcome) {
  const char* dir = std::getenv("IMGPIPE_JWT_VECTORS_DIR");
  ASSERT_TRUE(dir != nullptr && *dir != '\0')
      << "IMGPIPE_JWT_VECTORS_DIR is not set: run through CTest's auth_jwt_pyjwt";
  std::string vectors_text = ReadFile(std::string(dir) + "/vectors.json");
  ASSERT_FALSE(vectors_text.empty()) << "no vectors.json in " << dir;
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(vectors_text, ec);
  ASSERT_FALSE(ec) << ec.message();

  JwtOptions options;
  options.issuer = std::string(doc.at("issuer").as_string());
  options.audience = std::string(doc.at("audience").as_string());
  options.leeway = std::chrono::seconds(doc.at("leeway_s").to_number<int64_t>());
  auto verifier = JwtVerifier::FromJwksFile(std::string(dir) + "/jwks.json", options);
  ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
  EXPECT_EQ((*verifier)->key_count(), 3u);  // the "use":"enc" key is skipped
  int64_t now = doc.at("now").to_number<int64_t>();

  const boost::json::array& vectors = doc.at("vectors").as_array();
  int valid = 0, invalid = 0;
  for (const boost::json::value& v : vectors) {
    std::string name(v.at("name").as_string());
    bool expect_valid = v.at("valid").as_bool();
    core::Result<JwtClaims> r = (*verifier)->Verify(v.at("token").as_string(), now);
    (expect_valid ? valid : invalid)++;
    if (!expect_valid) {
      EXPECT_FALSE(r.ok()) << name << " accepted";
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), core::StatusCode::kUnauthenticated) << name;
      }
      continue;
    }
    ASSERT_TRUE(r.ok()) << name << ": " << r.status().ToString();
    EXPECT_EQ(r->subject, v.at("sub").as_string()) << name;
    EXPECT_EQ(r->expires_at_s, v.at("exp").to_number<int64_t>()) << name;
    std::vector<std::string> scopes;
    for (const boost::json::value& s : v.at("scopes").as_array()) {
      scopes.emplace_back(s.as_string());
    }
    EXPECT_EQ(r->scopes, scopes) << name;
  }
  // The script's set: all five algorithms valid, and the refusals (a floor, so an emptied
  // generator cannot pass).
  EXPECT_GE(valid, 5);
  EXPECT_GE(invalid, 20);
}

}  // namespace
}  // namespace imgpipe::auth
