// Cross-origin requests (CORS): off unless ServerOptions::cors_origins lists origins. Internal to
// the http module (the session applies it to every request, errors included).
//
// For a request whose Origin is allowed ("*" allows any): a preflight (OPTIONS with
// Access-Control-Request-Method) is answered 204 with the methods and headers the API uses,
// without reaching the router; every other response gets Access-Control-Allow-Origin (the
// origin itself, with Vary: Origin) and exposes the headers clients read (X-Request-Id,
// Retry-After, Location). A request from an origin not listed gets no CORS header at all, so the
// browser keeps it from the page. No credentials mode: the API's credentials are bearer keys
// and client ids sent explicitly, never cookies.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "http/http.h"

namespace imgpipe::http::internal {

// The 204 answer to `request` if it is a preflight from an allowed origin.
std::optional<Response> CorsPreflight(const Request& request,
                                      const std::vector<std::string>& origins);

// Adds the CORS headers to `response` when `request` comes from an allowed origin.
void AddCorsHeaders(const Request& request, const std::vector<std::string>& origins,
                    Response& response);

}  // namespace imgpipe::http::internal
