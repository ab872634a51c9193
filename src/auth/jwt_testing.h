// Test support for the JWT verifier: key pairs made with OpenSSL, their JWKs, and tokens signed
// with them. Test code only (aborts on OpenSSL failures).
#pragma once

#include <boost/json/object.hpp>
#include <memory>
#include <string>
#include <string_view>

namespace imgpipe::auth::testing {

class TestKey {
 public:
  // kind: "RSA" (2048 bits), "P-256" or "P-384".
  TestKey(std::string kind, std::string kid);
  ~TestKey();
  TestKey(const TestKey&) = delete;
  TestKey& operator=(const TestKey&) = delete;

  const std::string& kid() const { return kid_; }
  // The public JWK ({"kty", "kid", "n"/"e" or "crv"/"x"/"y"}).
  boost::json::object Jwk() const;
  // The JWS signature of `input` with digest SHA-`bits` (256/384/512); for EC keys in the JOSE
  // raw form r||s.
  std::string Sign(std::string_view input, int bits) const;

 private:
  struct Impl;
  std::string kind_;
  std::string kid_;
  std::unique_ptr<Impl> impl_;
};

std::string B64(std::string_view bytes);

// "<b64(header)>.<b64(payload)>" signed with `key` (digest size from the alg's digits) unless
// `key` is null (an empty signature).
std::string MakeToken(const boost::json::object& header, const boost::json::object& payload,
                      const TestKey* key);

// HMAC-SHA256 of `data` with `secret`.
std::string HmacSha256(std::string_view secret, std::string_view data);

}  // namespace imgpipe::auth::testing
