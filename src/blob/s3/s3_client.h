// The HTTP side of the S3 blob store: builds the URL of a bucket or object (path style or
// virtual-hosted), signs each attempt with SigV4, sends it with libcurl, retries what is worth
// retrying, and maps S3 error responses to core::Status.
//
// Thread-safety: Send may be called from many threads at once; each call borrows its own CURL
// easy handle from a small pool (idle handles keep their connections open for reuse).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "blob/blob_store.h"
#include "blob/s3/sigv4.h"
#include "core/status.h"

namespace imgpipe::blob::s3 {

struct HttpRequest {
  std::string method;          // GET, HEAD, PUT, POST, DELETE
  std::string object;          // the full object name (prefix included); "" for the bucket itself
  NameValues query = {};       // raw names and values
  NameValues headers = {};     // extra headers, all signed
  std::string_view body = {};  // PUT / POST only
  std::string content_type = "application/octet-stream";  // PUT / POST only; not signed
};

struct HttpResponse {
  long status = 0;
  std::string body;
  NameValues headers;  // names in lower case
  // The value of `name` (lower case), or "" when absent.
  std::string Header(std::string_view name) const;
};

class S3Client {
 public:
  // REQUIRES: `options` resolved (endpoint, region, bucket, credentials set).
  static core::Result<std::unique_ptr<S3Client>> Create(const S3Options& options);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // Sends `request`, retrying after transport errors, 5xx and 429 (max_retries times, with
  // exponential backoff). Returns the last response whatever its status, or Unavailable when no
  // attempt got a response.
  core::Result<HttpResponse> Send(const HttpRequest& request);

  // The Status for a response that is not a success: the S3 error code and message of the XML
  // body, mapped by HTTP status (404 NotFound, 403 PermissionDenied, 5xx Unavailable, ...).
  core::Status ErrorOf(const HttpRequest& request, const HttpResponse& response) const;

  const std::string& endpoint() const { return endpoint_; }

 private:
  struct Pool;
  explicit S3Client(const S3Options& options);
  // One attempt; `transport_error` receives curl's message when no response came back.
  core::Result<HttpResponse> SendOnce(const HttpRequest& request, std::string* transport_error);
  std::string Target(const HttpRequest& request) const;  // "PUT s3://bucket/key" for messages

  S3Options options_;
  Credentials credentials_;
  std::string endpoint_;   // as configured
  std::string scheme_;     // "http" or "https"
  std::string host_;       // the Host header: "bucket.s3.amazonaws.com" or "127.0.0.1:4568"
  std::string base_path_;  // "/bucket" (path style) or ""
  std::unique_ptr<Pool> pool_;
};

}  // namespace imgpipe::blob::s3
