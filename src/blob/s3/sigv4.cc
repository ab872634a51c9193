#include "blob/s3/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace imgpipe::blob::s3 {
namespace {

bool IsUnreserved(unsigned char c) {
  return std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Header values are signed trimmed, with runs of spaces collapsed to one.
std::string CanonicalHeaderValue(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

void SetHeader(NameValues& headers, std::string_view name, std::string value) {
  std::erase_if(headers, [&](const auto& h) { return Lower(h.first) == name; });
  headers.emplace_back(std::string(name), std::move(value));
}

}  // namespace

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string CanonicalQueryString(const NameValues& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string CanonicalRequest(const SigningRequest& request, std::string* signed_headers) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(request.headers.size());
  for (const auto& [name, value] : request.headers) {
    headers.emplace_back(Lower(name), CanonicalHeaderValue(value));
  }
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  // Repeated names are signed once, their values joined by commas.
  std::string canonical_headers, names;
  for (size_t i = 0; i < headers.size(); ++i) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      canonical_headers.pop_back();  // the '\n'
      canonical_headers += "," + headers[i].second + "\n";
      continue;
    }
    canonical_headers += headers[i].first + ":" + headers[i].second + "\n";
    if (!names.empty()) names.push_back(';');
    names += headers[i].first;
  }
  std::string path = request.path.empty() ? "/" : request.path;
  std::string out = request.method + "\n" + UriEncode(path, true) + "\n" +
                    CanonicalQueryString(request.query) + "\n" + canonical_headers + "\n" + names +
                    "\n" + request.payload_sha256;
  if (signed_headers != nullptr) *signed_headers = std::move(names);
  return out;
}

std::string AmzDate(std::chrono::system_clock::time_point now) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string CredentialScope(std::string_view amz_date, std::string_view region) {
  return std::string(amz_date.substr(0, 8)) + "/" + std::string(region) + "/s3/aws4_request";
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  return "AWS4-HMAC-SHA256\n" + std::string(amz_date) + "\n" + std::string(scope) + "\n" +
         Sha256Hex(canonical_request);
}

std::array<uint8_t, 32> HmacSha256(std::string_view key, std::string_view data) {
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

std::string Hex(const uint8_t* data, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 15]);
  }
  return out;
}

// OpenSSL's SHA-256 (hardware-accelerated where the CPU has it): payloads may be many MiB.
std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return Hex(digest, len);
}

std::array<uint8_t, 32> SigningKey(std::string_view secret_access_key, std::string_view date,
                                   std::string_view region, std::string_view service) {
  auto view = [](const std::array<uint8_t, 32>& k) {
    return std::string_view(reinterpret_cast<const char*>(k.data()), k.size());
  };
  std::string k_secret = "AWS4" + std::string(secret_access_key);
  auto k_date = HmacSha256(k_secret, date);
  auto k_region = HmacSha256(view(k_date), region);
  auto k_service = HmacSha256(view(k_region), service);
  return HmacSha256(view(k_service), "aws4_request");
}

std::string SignRequest(SigningRequest& request, const Credentials& credentials,
                        std::string_view region, std::chrono::system_clock::time_point now) {
  std::string amz_date = AmzDate(now);
  SetHeader(request.headers, "x-amz-date", amz_date);
  SetHeader(request.headers, "x-amz-content-sha256", request.payload_sha256);
  if (!credentials.session_token.empty()) {
    SetHeader(request.headers, "x-amz-security-token", credentials.session_token);
  }
  std::string signed_headers;
  std::string canonical = CanonicalRequest(request, &signed_headers);
  std::string scope = CredentialScope(amz_date, region);
  auto key = SigningKey(credentials.secret_access_key, amz_date.substr(0, 8), region, "s3");
  auto signature =
      HmacSha256(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()),
                 StringToSign(amz_date, scope, canonical));
  return "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
         ",SignedHeaders=" + signed_headers +
         ",Signature=" + Hex(signature.data(), signature.size());
}

}  // namespace imgpipe::blob::s3
