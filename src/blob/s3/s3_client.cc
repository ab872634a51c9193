#include "blob/s3/s3_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <thread>

#include "blob/s3/s3_xml.h"

namespace imgpipe::blob::s3 {
namespace {

constexpr size_t kMaxIdleHandles = 16;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

size_t WriteHeader(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<NameValues*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    headers->clear();  // a new response (after "100 Continue" or a retry)
  } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    headers->emplace_back(Lower(Trim(line.substr(0, colon))),
                          std::string(Trim(line.substr(colon + 1))));
  }
  return size * count;
}

bool RetryableStatus(long status) { return status >= 500 || status == 429; }

// Errors worth another attempt: everything but a request we built wrong.
bool RetryableCurlError(CURLcode code) {
  return code != CURLE_URL_MALFORMAT && code != CURLE_UNSUPPORTED_PROTOCOL &&
         code != CURLE_BAD_FUNCTION_ARGUMENT && code != CURLE_OUT_OF_MEMORY;
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return "";
}

struct S3Client::Pool {
  std::mutex mu;
  std::vector<CURL*> idle;

  CURL* Acquire() {
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        CURL* handle = idle.back();
        idle.pop_back();
        curl_easy_reset(handle);  // options go, open connections and caches stay
        return handle;
      }
    }
    return curl_easy_init();
  }
  void Release(CURL* handle) {
    std::lock_guard lock(mu);
    if (idle.size() < kMaxIdleHandles) {
      idle.push_back(handle);
    } else {
      curl_easy_cleanup(handle);
    }
  }
  ~Pool() {
    for (CURL* handle : idle) curl_easy_cleanup(handle);
  }
};

S3Client::S3Client(const S3Options& options)
    : options_(options),
      credentials_{options.access_key_id, options.secret_access_key, options.session_token},
      endpoint_(options.endpoint),
      pool_(std::make_unique<Pool>()) {}

S3Client::~S3Client() = default;

namespace {

// The endpoint as an error may show it: a user-info part ("http://KEY:SECRET@host", refused
// below) is replaced by "...", as it could hold credentials.
std::string ShownEndpoint(std::string_view endpoint) {
  size_t scheme_end = endpoint.find("://");
  size_t at = endpoint.rfind('@');
  if (at == std::string_view::npos) return std::string(endpoint);
  size_t from = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  if (at < from) return std::string(endpoint);
  return std::string(endpoint.substr(0, from)) + "...@" + std::string(endpoint.substr(at + 1));
}

}  // namespace

core::Result<std::unique_ptr<S3Client>> S3Client::Create(const S3Options& options) {
  static std::once_flag curl_init;
  static CURLcode init_result = CURLE_OK;
  std::call_once(curl_init, [] { init_result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (init_result != CURLE_OK) {
    return core::Status::Internal(std::string("curl_global_init: ") +
                                  curl_easy_strerror(init_result));
  }
  std::unique_ptr<S3Client> client(new S3Client(options));
  std::string_view endpoint = options.endpoint;
  size_t scheme_end = endpoint.find("://");
  if (scheme_end == std::string_view::npos) {
    return core::Status::InvalidArgument("S3 endpoint '" + ShownEndpoint(options.endpoint) +
                                         "' is not an http:// or https:// URL");
  }
  client->scheme_ = Lower(endpoint.substr(0, scheme_end));
  std::string_view rest = endpoint.substr(scheme_end + 3);
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if ((client->scheme_ != "http" && client->scheme_ != "https") || rest.empty() ||
      rest.find_first_of("/?#@ ") != std::string_view::npos) {
    return core::Status::InvalidArgument("S3 endpoint '" + ShownEndpoint(options.endpoint) +
                                         "' must be http(s)://host[:port]");
  }
  bool path_style = options.path_style.value_or(true);
  client->host_ = path_style ? std::string(rest) : options.bucket + "." + std::string(rest);
  client->base_path_ = path_style ? "/" + options.bucket : "";
  return client;
}

std::string S3Client::Target(const HttpRequest& request) const {
  return request.method + " s3://" + options_.bucket + "/" + request.object;
}

core::Result<HttpResponse> S3Client::SendOnce(const HttpRequest& request,
                                              std::string* transport_error) {
  std::string path = request.object.empty() ? base_path_ : base_path_ + "/" + request.object;
  if (path.empty()) path = "/";
  SigningRequest signing{request.method, path, request.query, request.headers,
                         request.body.empty() ? Sha256Hex("") : Sha256Hex(request.body)};
  signing.headers.emplace_back("host", host_);
  std::string authorization =
      SignRequest(signing, credentials_, options_.region, std::chrono::system_clock::now());

  std::string url = scheme_ + "://" + host_ + UriEncode(path, true);
  std::string query = CanonicalQueryString(request.query);
  if (!query.empty()) url += "?" + query;

  curl_slist* headers = nullptr;
  auto add = [&](const std::string& line) { headers = curl_slist_append(headers, line.c_str()); };
  for (const auto& [name, value] : signing.headers) add(name + ": " + value);
  add("Authorization: " + authorization);
  add("Expect:");  // no "100-continue" round trip before bodies
  bool has_body = request.method == "PUT" || request.method == "POST";
  add(has_body ? "Content-Type: " + request.content_type : "Content-Type:");

  CURL* curl = pool_->Acquire();
  if (curl == nullptr) {
    curl_slist_free_all(headers);
    return core::Status::Internal("curl_easy_init failed");
  }
  HttpResponse response;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                   std::max(1L, static_cast<long>(options_.stall_timeout.count() / 1000)));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &WriteHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (has_body) {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.empty() ? "" : request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    if (request.method != "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  pool_->Release(curl);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) {
    *transport_error = curl_easy_strerror(code);
    if (!RetryableCurlError(code)) {
      return core::Status::Internal(Target(request) + ": " + *transport_error);
    }
    return core::Status::Unavailable(Target(request) + " (" + endpoint_ + "): " + *transport_error);
  }
  return response;
}

core::Result<HttpResponse> S3Client::Send(const HttpRequest& request) {
  thread_local std::minstd_rand jitter(std::random_device{}());
  for (int attempt = 0;; ++attempt) {
    std::string transport_error;
    core::Result<HttpResponse> response = SendOnce(request, &transport_error);
    bool retry = response.ok() ? RetryableStatus(response->status)
                               : response.status().code() == core::StatusCode::kUnavailable;
    if (!retry || attempt >= options_.max_retries) {
      if (!response.ok() && attempt > 0) {
        return response.status().WithContext("after " + std::to_string(attempt + 1) + " attempts");
      }
      return response;
    }
    // Exponential backoff with jitter (50-100% of the step), so clients that failed together do
    // not all come back at the same moment.
    auto step = options_.retry_backoff * (1 << std::min(attempt, 16));
    std::uniform_int_distribution<long long> pick(step.count() / 2, step.count());
    std::this_thread::sleep_for(std::chrono::milliseconds(pick(jitter)));
  }
}

core::Status S3Client::ErrorOf(const HttpRequest& request, const HttpResponse& response) const {
  std::string s3_code = XmlText(response.body, "Code").value_or("");
  std::string message = Target(request) + ": HTTP " + std::to_string(response.status);
  if (!s3_code.empty()) message += " " + s3_code;
  if (auto text = XmlText(response.body, "Message"); text && !text->empty()) {
    message += ": " + *text;
  }
  long status = response.status;
  if (status == 404) return core::Status::NotFound(message);
  if (status == 401) return core::Status::Unauthenticated(message);
  if (status == 403) return core::Status::PermissionDenied(message);
  if (status == 409 || status == 412) return core::Status::Conflict(message);
  if (status == 413 || s3_code == "EntityTooLarge") return core::Status::PayloadTooLarge(message);
  if (status == 429 || s3_code == "SlowDown" || status >= 500) {
    return core::Status::Unavailable(message);
  }
  if (status == 301 || status == 307) {
    std::string region = response.Header("x-amz-bucket-region");
    if (!region.empty()) message += " (the bucket is in region " + region + ")";
    return core::Status::InvalidArgument(message);
  }
  if (status == 400) return core::Status::InvalidArgument(message);
  return core::Status::Internal(message);
}

}  // namespace imgpipe::blob::s3
