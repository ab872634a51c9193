#include "auth/jwt_testing.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json/serialize.hpp>
#include <cstdio>
#include <cstdlib>

#include "auth/jws.h"

namespace imgpipe::auth::testing {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "jwt_testing: OpenSSL failed: %s\n", what);
    std::abort();
  }
}

std::string BnBytes(const EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  Check(EVP_PKEY_get_bn_param(pkey, name, &bn) == 1, name);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

const EVP_MD* Digest(int bits) {
  return bits == 256 ? EVP_sha256() : bits == 384 ? EVP_sha384() : EVP_sha512();
}

}  // namespace

struct TestKey::Impl {
  EVP_PKEY* pkey = nullptr;
  size_t coordinate_size = 0;  // EC only
};

TestKey::TestKey(std::string kind, std::string kid)
    : kind_(std::move(kind)), kid_(std::move(kid)), impl_(std::make_unique<Impl>()) {
  if (kind_ == "RSA") {
    impl_->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
  } else {
    const char* group = kind_ == "P-256" ? "P-256" : "P-384";
    impl_->coordinate_size = kind_ == "P-256" ? 32 : 48;
    impl_->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", group);
  }
  Check(impl_->pkey != nullptr, "keygen");
}

TestKey::~TestKey() { EVP_PKEY_free(impl_->pkey); }

boost::json::object TestKey::Jwk() const {
  boost::json::object jwk;
  jwk["kid"] = kid_;
  if (kind_ == "RSA") {
    jwk["kty"] = "RSA";
    jwk["n"] = B64(BnBytes(impl_->pkey, OSSL_PKEY_PARAM_RSA_N));
    jwk["e"] = B64(BnBytes(impl_->pkey, OSSL_PKEY_PARAM_RSA_E));
    return jwk;
  }
  unsigned char point[1 + 2 * 48];
  size_t len = 0;
  Check(EVP_PKEY_get_octet_string_param(impl_->pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                        sizeof point, &len) == 1 &&
            len == 1 + 2 * impl_->coordinate_size && point[0] == 0x04,
        "EC public point");
  std::string_view xy(reinterpret_cast<const char*>(point) + 1, len - 1);
  jwk["kty"] = "EC";
  jwk["crv"] = kind_;
  jwk["x"] = B64(xy.substr(0, impl_->coordinate_size));
  jwk["y"] = B64(xy.substr(impl_->coordinate_size));
  return jwk;
}

std::string TestKey::Sign(std::string_view input, int bits) const {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  Check(md != nullptr && EVP_DigestSignInit(md, nullptr, Digest(bits), nullptr, impl_->pkey) == 1,
        "sign init");
  size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  Check(EVP_DigestSign(md, nullptr, &len, data, input.size()) == 1, "sign size");
  std::string sig(len, '\0');
  Check(EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                       input.size()) == 1,
        "sign");
  EVP_MD_CTX_free(md);
  sig.resize(len);
  if (kind_ == "RSA") return sig;

  // DER ECDSA-Sig-Value -> r||s, each left-padded to the coordinate size (RFC 7518 3.4).
  const auto* der = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(sig.size()));
  Check(ecdsa != nullptr, "d2i_ECDSA_SIG");
  size_t n = impl_->coordinate_size;
  std::string raw(2 * n, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  Check(BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), out, static_cast<int>(n)) == static_cast<int>(n) &&
            BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), out + n, static_cast<int>(n)) ==
                static_cast<int>(n),
        "r||s");
  ECDSA_SIG_free(ecdsa);
  return raw;
}

std::string B64(std::string_view bytes) { return jws::Base64UrlEncode(bytes); }

std::string MakeToken(const boost::json::object& header, const boost::json::object& payload,
                      const TestKey* key) {
  std::string input =
      B64(boost::json::serialize(header)) + "." + B64(boost::json::serialize(payload));
  std::string signature;
  if (key != nullptr) {
    const boost::json::value* alg = header.if_contains("alg");
    std::string_view name = "RS256";
    if (alg != nullptr && alg->is_string()) name = alg->get_string();
    int bits = std::atoi(std::string(name.substr(2)).c_str());
    signature = key->Sign(input, bits == 0 ? 256 : bits);
  }
  return input + "." + B64(signature);
}

std::string HmacSha256(std::string_view secret, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  Check(
      HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len) != nullptr,
      "HMAC");
  return std::string(reinterpret_cast<char*>(mac), len);
}

}  // namespace imgpipe::auth::testing
