#include "app/access.h"

#include <array>
#include <string>
#include <utility>

namespace imgpipe::app {
namespace {

using auth::Access;

struct RouteAccess {
  std::string_view method;
  std::string_view pattern;
  Access access;
};

constexpr std::string_view kImage = "/pacs/studies/{study_id}/series/{series_id}/images/{image_id}";
constexpr std::string_view kInstance =
    "/dicomweb/studies/{study_id}/series/{series_id}/instances/{image_id}";

// Every route `imgpipe serve` registers (app/routes_test.cc checks that none is missing). PACS
// reads and job submission are user operations; a client's own jobs, results and events are
// reached with its client_id (the handlers check it); PACS writes and queue administration are
// admin operations.
const std::array kRouteAccess = std::to_array<RouteAccess>({
    // Operations and the deployment's description: for probes, scrapers and the frontend.
    {"GET", "/healthz", Access::kPublic},
    {"GET", "/readyz", Access::kPublic},
    {"GET", "/version", Access::kPublic},
    {"GET", "/metrics", Access::kPublic},
    {"GET", "/openapi.json", Access::kPublic},
    {"GET", "/api/info", Access::kPublic},
    // The PACS.
    {"GET", "/pacs/studies", Access::kUser},
    {"GET", "/pacs/studies/{study_id}", Access::kUser},
    {"GET", "/pacs/studies/{study_id}/series/{series_id}", Access::kUser},
    {"GET", kImage, Access::kUser},
    {"GET", "/pacs/studies/{study_id}/series/{series_id}/images/{image_id}/preview", Access::kUser},
    {"GET", "/pacs/studies/{study_id}/series/{series_id}/images/{image_id}/file", Access::kUser},
    {"GET", "/pacs/preview", Access::kUser},
    {"POST", "/pacs/images", Access::kAdmin},
    // DICOMweb: QIDO-RS and WADO-RS read, STOW-RS writes.
    {"GET", "/dicomweb/studies", Access::kUser},
    {"GET", "/dicomweb/studies/{study_id}", Access::kUser},
    {"GET", "/dicomweb/studies/{study_id}/metadata", Access::kUser},
    {"GET", "/dicomweb/studies/{study_id}/series", Access::kUser},
    {"GET", "/dicomweb/studies/{study_id}/series/{series_id}", Access::kUser},
    {"GET", "/dicomweb/studies/{study_id}/series/{series_id}/metadata", Access::kUser},
    {"GET", "/dicomweb/studies/{study_id}/series/{series_id}/instances", Access::kUser},
    {"GET", kInstance, Access::kUser},
    {"GET", "/dicomweb/studies/{study_id}/series/{series_id}/instances/{image_id}/metadata",
     Access::kUser},
    {"GET", "/dicomweb/studies/{study_id}/series/{series_id}/instances/{image_id}/rendered",
     Access::kUser},
    {"GET", "/dicomweb/studies/{study_id}/series/{series_id}/instances/{image_id}/frames/{frames}",
     Access::kUser},
    {"GET",
     "/dicomweb/studies/{study_id}/series/{series_id}/instances/{image_id}/frames/{frame}/rendered",
     Access::kUser},
    {"POST", "/dicomweb/studies", Access::kAdmin},
    {"POST", "/dicomweb/studies/{study_id}", Access::kAdmin},
    // Processing.
    {"POST", "/api/provision", Access::kUser},
    {"GET", "/api/algorithms", Access::kUser},
    {"GET", "/api/destinations", Access::kUser},
    {"POST", "/api/process/{algorithm}", Access::kUser},
    {"GET", "/api/jobs", Access::kClient},
    {"GET", "/api/jobs/{job_id}", Access::kClient},
    {"DELETE", "/api/jobs/{job_id}", Access::kClient},
    {"GET", "/api/results/{job_id}/{name...}", Access::kClient},
    {"GET", "/api/events", Access::kClient},
    {"GET", "/ws", Access::kClient},
    // Automatic processing rules: reading them is a user operation; a client subscribes itself.
    {"GET", "/api/rules", Access::kUser},
    {"GET", "/api/rules/{name}/jobs", Access::kUser},
    {"POST", "/api/rules/{name}/subscriptions", Access::kClient},
    {"DELETE", "/api/rules/{name}/subscriptions", Access::kClient},
    // Queues: their figures are operations data; their dead letters and re-driving are admin.
    {"GET", "/api/queues", Access::kUser},
    {"GET", "/api/queues/{name}", Access::kUser},
    {"GET", "/api/queues/{name}/dead-letters", Access::kAdmin},
    {"POST", "/api/queues/{name}/redrive", Access::kAdmin},
});

}  // namespace

std::optional<Access> ListedAccess(std::string_view method, std::string_view pattern) {
  for (const RouteAccess& r : kRouteAccess) {
    if (r.method == method && r.pattern == pattern) return r.access;
  }
  return std::nullopt;
}

http::Router::Guard MakeGuard(std::shared_ptr<const auth::Authenticator> authenticator) {
  return [authenticator = std::move(authenticator)](
             const http::Request& request) -> std::optional<http::Response> {
    const bool read = request.method == "GET" || request.method == "HEAD";
    // HEAD is served by the GET route: it needs what GET needs.
    Access access =
        ListedAccess(read ? "GET" : request.method, request.route).value_or(Access::kAdmin);
    std::optional<std::string_view> token;
    if (auto header = request.Header("authorization")) {
      token = auth::BearerToken(*header);
    } else if (read) {
      token = request.Query("access_token");
    }
    core::Status allowed = authenticator->Check(access, token);
    if (allowed.ok()) return std::nullopt;
    http::Response refusal = http::ErrorResponse(allowed);
    // RFC 6750 3.1: a credential given and refused is `invalid_token` (clients of an identity
    // provider refresh their token on it), a valid one that is not enough `insufficient_scope`;
    // none given, no error code (plain "Bearer", set by ErrorResponse).
    if (allowed.code() == core::StatusCode::kPermissionDenied) {
      refusal.SetHeader("WWW-Authenticate", R"(Bearer error="insufficient_scope")");
    } else if (token && !token->empty()) {
      refusal.SetHeader("WWW-Authenticate", R"(Bearer error="invalid_token")");
    }
    return refusal;
  };
}

}  // namespace imgpipe::app
