// Bearer tokens from an OpenID Connect style issuer: JWTs (RFC 7519) in compact JWS form
// (RFC 7515), signed with a key of a JWKS file (RFC 7517) the operator downloads from the
// issuer. No network: the key set is read from a file at start.
//
// Accepted: RS256, RS384, RS512 (RSA keys, kty "RSA") and ES256, ES384 (EC keys, kty "EC", curves
// P-256, P-384). Refused whatever the key set holds: "none", HS* (a shared secret would let any
// holder of the key set mint tokens) and any other alg. A token must name its key ("kid") when the
// set holds more than one key. Claims checked: exp (required), nbf and iat when present (with
// `leeway`), iss (must equal `issuer` when set), aud (a string or an array that must contain
// `audience` when set).
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
  std::string subject;              // "sub" ("" when absent)
  std::vector<std::string> scopes;  // "scope" split at spaces, plus the strings of "scp"
  int64_t expires_at_s = 0;         // "exp"
};

class JwtVerifier {
 public:
  // Parses a JWKS document ({"keys": [...]}). Keys of unsupported types or uses ("use" other than
  // "sig") are skipped; InvalidArgument when no usable key remains or the JSON is malformed.
  static core::Result<std::unique_ptr<JwtVerifier>> FromJwks(std::string_view jwks_json,
                                                             const JwtOptions& options);
  // Reads the JWKS file at `path` then as FromJwks; NotFound / InvalidArgument name the file.
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
