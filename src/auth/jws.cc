#include "auth/jws.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <array>
#include <boost/json/value.hpp>

namespace imgpipe::auth::jws {
namespace {

using core::Status;

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// -1 for a character outside the URL-safe alphabet.
constexpr std::array<int8_t, 256> MakeDecodeTable() {
  std::array<int8_t, 256> table{};
  for (int8_t& v : table) v = -1;
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
  return table;
}
constexpr std::array<int8_t, 256> kDecodeTable = MakeDecodeTable();

struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// A string member, or nullptr when absent or not a string.
const boost::json::string* StringMember(const boost::json::object& o, std::string_view name) {
  const boost::json::value* v = o.if_contains(name);
  return v == nullptr ? nullptr : v->if_string();
}

BnPtr BnFromBytes(std::string_view bytes) {
  return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                         static_cast<int>(bytes.size()), nullptr));
}

// Builds a public EVP_PKEY of `type_name` ("RSA", "EC") from `params`; null on failure.
PkeyPtr PkeyFromParams(const char* type_name, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, type_name, nullptr));
  EVP_PKEY* raw = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    EVP_PKEY_free(raw);
    return nullptr;
  }
  return PkeyPtr(raw);
}

// The decoded base64url member `name` of `jwk`, or InvalidArgument.
core::Result<std::string> BytesMember(const boost::json::object& jwk, std::string_view name) {
  const boost::json::string* s = StringMember(jwk, name);
  if (s == nullptr) return Status::InvalidArgument(std::string(name) + " missing");
  std::optional<std::string> bytes = Base64UrlDecode(*s);
  if (!bytes || bytes->empty()) {
    return Status::InvalidArgument(std::string(name) + " is not base64url");
  }
  return std::move(*bytes);
}

// Digest and, for ES*, the size in bytes of r and of s.
const EVP_MD* DigestOf(Alg alg) {
  switch (alg) {
    case Alg::kRs256:
    case Alg::kEs256:
      return EVP_sha256();
    case Alg::kRs384:
    case Alg::kEs384:
      return EVP_sha384();
    case Alg::kRs512:
      return EVP_sha512();
    case Alg::kUnsupported:
      break;
  }
  return nullptr;
}

size_t EcCoordinateSize(KeyType type) { return type == KeyType::kEcP256 ? 32 : 48; }

// The DER ECDSA-Sig-Value (what OpenSSL verifies) of a JOSE r||s signature; "" on failure.
std::string EcRawToDer(std::string_view raw) {
  size_t half = raw.size() / 2;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BnPtr r(BN_bin2bn(bytes, static_cast<int>(half), nullptr));
  BnPtr s(BN_bin2bn(bytes + half, static_cast<int>(half), nullptr));
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
  if (r == nullptr || s == nullptr || sig == nullptr) return "";
  if (ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return "";
  r.release();  // owned by sig now
  s.release();
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return "";
  std::string der(static_cast<size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) return "";
  return der;
}

}  // namespace

std::optional<std::string> Base64UrlDecode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int8_t v = kDecodeTable[static_cast<uint8_t>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // The leftover (2 or 4 bits) must be zero: a canonical encoding.
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : bytes) {
    acc = (acc << 8) | static_cast<uint8_t>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3F]);
  return out;
}

Alg ParseAlg(std::string_view name) {
  if (name == "RS256") return Alg::kRs256;
  if (name == "RS384") return Alg::kRs384;
  if (name == "RS512") return Alg::kRs512;
  if (name == "ES256") return Alg::kEs256;
  if (name == "ES384") return Alg::kEs384;
  return Alg::kUnsupported;
}

struct PublicKey::Evp {
  PkeyPtr pkey;
};

PublicKey::PublicKey(std::string kid, KeyType type, Alg pinned_alg, std::unique_ptr<Evp> evp)
    : kid_(std::move(kid)), type_(type), pinned_alg_(pinned_alg), evp_(std::move(evp)) {}

PublicKey::~PublicKey() = default;

core::Result<PublicKey::Parsed> PublicKey::FromJwk(const boost::json::object& jwk) {
  auto skip = [](std::string reason) { return Parsed{nullptr, std::move(reason)}; };
  const boost::json::string* kty = StringMember(jwk, "kty");
  if (kty == nullptr) return Status::InvalidArgument("kty missing");
  if (const boost::json::value* use = jwk.if_contains("use")) {
    if (!use->is_string() || use->get_string() != "sig") return skip("not a signing key");
  }
  if (const boost::json::value* ops = jwk.if_contains("key_ops")) {
    bool verify = false;
    if (const boost::json::array* a = ops->if_array()) {
      for (const boost::json::value& op : *a)
        verify |= op.is_string() && op.get_string() == "verify";
    }
    if (!verify) return skip("key_ops lacks verify");
  }
  Alg pinned = Alg::kUnsupported;
  if (const boost::json::value* alg = jwk.if_contains("alg")) {
    if (!alg->is_string()) return Status::InvalidArgument("alg is not a string");
    pinned = ParseAlg(alg->get_string());
    if (pinned == Alg::kUnsupported) return skip("alg not accepted");
  }
  std::string kid;
  if (const boost::json::value* k = jwk.if_contains("kid")) {
    if (!k->is_string()) return Status::InvalidArgument("kid is not a string");
    kid = std::string(k->get_string());
  }

  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr) return Status::Internal("out of memory");
  KeyType type;
  PkeyPtr pkey;
  if (*kty == "RSA") {
    type = KeyType::kRsa;
    IMGPIPE_ASSIGN_OR_RETURN(std::string n, BytesMember(jwk, "n"));
    IMGPIPE_ASSIGN_OR_RETURN(std::string e, BytesMember(jwk, "e"));
    BnPtr bn_n = BnFromBytes(n);
    BnPtr bn_e = BnFromBytes(e);
    if (bn_n == nullptr || bn_e == nullptr) return Status::Internal("out of memory");
    int bits = BN_num_bits(bn_n.get());
    if (bits < kMinRsaBits || bits > kMaxRsaBits) return skip("RSA modulus size not accepted");
    // An even or tiny exponent is no RSA public key; a huge one makes each check slow.
    if (!BN_is_odd(bn_e.get()) || BN_is_one(bn_e.get()) || BN_num_bits(bn_e.get()) > 64) {
      return Status::InvalidArgument("RSA exponent not usable");
    }
    if (OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
      return Status::Internal("out of memory");
    }
    pkey = PkeyFromParams("RSA", bld.get());
  } else if (*kty == "EC") {
    const boost::json::string* crv = StringMember(jwk, "crv");
    if (crv == nullptr) return Status::InvalidArgument("crv missing");
    const char* group;
    if (*crv == "P-256") {
      type = KeyType::kEcP256;
      group = "prime256v1";
    } else if (*crv == "P-384") {
      type = KeyType::kEcP384;
      group = "secp384r1";
    } else {
      return skip("curve not supported");
    }
    IMGPIPE_ASSIGN_OR_RETURN(std::string x, BytesMember(jwk, "x"));
    IMGPIPE_ASSIGN_OR_RETURN(std::string y, BytesMember(jwk, "y"));
    // RFC 7518 section 6.2.1.2: each coordinate is exactly the size of the curve's field.
    if (x.size() != EcCoordinateSize(type) || y.size() != EcCoordinateSize(type)) {
      return Status::InvalidArgument("EC coordinates of the wrong size");
    }
    std::string point = "\x04" + x + y;  // SEC 1 uncompressed form
    if (OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                         point.size()) != 1) {
      return Status::Internal("out of memory");
    }
    pkey = PkeyFromParams("EC", bld.get());
    if (pkey != nullptr) {
      std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(
          EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
      if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) pkey.reset();
    }
  } else {
    return skip("key type not supported");
  }
  ERR_clear_error();
  if (pkey == nullptr) return Status::InvalidArgument("not a valid public key");
  if (pinned != Alg::kUnsupported) {
    bool rsa_alg = pinned == Alg::kRs256 || pinned == Alg::kRs384 || pinned == Alg::kRs512;
    if (rsa_alg != (type == KeyType::kRsa)) {
      return Status::InvalidArgument("alg does not fit the key type");
    }
  }
  auto evp = std::make_unique<Evp>();
  evp->pkey = std::move(pkey);
  return Parsed{
      std::unique_ptr<PublicKey>(new PublicKey(std::move(kid), type, pinned, std::move(evp))), ""};
}

bool PublicKey::Fits(Alg alg) const {
  if (pinned_alg_ != Alg::kUnsupported && alg != pinned_alg_) return false;
  switch (alg) {
    case Alg::kRs256:
    case Alg::kRs384:
    case Alg::kRs512:
      return type_ == KeyType::kRsa;
    case Alg::kEs256:
      return type_ == KeyType::kEcP256;
    case Alg::kEs384:
      return type_ == KeyType::kEcP384;
    case Alg::kUnsupported:
      break;
  }
  return false;
}

bool PublicKey::VerifySignature(Alg alg, std::string_view signing_input,
                                std::string_view signature) const {
  if (!Fits(alg)) return false;
  std::string der;
  if (type_ == KeyType::kRsa) {
    // RSASSA-PKCS1-v1_5: the signature is exactly as long as the modulus.
    if (signature.size() != static_cast<size_t>(EVP_PKEY_get_size(evp_->pkey.get()))) {
      return false;
    }
  } else {
    if (signature.size() != 2 * EcCoordinateSize(type_)) return false;
    der = EcRawToDer(signature);
    if (der.empty()) return false;
    signature = der;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
  bool ok =
      md != nullptr &&
      EVP_DigestVerifyInit(md.get(), nullptr, DigestOf(alg), nullptr, evp_->pkey.get()) == 1 &&
      EVP_DigestVerify(
          md.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
          reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
  ERR_clear_error();  // a failed check leaves entries on this thread's error queue
  return ok;
}

}  // namespace imgpipe::auth::jws
