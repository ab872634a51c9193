// Bearer tokens from an OpenID Connect style issuer: JWTs (RFC 7519) in compact JWS form
// (RFC 7515), signed with a key of a JWKS file (RFC 7517) the operator downloads from the
// issuer. No network: the key set is read from a file at start.
//
// Accepted: RS256, RS384, RS512 (RSA keys, kty "RSA", 2048 to 8192 bits) and ES256 (EC P-256),
// ES384 (EC P-384); the signature must be RSASSA-PKCS1-v1_5 of the modulus' length, or the JOSE raw
// r||s of the curve's size. Refused whatever the key set holds: "none", HS* (a shared secret would
// let any holder of the key set mint tokens) and any other alg, an alg that does not fit its key
// (type, curve, or the JWK's own "alg"), and a header with "crit". A token must name its key
// ("kid") when the set holds more than one key; with one key "kid" may be omitted. Base64url is
// strict (no padding, URL-safe alphabet only, canonical). Claims checked: exp (required, a JSON
// number), nbf and iat when present (with `leeway`; iat may not lie in the future), iss (must equal
// `issuer` when set), aud (a string or an array that must contain `audience` when set); sub, scope
// and scp must have the types below when present. The payload is parsed only once the signature
// holds. On duplicate JSON member names the last one counts (RFC 7519 section 4).
//
// Thread-safety: a loaded JwtVerifier is immutable; Verify may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace imgpipe::auth {

struct JwtOptions {
  std::string issuer;    // expected "iss"; empty: not checked
  std::string audience;  // expected in "aud"; empty: not checked
  std::chrono::seconds leeway{60};
};

struct JwtClaims {
  std::string subject;  // "sub" ("" when absent)
  // "scope" (a string) split at spaces, then "scp" (an array of strings, or one string split at
  // spaces); each scope once, in order of first appearance.
  std::vector<std::string> scopes;
  int64_t expires_at_s = 0;  // "exp" (a fraction rounded down)
};

class JwtVerifier {
 public:
  // Parses a JWKS document ({"keys": [...]}). Skipped: keys of unsupported types or curves, uses
  // ("use" other than "sig", "key_ops" without "verify"), an "alg" not accepted, RSA moduli
  // outside 2048..8192 bits. InvalidArgument when the JSON is malformed, when a key of a supported
  // type is broken (members missing or not base64url, an EC point off its curve; the message
  // names the key's index), or when no usable key remains.
  static core::Result<std::unique_ptr<JwtVerifier>> FromJwks(std::string_view jwks_json,
                                                             const JwtOptions& options);
  // Reads the JWKS file at `path` (at most 1 MiB) then as FromJwks; NotFound / InvalidArgument
  // name the file.
  static core::Result<std::unique_ptr<JwtVerifier>> FromJwksFile(const std::string& path,
                                                                 const JwtOptions& options);
  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // The claims of `token` when its signature, algorithm and claims are valid at `now_s` (seconds
  // since the epoch); otherwise Unauthenticated with a reason fit for the client ("token
  // expired", "unknown key id", ...). Never logs the token. Bounded work: tokens over 16 KiB are
  // refused before decoding.
  core::Result<JwtClaims> Verify(std::string_view token, int64_t now_s) const;

  size_t key_count() const;

 private:
  struct Key;
  JwtVerifier(std::vector<std::unique_ptr<Key>> keys, JwtOptions options);
  std::vector<std::unique_ptr<Key>> keys_;
  JwtOptions options_;
};

}  // namespace imgpipe::auth
