// AWS Signature Version 4 for S3 requests, signed in the Authorization header with the payload
// hash in x-amz-content-sha256 (the "single chunk" form of the S3 API reference).
//
// Pure functions: the time is an argument, so tests are deterministic. The signer does not send
// anything; s3_client.cc signs each request just before it goes out (and again on a retry, so
// the signature never outlives its 15-minute validity window).
//
// Thread-safety: pure functions on values.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imgpipe::blob::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: none (long-term keys)
};

using NameValues = std::vector<std::pair<std::string, std::string>>;

// One request as it is signed. Strings are raw (not percent-encoded): the signer encodes them.
struct SigningRequest {
  std::string method;  // "GET", "PUT", ...
  std::string path;    // "/bucket/some key" (path style) or "/some key"; '/' separates segments
  NameValues query;    // in any order; a parameter without value ("?uploads") has ""
  NameValues headers;  // signed, all of them; must include "host"
  std::string payload_sha256;  // lower-case hex of the body, or "UNSIGNED-PAYLOAD"
};

// S3's URI encoding: every byte except the unreserved A-Z a-z 0-9 - . _ ~ becomes %XX (upper-case
// hex); '/' is kept when `keep_slash` (paths), encoded otherwise (query names and values).
std::string UriEncode(std::string_view s, bool keep_slash);

// "a=1&b=&c%20d=x": names and values encoded, sorted by encoded name, then value.
std::string CanonicalQueryString(const NameValues& query);

// The canonical request; `signed_headers` receives "host;x-amz-date;...".
std::string CanonicalRequest(const SigningRequest& request, std::string* signed_headers);

// "20130524T000000Z" (UTC).
std::string AmzDate(std::chrono::system_clock::time_point now);

// "20130524/us-east-1/s3/aws4_request".
std::string CredentialScope(std::string_view amz_date, std::string_view region);

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);

std::array<uint8_t, 32> SigningKey(std::string_view secret_access_key, std::string_view date,
                                   std::string_view region, std::string_view service);

std::array<uint8_t, 32> HmacSha256(std::string_view key, std::string_view data);
std::string Sha256Hex(std::string_view data);
std::string Hex(const uint8_t* data, size_t size);

// Signs `request` for service "s3": adds x-amz-date, x-amz-content-sha256 (= payload_sha256) and,
// with a session token, x-amz-security-token to its headers (replacing any present), and returns
// the Authorization header value.
std::string SignRequest(SigningRequest& request, const Credentials& credentials,
                        std::string_view region, std::chrono::system_clock::time_point now);

}  // namespace imgpipe::blob::s3
