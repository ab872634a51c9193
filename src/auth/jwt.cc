#include "auth/jwt.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <fstream>
#include <iterator>

#include "auth/jws.h"

namespace imgpipe::auth {
namespace {

using core::Status;

constexpr size_t kMaxTokenBytes = 16 * 1024;
constexpr size_t kMaxJwksBytes = 1024 * 1024;
// Bounds on NumericDates, `now` and the leeway so their sums cannot overflow.
constexpr int64_t kTimeBound = int64_t{1} << 50;

Status Refused(std::string reason) { return Status::Unauthenticated(std::move(reason)); }

int64_t Clamp(int64_t v) { return std::clamp(v, -kTimeBound, kTimeBound); }

// Parses `text` as a JSON object; nullopt when it is not one. Never throws on malformed input.
std::optional<boost::json::object> ParseObject(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

// A NumericDate (RFC 7519 section 2): any JSON number, fractions truncated toward -inf.
// nullopt for anything else (strings, booleans, infinities).
std::optional<int64_t> NumericDate(const boost::json::value& v) {
  if (const int64_t* i = v.if_int64()) return Clamp(*i);
  if (const uint64_t* u = v.if_uint64()) {
    return *u > static_cast<uint64_t>(kTimeBound) ? kTimeBound : static_cast<int64_t>(*u);
  }
  if (const double* d = v.if_double()) {
    if (!std::isfinite(*d)) return std::nullopt;
    double bounded = std::clamp(std::floor(*d), -static_cast<double>(kTimeBound),
                                static_cast<double>(kTimeBound));
    return static_cast<int64_t>(bounded);
  }
  return std::nullopt;
}

// Adds the words of `text` (split at spaces) to `out`, skipping ones already there.
void AddScopes(std::string_view text, std::vector<std::string>& out) {
  while (!text.empty()) {
    size_t end = text.find(' ');
    std::string_view word = text.substr(0, end);
    if (!word.empty() && std::find(out.begin(), out.end(), word) == out.end()) {
      out.emplace_back(word);
    }
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

core::Result<JwtClaims> CheckClaims(const boost::json::object& payload, const JwtOptions& options,
                                    int64_t now_s) {
  int64_t now = Clamp(now_s);
  int64_t leeway = std::clamp<int64_t>(options.leeway.count(), 0, kTimeBound);
  JwtClaims claims;

  const boost::json::value* exp = payload.if_contains("exp");
  if (exp == nullptr) return Refused("token has no expiry");
  std::optional<int64_t> exp_s = NumericDate(*exp);
  if (!exp_s) return Refused("token expiry is not a number");
  if (now - leeway >= *exp_s) return Refused("token expired");
  claims.expires_at_s = *exp_s;

  if (const boost::json::value* nbf = payload.if_contains("nbf")) {
    std::optional<int64_t> nbf_s = NumericDate(*nbf);
    if (!nbf_s) return Refused("token nbf is not a number");
    if (now + leeway < *nbf_s) return Refused("token not yet valid");
  }
  if (const boost::json::value* iat = payload.if_contains("iat")) {
    std::optional<int64_t> iat_s = NumericDate(*iat);
    if (!iat_s) return Refused("token iat is not a number");
    if (now + leeway < *iat_s) return Refused("token issued in the future");
  }

  const boost::json::value* iss = payload.if_contains("iss");
  if (iss != nullptr && !iss->is_string()) return Refused("token issuer is not a string");
  if (!options.issuer.empty() && (iss == nullptr || iss->get_string() != options.issuer)) {
    return Refused("wrong issuer");
  }

  bool audience_found = false;
  if (const boost::json::value* aud = payload.if_contains("aud")) {
    if (const boost::json::string* s = aud->if_string()) {
      audience_found = *s == options.audience;
    } else if (const boost::json::array* a = aud->if_array()) {
      for (const boost::json::value& entry : *a) {
        if (!entry.is_string()) return Refused("token audience is not a string");
        audience_found |= entry.get_string() == options.audience;
      }
    } else {
      return Refused("token audience is not a string");
    }
  }
  if (!options.audience.empty() && !audience_found) return Refused("wrong audience");

  if (const boost::json::value* sub = payload.if_contains("sub")) {
    if (!sub->is_string()) return Refused("token subject is not a string");
    claims.subject = std::string(sub->get_string());
  }
  if (const boost::json::value* scope = payload.if_contains("scope")) {
    if (!scope->is_string()) return Refused("token scope is not a string");
    AddScopes(scope->get_string(), claims.scopes);
  }
  if (const boost::json::value* scp = payload.if_contains("scp")) {
    if (const boost::json::string* s = scp->if_string()) {
      AddScopes(*s, claims.scopes);
    } else if (const boost::json::array* a = scp->if_array()) {
      for (const boost::json::value& entry : *a) {
        if (!entry.is_string()) return Refused("token scp is not a list of strings");
        AddScopes(entry.get_string(), claims.scopes);
      }
    } else {
      return Refused("token scp is not a list of strings");
    }
  }
  return claims;
}

}  // namespace

struct JwtVerifier::Key {
  std::unique_ptr<jws::PublicKey> key;
};

JwtVerifier::JwtVerifier(std::vector<std::unique_ptr<Key>> keys, JwtOptions options)
    : keys_(std::move(keys)), options_(std::move(options)) {}

JwtVerifier::~JwtVerifier() = default;

size_t JwtVerifier::key_count() const { return keys_.size(); }

core::Result<std::unique_ptr<JwtVerifier>> JwtVerifier::FromJwks(std::string_view jwks_json,
                                                                 const JwtOptions& options) {
  std::optional<boost::json::object> doc = ParseObject(jwks_json);
  if (!doc) return Status::InvalidArgument("the JWKS is not a JSON object");
  const boost::json::value* keys_value = doc->if_contains("keys");
  const boost::json::array* keys_array = keys_value ? keys_value->if_array() : nullptr;
  if (keys_array == nullptr) return Status::InvalidArgument("the JWKS has no \"keys\" array");

  std::vector<std::unique_ptr<Key>> keys;
  for (size_t i = 0; i < keys_array->size(); ++i) {
    const boost::json::object* jwk = (*keys_array)[i].if_object();
    std::string where = "JWKS key " + std::to_string(i);
    if (jwk == nullptr) return Status::InvalidArgument(where + ": not an object");
    core::Result<jws::PublicKey::Parsed> parsed = jws::PublicKey::FromJwk(*jwk);
    if (!parsed.ok()) return parsed.status().WithContext(where);
    if (parsed->key == nullptr) continue;  // unsupported type or use
    keys.push_back(std::make_unique<Key>(Key{std::move(parsed->key)}));
  }
  if (keys.empty()) return Status::InvalidArgument("the JWKS holds no usable signing key");
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(std::move(keys), options));
}

core::Result<std::unique_ptr<JwtVerifier>> JwtVerifier::FromJwksFile(const std::string& path,
                                                                     const JwtOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read the JWKS file " + path);
  std::string text;
  char buffer[8192];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxJwksBytes) {
      return Status::InvalidArgument("the JWKS file " + path + " is larger than 1 MiB");
    }
  }
  auto verifier = FromJwks(text, options);
  if (!verifier.ok()) return verifier.status().WithContext(path);
  return verifier;
}

core::Result<JwtClaims> JwtVerifier::Verify(std::string_view token, int64_t now_s) const {
  if (token.size() > kMaxTokenBytes) return Refused("token too large");
  size_t dot1 = token.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Refused("token is not a compact JWS");
  }
  std::string_view signing_input = token.substr(0, dot2);
  std::optional<std::string> header_json = jws::Base64UrlDecode(token.substr(0, dot1));
  std::optional<std::string> signature = jws::Base64UrlDecode(token.substr(dot2 + 1));
  if (!header_json || !signature) return Refused("token is not base64url");
  std::optional<boost::json::object> header = ParseObject(*header_json);
  if (!header) return Refused("token header is not a JSON object");

  const boost::json::value* alg_value = header->if_contains("alg");
  const boost::json::string* alg_name = alg_value ? alg_value->if_string() : nullptr;
  if (alg_name == nullptr) return Refused("token names no algorithm");
  jws::Alg alg = jws::ParseAlg(*alg_name);
  if (alg == jws::Alg::kUnsupported) return Refused("token algorithm not accepted");
  // RFC 7515 section 4.1.11: extensions marked critical must be understood; none are.
  if (header->contains("crit")) return Refused("token has critical header extensions");
  if (const boost::json::value* typ = header->if_contains("typ"); typ && !typ->is_string()) {
    return Refused("token typ is not a string");
  }

  // The key: the one named by "kid", or the only one. Among keys sharing a kid, the one the
  // algorithm fits.
  const jws::PublicKey* key = nullptr;
  if (const boost::json::value* kid_value = header->if_contains("kid")) {
    const boost::json::string* kid = kid_value->if_string();
    if (kid == nullptr) return Refused("token kid is not a string");
    bool named = false;
    for (const std::unique_ptr<Key>& k : keys_) {
      if (k->key->kid() != *kid) continue;
      named = true;
      if (k->key->Fits(alg)) {
        key = k->key.get();
        break;
      }
    }
    if (!named) return Refused("unknown key id");
  } else {
    if (keys_.size() != 1) return Refused("token names no key id");
    key = keys_.front()->key->Fits(alg) ? keys_.front()->key.get() : nullptr;
  }
  if (key == nullptr) return Refused("token algorithm does not fit the key");
  if (!key->VerifySignature(alg, signing_input, *signature)) return Refused("bad token signature");

  // Only an authentic payload is decoded and parsed.
  std::optional<std::string> payload_json =
      jws::Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!payload_json) return Refused("token is not base64url");
  std::optional<boost::json::object> payload = ParseObject(*payload_json);
  if (!payload) return Refused("token payload is not a JSON object");
  return CheckClaims(*payload, options_, now_s);
}

}  // namespace imgpipe::auth
