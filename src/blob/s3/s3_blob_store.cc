// BlobStore on an S3-compatible object store: one object per key, named prefix + key.
//
// - Put: one PUT, or a multipart upload above multipart_threshold (aborted on failure, so no
//   parts are left behind). S3 makes an object visible only once it is complete, so Put is
//   atomic, and durable when it returns: PutUnsynced is Put and Sync has nothing to do.
// - PutIfAbsent: PUT with "If-None-Match: *" (412 -> AlreadyExists) where the server honours it
//   (AWS S3 since 2024, MinIO). The first PutIfAbsent probes that once; servers that ignore the
//   header (s3rver) get HEAD-then-PUT under a per-key lock instead, which is atomic only among
//   the PutIfAbsent calls of this process: two processes sharing a bucket on such a server can
//   both win. See ConditionalPuts(). A conditional PUT retried after a lost response can meet
//   its own first attempt and report AlreadyExists although it stored the blob.
// - List: ListObjectsV2 pages; S3 returns keys in UTF-8 byte order, which is our lexicographic
//   order. Each page is sorted again, for servers that do not (s3rver 3.7 lists in directory-walk
//   order: correct only when the listing fits one page, list_page_size keys). Objects whose names
//   are not valid keys (not written by us) are skipped.
// - In object-name mode (NewS3ObjectStore: the reader of references, blob_store.h) keys are whole
//   object names, any name S3 allows, and nothing checks or skips them.
#include "blob/s3/s3_blob_store.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <random>

#include "blob/blob_store.h"
#include "blob/internal.h"
#include "blob/s3/s3_client.h"
#include "blob/s3/s3_xml.h"

namespace imgpipe::blob {
namespace {

using s3::HttpRequest;
using s3::HttpResponse;

constexpr size_t kLockStripes = 64;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

core::Status InvalidKey(std::string_view key) {
  return core::Status::InvalidArgument("invalid blob key '" + std::string(key) + "'");
}

bool Success(const HttpResponse& response) {
  return response.status >= 200 && response.status < 300;
}

class S3BlobStore final : public BlobStore {
 public:
  S3BlobStore(S3Options options, std::unique_ptr<s3::S3Client> client, bool object_names)
      : options_(std::move(options)), client_(std::move(client)), object_names_(object_names) {}

  core::Status Put(std::string_view key, std::string_view data) override {
    if (!Acceptable(key)) return InvalidKey(key);
    return Store(Object(key), data, /*if_absent=*/false);
  }

  core::Status PutUnsynced(std::string_view key, std::string_view data) override {
    return Put(key, data);  // a completed PUT is already durable
  }

  core::Status Sync() override { return core::Status::Ok(); }

  core::Status PutIfAbsent(std::string_view key, std::string_view data) override {
    if (!Acceptable(key)) return InvalidKey(key);
    IMGPIPE_ASSIGN_OR_RETURN(bool conditional, ConditionalPuts());
    if (conditional) return Store(Object(key), data, /*if_absent=*/true);
    // HEAD-then-PUT: atomic only among the threads of this process (see the file comment).
    std::lock_guard lock(key_locks_[std::hash<std::string_view>()(key) % kLockStripes]);
    auto size = Size(key);
    if (size.ok()) return core::Status::AlreadyExists("blob '" + std::string(key) + "' exists");
    if (size.status().code() != core::StatusCode::kNotFound) return size.status();
    return Store(Object(key), data, /*if_absent=*/false);
  }

  core::Result<std::string> Get(std::string_view key) override {
    if (!Acceptable(key)) return InvalidKey(key);
    HttpRequest request{"GET", Object(key)};
    IMGPIPE_ASSIGN_OR_RETURN(HttpResponse response, client_->Send(request));
    if (!Success(response)) return client_->ErrorOf(request, response);
    return std::move(response.body);
  }

  core::Result<std::string> GetRange(std::string_view key, uint64_t offset,
                                     uint64_t length) override {
    if (!Acceptable(key)) return InvalidKey(key);
    if (length == 0) {
      IMGPIPE_RETURN_IF_ERROR(Size(key).status());
      return std::string();
    }
    const uint64_t last = length > UINT64_MAX - offset ? UINT64_MAX - 1 : offset + length - 1;
    HttpRequest request{"GET", Object(key)};
    request.headers.emplace_back("Range",
                                 "bytes=" + std::to_string(offset) + "-" + std::to_string(last));
    IMGPIPE_ASSIGN_OR_RETURN(HttpResponse response, client_->Send(request));
    if (response.status == 416) return std::string();  // the range starts at or past the end
    if (!Success(response)) return client_->ErrorOf(request, response);
    if (response.status == 200) {  // a server that ignores Range sends the whole object
      if (offset >= response.body.size()) return std::string();
      return response.body.substr(static_cast<size_t>(offset), static_cast<size_t>(length));
    }
    return std::move(response.body);
  }

  core::Status PutStream(std::string_view key, uint64_t size, const Reader& read) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    if (size <= options_.multipart_threshold) {
      IMGPIPE_ASSIGN_OR_RETURN(std::string data, ReadExactly(size, read));
      return Store(Object(key), data, /*if_absent=*/false);
    }
    // One part in memory at a time; every part but the last is exactly part_size.
    SizedStream stream(read, size);
    std::string part;
    NextPart next = [&]() -> core::Result<std::string_view> {
      IMGPIPE_RETURN_IF_ERROR(stream.Next(PartSize(), &part));
      return std::string_view(part);
    };
    return StoreMultipart(Object(key), next, /*if_absent=*/false);
  }

  core::Result<uint64_t> Size(std::string_view key) override {
    if (!Acceptable(key)) return InvalidKey(key);
    HttpRequest request{"HEAD", Object(key)};
    IMGPIPE_ASSIGN_OR_RETURN(HttpResponse response, client_->Send(request));
    if (!Success(response)) return client_->ErrorOf(request, response);
    std::string length = response.Header("content-length");
    char* end = nullptr;
    unsigned long long size = std::strtoull(length.c_str(), &end, 10);
    if (length.empty() || *end != '\0') {
      return core::Status::Internal("HEAD " + Object(key) + ": no Content-Length in the response");
    }
    return static_cast<uint64_t>(size);
  }

  core::Status Delete(std::string_view key) override {
    if (!Acceptable(key)) return InvalidKey(key);
    HttpRequest request{"DELETE", Object(key)};
    IMGPIPE_ASSIGN_OR_RETURN(HttpResponse response, client_->Send(request));
    if (Success(response) || response.status == 404) return core::Status::Ok();
    return client_->ErrorOf(request, response);
  }

  core::Status List(std::string_view prefix,
                    const std::function<bool(const BlobInfo&)>& visit) override {
    std::string continuation;
    while (true) {
      HttpRequest request{"GET", ""};
      request.query = {{"list-type", "2"},
                       {"prefix", options_.prefix + std::string(prefix)},
                       {"max-keys", std::to_string(options_.list_page_size)}};
      if (!continuation.empty()) request.query.emplace_back("continuation-token", continuation);
      IMGPIPE_ASSIGN_OR_RETURN(HttpResponse response, client_->Send(request));
      if (!Success(response)) return client_->ErrorOf(request, response);
      std::vector<BlobInfo> page;
      for (std::string_view contents : s3::XmlElements(response.body, "Contents")) {
        std::string name = s3::XmlText(contents, "Key").value_or("");
        if (!name.starts_with(options_.prefix)) continue;
        BlobInfo info{name.substr(options_.prefix.size()), 0};
        if (!Acceptable(info.key)) continue;
        info.size = std::strtoull(s3::XmlText(contents, "Size").value_or("0").c_str(), nullptr, 10);
        page.push_back(std::move(info));
      }
      // S3 sends each page sorted (a no-op then); s3rver sends directory-walk order.
      std::sort(page.begin(), page.end(),
                [](const BlobInfo& a, const BlobInfo& b) { return a.key < b.key; });
      for (const BlobInfo& info : page) {
        if (!visit(info)) return core::Status::Ok();
      }
      if (s3::XmlText(response.body, "IsTruncated").value_or("false") != "true") break;
      continuation = s3::XmlText(response.body, "NextContinuationToken").value_or("");
      if (continuation.empty()) {
        return core::Status::Internal("S3 list of s3://" + options_.bucket +
                                      ": truncated page without NextContinuationToken");
      }
    }
    return core::Status::Ok();
  }

  std::string Describe() const override {
    return "s3://" + options_.bucket + "/" + options_.prefix + " (" + options_.endpoint + ")";
  }

 private:
  std::string Object(std::string_view key) const { return options_.prefix + std::string(key); }
  bool Acceptable(std::string_view key) const {
    return object_names_ ? !key.empty() && key.size() <= 1024 : IsValidKey(key);
  }

  // The next part of a multipart upload; empty after the last.
  using NextPart = std::function<core::Result<std::string_view>()>;

  size_t PartSize() const {
    return static_cast<size_t>(std::max<uint64_t>(options_.part_size, 5 << 20));
  }

  core::Status Store(const std::string& object, std::string_view data, bool if_absent) {
    if (data.size() > options_.multipart_threshold) {
      size_t offset = 0;
      const size_t part_size = PartSize();
      NextPart next = [&]() -> core::Result<std::string_view> {
        std::string_view part = data.substr(std::min(offset, data.size()), part_size);
        offset += part.size();
        return part;
      };
      return StoreMultipart(object, next, if_absent);
    }
    HttpRequest request{"PUT", object, {}, {}, data};
    if (if_absent) request.headers.emplace_back("If-None-Match", "*");
    IMGPIPE_ASSIGN_OR_RETURN(HttpResponse response, client_->Send(request));
    if (Success(response)) return core::Status::Ok();
    if (if_absent && response.status == 412) {
      return core::Status::AlreadyExists("object " + object + " exists");
    }
    return client_->ErrorOf(request, response);
  }

  core::Status StoreMultipart(const std::string& object, const NextPart& next, bool if_absent) {
    HttpRequest initiate{"POST", object, {{"uploads", ""}}};
    IMGPIPE_ASSIGN_OR_RETURN(HttpResponse started, client_->Send(initiate));
    if (!Success(started)) return client_->ErrorOf(initiate, started);
    std::string upload_id = s3::XmlText(started.body, "UploadId").value_or("");
    if (upload_id.empty()) {
      return core::Status::Internal("multipart upload of " + object + ": no UploadId");
    }
    core::Status status = UploadParts(object, upload_id, next, if_absent);
    if (!status.ok()) {
      // Best effort: a failed abort leaves parts that a bucket lifecycle rule must clean up,
      // but never a visible object.
      HttpRequest abort{"DELETE", object, {{"uploadId", upload_id}}};
      (void)client_->Send(abort);
    }
    return status;
  }

  core::Status UploadParts(const std::string& object, const std::string& upload_id,
                           const NextPart& next, bool if_absent) {
    std::string complete = "<CompleteMultipartUpload>";
    for (int number = 1;; ++number) {
      IMGPIPE_ASSIGN_OR_RETURN(std::string_view data, next());
      if (data.empty() && number > 1) break;
      HttpRequest part{"PUT",
                       object,
                       {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}},
                       {},
                       data};
      IMGPIPE_ASSIGN_OR_RETURN(HttpResponse response, client_->Send(part));
      if (!Success(response)) return client_->ErrorOf(part, response);
      std::string etag = response.Header("etag");
      if (etag.empty()) return core::Status::Internal("part upload of " + object + ": no ETag");
      complete += "<Part><PartNumber>" + std::to_string(number) + "</PartNumber><ETag>" +
                  s3::XmlEscape(etag) + "</ETag></Part>";
      if (data.empty()) break;  // an empty object's one (empty) part
    }
    complete += "</CompleteMultipartUpload>";
    HttpRequest finish{"POST", object, {{"uploadId", upload_id}}, {}, complete, "application/xml"};
    if (if_absent) finish.headers.emplace_back("If-None-Match", "*");
    IMGPIPE_ASSIGN_OR_RETURN(HttpResponse response, client_->Send(finish));
    if (if_absent && response.status == 412) {
      return core::Status::AlreadyExists("object " + object + " exists");
    }
    // S3 may answer 200 and still fail the completion, with an <Error> body.
    if (!Success(response) || !s3::XmlElements(response.body, "Error").empty()) {
      if (Success(response)) response.status = 500;
      return client_->ErrorOf(finish, response);
    }
    return core::Status::Ok();
  }

  // Whether the server honours "If-None-Match: *" on PUT, found out once by writing a probe
  // object twice (its name is not a valid key, so List never shows it) and then deleting it.
  core::Result<bool> ConditionalPuts() {
    std::lock_guard lock(probe_mu_);
    if (conditional_puts_.has_value()) return *conditional_puts_;
    std::random_device random;
    std::string probe =
        options_.prefix + ".imgpipe probe " + std::to_string(random()) + std::to_string(random());
    IMGPIPE_RETURN_IF_ERROR(Store(probe, "probe", /*if_absent=*/false));
    core::Status second = Store(probe, "probe", /*if_absent=*/true);
    HttpRequest remove{"DELETE", probe};
    (void)client_->Send(remove);
    if (second.ok()) {
      conditional_puts_ = false;
    } else if (second.code() == core::StatusCode::kAlreadyExists) {
      conditional_puts_ = true;
    } else {
      return second;
    }
    return *conditional_puts_;
  }

  const S3Options options_;
  std::unique_ptr<s3::S3Client> client_;
  const bool object_names_;
  std::mutex probe_mu_;
  std::optional<bool> conditional_puts_;  // guarded by probe_mu_
  std::mutex key_locks_[kLockStripes];
};

}  // namespace

core::Result<S3Options> ParseS3Url(std::string_view url) {
  constexpr std::string_view kScheme = "s3://";
  if (!url.starts_with(kScheme)) {
    return core::Status::InvalidArgument("'" + std::string(url) + "' is not an s3:// URL");
  }
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  S3Options options;
  options.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) options.prefix = std::string(rest.substr(slash + 1));
  if (options.bucket.empty()) {
    return core::Status::InvalidArgument("'" + std::string(url) + "' names no bucket");
  }
  return options;
}

namespace {

core::Result<std::unique_ptr<BlobStore>> OpenS3(S3Options options, bool object_names) {
  if (options.bucket.empty()) return core::Status::InvalidArgument("S3 blob store: no bucket");
  if (options.region.empty()) options.region = Env("AWS_REGION");
  if (options.region.empty()) options.region = Env("AWS_DEFAULT_REGION");
  if (options.region.empty()) options.region = "us-east-1";
  if (options.endpoint.empty()) options.endpoint = Env("AWS_ENDPOINT_URL");
  if (options.endpoint.empty())
    options.endpoint = "https://s3." + options.region + ".amazonaws.com";
  while (options.endpoint.ends_with('/')) options.endpoint.pop_back();
  if (!options.path_style.has_value()) {
    options.path_style = options.endpoint.find(".amazonaws.com") == std::string::npos;
  }
  if (options.access_key_id.empty() && options.secret_access_key.empty()) {
    options.access_key_id = Env("AWS_ACCESS_KEY_ID");
    options.secret_access_key = Env("AWS_SECRET_ACCESS_KEY");
    if (options.session_token.empty()) options.session_token = Env("AWS_SESSION_TOKEN");
  }
  if (options.access_key_id.empty() || options.secret_access_key.empty()) {
    return core::Status::Unauthenticated(
        "S3 blob store: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
  }
  while (options.prefix.starts_with('/')) options.prefix.erase(0, 1);
  if (!options.prefix.empty() && !options.prefix.ends_with('/')) options.prefix.push_back('/');
  if (options.list_page_size < 1 || options.list_page_size > 1000) options.list_page_size = 1000;

  IMGPIPE_ASSIGN_OR_RETURN(std::unique_ptr<s3::S3Client> client, s3::S3Client::Create(options));
  HttpRequest head{"HEAD", ""};
  IMGPIPE_ASSIGN_OR_RETURN(HttpResponse response, client->Send(head));
  std::string where = "s3://" + options.bucket + " at " + options.endpoint;
  if (response.status == 404) {
    return core::Status::NotFound("S3 bucket " + where + " does not exist");
  }
  if (!Success(response)) {
    return client->ErrorOf(head, response).WithContext("S3 bucket " + where);
  }
  return std::unique_ptr<BlobStore>(
      new S3BlobStore(std::move(options), std::move(client), object_names));
}

}  // namespace

core::Result<std::unique_ptr<BlobStore>> NewS3BlobStore(S3Options options) {
  return OpenS3(std::move(options), /*object_names=*/false);
}

core::Result<std::unique_ptr<BlobStore>> NewS3ObjectStore(S3Options options) {
  options.prefix.clear();
  return OpenS3(std::move(options), /*object_names=*/true);
}

}  // namespace imgpipe::blob
