// The ONE map from core::StatusCode to HTTP statuses, and the JSON error body.
#include <algorithm>
#include <string>

#include "core/log.h"
#include "http/http.h"

namespace imgpipe::http {

int HttpStatusFor(core::StatusCode code) {
  using core::StatusCode;
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kConflict:
      return 409;
    case StatusCode::kPayloadTooLarge:
      return 413;
    case StatusCode::kUnsupportedMediaType:
      return 415;
    case StatusCode::kUnprocessable:
      return 422;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

Response ErrorResponse(const core::Status& status) {
  std::string body = R"({"error":{"code":")";
  body += core::JsonEscape(core::StatusCodeName(status.code()));
  body += R"(","message":")";
  body += core::JsonEscape(status.message());
  body += R"("}})";
  Response response = Response::Json(HttpStatusFor(status.code()), std::move(body));
  // A 401 must say how to authenticate (RFC 9110 11.6.1); the API uses bearer keys.
  if (status.code() == core::StatusCode::kUnauthenticated) {
    response.SetHeader("WWW-Authenticate", "Bearer");
  }
  // Too much at once, or a dependency down: the client should come back, and soon. Handlers
  // that know better (a queue draining rate) may replace it.
  if (status.code() == core::StatusCode::kResourceExhausted ||
      status.code() == core::StatusCode::kUnavailable) {
    response.SetHeader("Retry-After", "1");
  }
  return response;
}

Response TooManyRequests(std::string message, std::chrono::milliseconds retry_after) {
  Response response = ErrorResponse(core::Status::ResourceExhausted(std::move(message)));
  const int64_t seconds = std::max<int64_t>(1, (retry_after.count() + 999) / 1000);
  response.SetHeader("Retry-After", std::to_string(seconds));
  return response;
}

}  // namespace imgpipe::http
