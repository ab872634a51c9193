#include "http/cors.h"

#include <algorithm>

namespace imgpipe::http::internal {
namespace {

// The allowed origin `request` comes from, if any.
std::optional<std::string_view> AllowedOrigin(const Request& request,
                                              const std::vector<std::string>& origins) {
  if (origins.empty()) return std::nullopt;
  auto origin = request.Header("origin");
  if (!origin || origin->empty()) return std::nullopt;
  bool any = std::find(origins.begin(), origins.end(), "*") != origins.end();
  if (!any && std::find(origins.begin(), origins.end(), *origin) == origins.end()) {
    return std::nullopt;
  }
  return origin;
}

}  // namespace

std::optional<Response> CorsPreflight(const Request& request,
                                      const std::vector<std::string>& origins) {
  if (request.method != "OPTIONS" || !request.Header("access-control-request-method")) {
    return std::nullopt;
  }
  auto origin = AllowedOrigin(request, origins);
  if (!origin) return std::nullopt;
  Response response = Response::NoContent(204);
  response.SetHeader("Access-Control-Allow-Origin", *origin);
  response.SetHeader("Vary", "Origin");
  response.SetHeader("Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE, OPTIONS");
  response.SetHeader("Access-Control-Allow-Headers",
                     "Authorization, Content-Type, Idempotency-Key, X-Client-Id, X-Request-Id");
  response.SetHeader("Access-Control-Max-Age", "600");
  return response;
}

void AddCorsHeaders(const Request& request, const std::vector<std::string>& origins,
                    Response& response) {
  auto origin = AllowedOrigin(request, origins);
  if (!origin) return;
  response.SetHeader("Access-Control-Allow-Origin", *origin);
  response.SetHeader("Vary", "Origin");
  response.SetHeader("Access-Control-Expose-Headers", "X-Request-Id, Retry-After, Location");
}

}  // namespace imgpipe::http::internal
