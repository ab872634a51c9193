// Conversions between Beast messages and the module's Request/Response.
#include "http/message.h"

#include <cctype>
#include <ctime>
#include <optional>
#include <string>

#include "core/ids.h"

namespace imgpipe::http::internal {
namespace http = boost::beast::http;

namespace {

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "a=1&b=x+y&c" -> {a,1} {b,"x y"} {c,""}; empty pieces are skipped.
bool ParseQuery(std::string_view query, HeaderList& out) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    size_t eq = piece.find('=');
    std::optional<std::string> name = PercentDecode(piece.substr(0, eq), /*plus_is_space=*/true);
    std::optional<std::string> value =
        eq == std::string_view::npos ? std::string()
                                     : PercentDecode(piece.substr(eq + 1), /*plus_is_space=*/true);
    if (!name || !value) return false;
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return true;
}

bool HasNoBody(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

bool IsFramingHeader(std::string_view name) {
  std::string lower = Lowercase(name);
  return lower == "content-length" || lower == "transfer-encoding" || lower == "connection" ||
         lower == "x-request-id";
}

}  // namespace

std::string_view RawPath(std::string_view target) { return target.substr(0, target.find('?')); }

core::Status BuildRequest(BeastRequest& message, Request& request) {
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  std::string_view raw_path = RawPath(request.target);
  // Only origin-form targets ("/path?query"); absolute-form and "*" are not served.
  if (raw_path.empty() || raw_path.front() != '/') {
    return core::Status::InvalidArgument("request target must start with '/'");
  }
  std::optional<std::string> path = PercentDecode(raw_path, /*plus_is_space=*/false);
  if (!path || path->find('\0') != std::string::npos) {
    return core::Status::InvalidArgument("malformed percent-encoding in path");
  }
  request.path = std::move(*path);
  if (raw_path.size() < request.target.size()) {
    std::string_view query = std::string_view(request.target).substr(raw_path.size() + 1);
    if (!ParseQuery(query, request.query)) {
      return core::Status::InvalidArgument("malformed percent-encoding in query");
    }
  }
  for (const auto& field : message) {
    request.headers.emplace_back(Lowercase(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(message.body());
  return core::Status::Ok();
}

std::string ChooseRequestId(std::string_view incoming) {
  if (core::IsAcceptableRequestId(incoming)) return std::string(incoming);
  return core::NewRequestId();
}

BeastResponse ToBeast(Response&& response, unsigned version, bool head, bool keep_alive,
                      std::string_view request_id) {
  BeastResponse out;
  out.version(version);
  out.result(static_cast<unsigned>(response.status));
  for (auto& [name, value] : response.headers) {
    if (IsFramingHeader(name)) continue;
    out.insert(name, value);
  }
  if (out.find(http::field::server) == out.end()) out.set(http::field::server, "imgpipe");
  if (out.find(http::field::date) == out.end()) out.set(http::field::date, HttpDateNow());
  // Every response is what its Content-Type says: a browser must not sniff an output an external
  // program wrote, or a stored file, into HTML that runs on this origin.
  if (out.find("X-Content-Type-Options") == out.end()) out.set("X-Content-Type-Options", "nosniff");
  out.set("X-Request-Id", request_id);
  out.keep_alive(keep_alive);
  if (HasNoBody(response.status)) return out;
  out.content_length(response.body.size());
  if (!head) out.body() = std::move(response.body);
  return out;
}

std::string HttpDateNow() {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

}  // namespace imgpipe::http::internal
