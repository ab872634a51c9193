// JWS building blocks behind JwtVerifier (internal to auth): strict base64url, public keys
// built from JWKs (RFC 7517/7518) and signature checks with OpenSSL 3's EVP API.
//
// Thread-safety: a PublicKey is immutable once built; VerifySignature may be called on one key
// from any number of threads.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace imgpipe::auth::jws {

// Base64url without padding (RFC 7515 section 2). Strict: refuses '=', characters outside the
// URL-safe alphabet, a length of 1 mod 4, and non-zero unused bits in the last character, so
// every byte string has exactly one accepted encoding. nullopt when refused.
std::optional<std::string> Base64UrlDecode(std::string_view in);
std::string Base64UrlEncode(std::string_view bytes);

// The algorithms accepted; everything else ("none", HS*, PS*, EdDSA, ...) is kUnsupported.
enum class Alg { kUnsupported, kRs256, kRs384, kRs512, kEs256, kEs384 };
Alg ParseAlg(std::string_view name);

enum class KeyType { kRsa, kEcP256, kEcP384 };

// RSA moduli outside these bounds are not used: smaller ones are weak, larger ones make each
// check needlessly slow.
inline constexpr int kMinRsaBits = 2048;
inline constexpr int kMaxRsaBits = 8192;

class PublicKey {
 public:
  // What ParseJwk made of one member of a JWKS "keys" array.
  struct Parsed {
    std::unique_ptr<PublicKey> key;  // null when the JWK was skipped
    std::string skip_reason;         // why it was skipped (set when key is null)
  };
  // Builds the key of one JWK. Skipped (not an error): a kty other than "RSA"/"EC", a curve
  // other than P-256/P-384, "use" other than "sig", "key_ops" without "verify", an "alg" this
  // module does not accept, an RSA modulus outside [kMinRsaBits, kMaxRsaBits]. InvalidArgument:
  // a JWK of a supported type whose members are missing or malformed, or an EC point not on
  // its curve.
  static core::Result<Parsed> FromJwk(const boost::json::object& jwk);

  ~PublicKey();
  PublicKey(const PublicKey&) = delete;
  PublicKey& operator=(const PublicKey&) = delete;

  const std::string& kid() const { return kid_; }
  KeyType type() const { return type_; }
  // The "alg" the JWK pins the key to, kUnsupported when the JWK names none.
  Alg pinned_alg() const { return pinned_alg_; }
  // Whether `alg` may be used with this key: its family and, for ES*, its curve match, and it
  // equals the pinned alg when there is one.
  bool Fits(Alg alg) const;

  // Checks the JWS `signature` (raw bytes; for ES* the JOSE form r||s) over `signing_input`.
  // REQUIRES: Fits(alg).
  bool VerifySignature(Alg alg, std::string_view signing_input, std::string_view signature) const;

 private:
  struct Evp;
  PublicKey(std::string kid, KeyType type, Alg pinned_alg, std::unique_ptr<Evp> evp);
  std::string kid_;
  KeyType type_;
  Alg pinned_alg_;
  std::unique_ptr<Evp> evp_;
};

}  // namespace imgpipe::auth::jws
