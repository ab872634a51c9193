// Request/Response accessors and percent-decoding.
#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>

#include "core/strings.h"
#include "http/http.h"

namespace imgpipe::http {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::optional<std::string_view> Find(const HeaderList& list, std::string_view name,
                                     bool ignore_case) {
  for (const auto& [key, value] : list) {
    if (ignore_case ? EqualsIgnoreCase(key, name) : key == name) return value;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> Request::Query(std::string_view name) const {
  return Find(query, name, /*ignore_case=*/false);
}

std::optional<std::string_view> Request::Header(std::string_view name) const {
  return Find(headers, name, /*ignore_case=*/true);
}

std::string_view Request::PathParam(std::string_view name) const {
  return Find(path_params, name, /*ignore_case=*/false).value_or(std::string_view());
}

void Response::SetHeader(std::string_view name, std::string_view value) {
  bool replaced = false;
  for (auto it = headers.begin(); it != headers.end();) {
    if (EqualsIgnoreCase(it->first, name)) {
      if (replaced) {
        it = headers.erase(it);
        continue;
      }
      it->second = std::string(value);
      replaced = true;
    }
    ++it;
  }
  if (!replaced) headers.emplace_back(std::string(name), std::string(value));
}

std::optional<std::string_view> Response::Header(std::string_view name) const {
  return Find(headers, name, /*ignore_case=*/true);
}

Response Response::Json(int status, std::string json_body) {
  return Bytes(status, "application/json", std::move(json_body));
}

Response Response::Bytes(int status, std::string content_type, std::string body) {
  Response response;
  response.status = status;
  response.headers.emplace_back("Content-Type", std::move(content_type));
  response.body = std::move(body);
  return response;
}

Response Response::NoContent(int status) {
  Response response;
  response.status = status;
  return response;
}

std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (s.size() - i < 3) return std::nullopt;  // fewer than two hex digits follow
      int hi = core::HexDigitValue(s[i + 1]);
      int lo = core::HexDigitValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string ClientAddress(const Request& request, const std::vector<std::string>& trusted_proxies) {
  // remote is "ip:port" or "[v6]:port".
  std::string_view peer = request.remote;
  if (size_t colon = peer.rfind(':'); colon != std::string_view::npos) peer = peer.substr(0, colon);
  if (peer.size() >= 2 && peer.front() == '[' && peer.back() == ']') {
    peer = peer.substr(1, peer.size() - 2);
  }
  if (std::find(trusted_proxies.begin(), trusted_proxies.end(), peer) == trusted_proxies.end()) {
    return std::string(peer);
  }
  auto forwarded = request.Header("x-forwarded-for");
  if (!forwarded) return std::string(peer);
  std::string_view last = *forwarded;
  if (size_t comma = last.rfind(','); comma != std::string_view::npos) {
    last = last.substr(comma + 1);
  }
  while (!last.empty() && (last.front() == ' ' || last.front() == '\t')) last.remove_prefix(1);
  while (!last.empty() && (last.back() == ' ' || last.back() == '\t')) last.remove_suffix(1);
  return last.empty() ? std::string(peer) : std::string(last);
}

}  // namespace imgpipe::http
