#include "pacs/routes_util.h"

#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/uid.h"

namespace imgpipe::pacs {

using core::Result;
using core::Status;

Result<int64_t> ParseInt(std::string_view text, std::string_view what, int64_t min, int64_t max) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < min || v > max) {
    return Status::InvalidArgument(std::string(what) + " must be an integer from " +
                                   std::to_string(min) + " to " + std::to_string(max));
  }
  return v;
}

Result<double> ParseDouble(std::string_view text, std::string_view what) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) {
    return Status::InvalidArgument(std::string(what) + " must be a number");
  }
  return v;
}

std::vector<std::string> SplitValueList(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    size_t c = s.find_first_of(",\\");
    std::string_view item = s.substr(0, c);
    if (!item.empty()) out.emplace_back(item);
    if (c == std::string_view::npos) break;
    s.remove_prefix(c + 1);
  }
  return out;
}

Status ValidateIds(std::string_view study, std::string_view series, std::string_view image) {
  IMGPIPE_RETURN_IF_ERROR(core::ValidateUid(study, "study_id"));
  if (!series.empty() || !image.empty()) {
    IMGPIPE_RETURN_IF_ERROR(core::ValidateUid(series, "series_id"));
  }
  if (!image.empty()) IMGPIPE_RETURN_IF_ERROR(core::ValidateUid(image, "image_id"));
  return Status::Ok();
}

namespace {
bool IsDate(std::string_view s) {
  if (s.size() != 8) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}
}  // namespace

Status ParseDateRange(std::string_view text, std::string* from, std::string* to) {
  size_t dash = text.find('-');
  std::string_view a = text, b = text;
  if (dash != std::string_view::npos) {
    a = text.substr(0, dash);
    b = text.substr(dash + 1);
  }
  if ((!a.empty() && !IsDate(a)) || (!b.empty() && !IsDate(b)) || (a.empty() && b.empty())) {
    return Status::InvalidArgument(
        "StudyDate must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD (either end may be open)");
  }
  *from = std::string(a);
  *to = std::string(b);
  return Status::Ok();
}

Status ParsePaging(const http::Request& request, int* limit, int* offset) {
  *limit = 100;
  *offset = 0;
  if (auto v = request.Query("limit")) {
    IMGPIPE_ASSIGN_OR_RETURN(int64_t l, ParseInt(*v, "limit", 1, 1000));
    *limit = static_cast<int>(l);
  }
  if (auto v = request.Query("offset")) {
    IMGPIPE_ASSIGN_OR_RETURN(int64_t o, ParseInt(*v, "offset", 0, 1'000'000'000));
    *offset = static_cast<int>(o);
  }
  return Status::Ok();
}

std::string PreviewETag(const InstanceRecord& instance, const dicom::RenderOptions& o) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "|%d|%.17g|%.17g|%d|%d|%d|%d", o.frame,
                o.window_center.value_or(NAN), o.window_width.value_or(NAN), o.size,
                static_cast<int>(o.format), o.jpeg_quality, o.window_center ? 1 : 0);
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;
    }
  };
  mix(instance.image_id);
  mix(buf);
  char tag[24];
  std::snprintf(tag, sizeof tag, "\"%016llx\"", static_cast<unsigned long long>(h));
  return tag;
}

http::Response PreviewResponse(const http::Request& request, Pacs& pacs,
                               const InstanceRecord& instance,
                               const dicom::RenderOptions& options) {
  std::string etag = PreviewETag(instance, options);
  if (auto inm = request.Header("if-none-match")) {
    if (inm->find(etag) != std::string_view::npos || *inm == "*") {
      http::Response r = http::Response::NoContent(304);
      r.SetHeader("ETag", etag);
      r.SetHeader("Cache-Control", "public, max-age=31536000, immutable");
      return r;
    }
  }
  PACS_ASSIGN_OR_RESPOND(auto image, pacs.Preview(instance, options));
  http::Response r = http::Response::Bytes(200, image->media_type, image->bytes);
  r.SetHeader("ETag", etag);
  r.SetHeader("Cache-Control", "public, max-age=31536000, immutable");
  return r;
}

http::Response JsonResponse(int status, const boost::json::value& body,
                            std::string_view content_type) {
  return http::Response::Bytes(status, std::string(content_type), boost::json::serialize(body));
}

void RegisterRoutes(http::Router& router, Pacs& pacs) {
  RegisterPacsApiRoutes(router, pacs);
  RegisterDicomwebRoutes(router, pacs);
}

}  // namespace imgpipe::pacs
