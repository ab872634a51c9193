// Router: method + segment-pattern matching, 404/405 handling, handler exceptions -> 500.
//
// Matching works on the RAW path (from Request::target when set, else Request::path), split at
// '/' and percent-decoded segment by segment, so an encoded "%2F" stays inside its segment and can
// never create an extra one. Among the routes of the request's method that match, the most
// specific wins: segment by segment, a literal beats "{name}", which beats "{name...}". The
// fallback (SetFallback) runs only where the answer would otherwise be 404, so it can never shadow
// a route nor turn a 405 into something else.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "http/http.h"

namespace imgpipe::http {
namespace {

// Splits "/a/b" into {"a", "b"}; "/" and "" give no segments; "/a/" gives {"a", ""}.
std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path.empty()) return segments;
  for (;;) {
    size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

bool IsParam(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// Rank of a pattern segment for precedence (higher is more specific).
int Rank(std::string_view pattern_segment, bool is_rest) {
  if (is_rest) return 0;
  return IsParam(pattern_segment) ? 1 : 2;
}

// Matches the decoded segments against a route; fills `params` and `ranks` on success.
bool Match(const std::vector<std::string>& pattern, bool rest,
           const std::vector<std::string>& segments, HeaderList& params, std::vector<int>& ranks) {
  size_t fixed = rest ? pattern.size() - 1 : pattern.size();
  if (rest ? segments.size() < fixed : segments.size() != fixed) return false;
  for (size_t i = 0; i < fixed; ++i) {
    const std::string& p = pattern[i];
    if (IsParam(p)) {
      if (segments[i].empty()) return false;
      params.emplace_back(p.substr(1, p.size() - 2), segments[i]);
    } else if (p != segments[i]) {
      return false;
    }
    ranks.push_back(Rank(p, false));
  }
  if (rest) {
    std::string value;
    for (size_t i = fixed; i < segments.size(); ++i) {
      // A decoded '/' would smuggle an extra segment into the rest value: no match.
      if (segments[i].find('/') != std::string::npos) return false;
      if (i > fixed) value += '/';
      value += segments[i];
    }
    const std::string& p = pattern.back();
    params.emplace_back(p.substr(1, p.size() - 5), std::move(value));  // strip "{" and "...}"
    ranks.push_back(Rank(p, true));
  } else {
    ranks.push_back(3);  // the pattern ends here: an exact-length match beats a rest parameter
  }
  return true;
}

Response MethodNotAllowed(const Request& request, const std::set<std::string>& methods) {
  std::string allow;
  for (const std::string& m : methods) {
    if (!allow.empty()) allow += ", ";
    allow += m;
  }
  std::string body = R"({"error":{"code":"method_not_allowed","message":")";
  body += core::JsonEscape("method " + request.method + " not allowed; allowed: " + allow);
  body += R"("}})";
  Response response = Response::Json(405, std::move(body));
  response.SetHeader("Allow", allow);
  return response;
}

}  // namespace

void Router::Add(std::string_view method, std::string_view pattern, Handler handler) {
  Route route;
  route.method = std::string(method);
  route.pattern = std::string(pattern);
  for (std::string_view segment : SplitPath(pattern)) route.segments.emplace_back(segment);
  if (!route.segments.empty()) {
    const std::string& last = route.segments.back();
    route.rest = last.size() > 5 && last.front() == '{' && last.ends_with("...}");
  }
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
}

void Router::AddWebSocket(std::string_view path, UpgradeHandler handler, bool blocking) {
  websockets_.emplace_back(std::string(path), WebSocketRoute{std::move(handler), blocking});
}

void Router::SetFallback(Handler handler) { fallback_ = std::move(handler); }

void Router::SetGuard(Guard guard) { guard_ = std::move(guard); }

std::vector<std::pair<std::string, std::string>> Router::Routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(routes_.size() + websockets_.size());
  for (const Route& route : routes_) out.emplace_back(route.method, route.pattern);
  for (const auto& [path, route] : websockets_) out.emplace_back("GET", path);
  return out;
}

const Router::WebSocketRoute* Router::FindWebSocket(std::string_view path) const {
  for (const auto& [p, route] : websockets_) {
    if (p == path) return &route;
  }
  return nullptr;
}

Router::Found Router::Find(const Request& request) const {
  Found found;
  std::string_view raw_path = request.target.empty() ? request.path : request.target;
  raw_path = raw_path.substr(0, raw_path.find('?'));
  found.raw_path = raw_path;
  std::vector<std::string> segments;
  for (std::string_view raw : SplitPath(raw_path)) {
    std::optional<std::string> decoded = PercentDecode(raw, /*plus_is_space=*/false);
    if (!decoded) {
      found.malformed = true;
      return found;
    }
    segments.push_back(std::move(*decoded));
  }

  const bool head = request.method == "HEAD";
  std::vector<int> best_ranks;
  bool best_exact_head = false;  // a HEAD route beats a GET route serving HEAD
  for (const Route& route : routes_) {
    HeaderList params;
    std::vector<int> ranks;
    if (!Match(route.segments, route.rest, segments, params, ranks)) continue;
    found.allowed.insert(route.method);
    if (route.method == "GET") found.allowed.insert("HEAD");
    const bool exact = route.method == request.method;
    if (!exact && !(head && route.method == "GET")) continue;
    // Compare specificity; on a tie an exact method (HEAD route) wins, then the earlier route.
    if (found.route != nullptr) {
      if (ranks < best_ranks) continue;
      if (ranks == best_ranks && (best_exact_head || !exact || !head)) continue;
    }
    found.route = &route;
    found.params = std::move(params);
    best_ranks = std::move(ranks);
    best_exact_head = head && exact;
  }
  return found;
}

std::optional<Response> Router::Admit(Request& request) const {
  if (!guard_ || FindWebSocket(request.path) != nullptr) return std::nullopt;
  Found found = Find(request);
  if (found.route == nullptr) return std::nullopt;
  request.route = found.route->pattern;
  request.path_params = std::move(found.params);
  try {
    return guard_(request);
  } catch (const std::exception& e) {  // Dispatch asks again, and answers 500 if it throws again
    spdlog::error("guard for {} {} threw: {}", request.method, found.raw_path, e.what());
  }
  return std::nullopt;
}

Response Router::Dispatch(Request& request) const {
  request.route = "unmatched";
  if (FindWebSocket(request.path) != nullptr) {
    request.route = request.path;
    Response response = ErrorResponse(
        core::Status::InvalidArgument("this is a WebSocket endpoint: send an Upgrade request"));
    response.status = 426;
    response.SetHeader("Upgrade", "websocket");
    return response;
  }
  Found found = Find(request);
  if (found.malformed) return ErrorResponse(core::Status::InvalidArgument("malformed path"));
  const bool head = request.method == "HEAD";
  const Route* best = found.route;
  std::string_view raw_path = found.raw_path;
  const std::set<std::string>& allowed = found.allowed;
  HeaderList& best_params = found.params;

  const Handler* handler = best != nullptr ? &best->handler : nullptr;
  if (handler == nullptr) {
    if (!allowed.empty()) return MethodNotAllowed(request, allowed);
    if (!fallback_ || (request.method != "GET" && !head)) {
      return ErrorResponse(core::Status::NotFound("no route for " + std::string(raw_path)));
    }
    handler = &fallback_;
    request.route = "static";
  } else {
    request.route = best->pattern;
  }

  request.path_params = std::move(best_params);
  try {
    if (guard_ && handler != &fallback_) {
      if (std::optional<Response> refused = guard_(request)) return std::move(*refused);
    }
    return (*handler)(request);
  } catch (const std::exception& e) {
    spdlog::error("handler for {} {} threw: {}", request.method, raw_path, e.what());
  } catch (...) {
    spdlog::error("handler for {} {} threw a non-standard exception", request.method, raw_path);
  }
  return ErrorResponse(core::Status::Internal("internal error"));
}

}  // namespace imgpipe::http
