#include "app/client_common.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "algorithms/algorithms.h"
#include "app/commands.h"
#include "app/outputs.h"
#include "core/strings.h"
#include "http/client.h"

namespace imgpipe::app::client {

int Fail(int exit_code, std::string_view message) {
  std::fprintf(stderr, "imgpipe: %.*s\n", static_cast<int>(message.size()), message.data());
  return exit_code;
}

std::optional<std::string> Args::Get(const std::string& name) const {
  auto it = flags.find(name);
  if (it == flags.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::optional<Args> ParseArgs(const std::vector<std::string>& args,
                              const std::set<std::string>& with_value,
                              const std::set<std::string>& boolean, std::string* error) {
  Args out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() <= 2 || a.rfind("--", 0) != 0) {
      out.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (boolean.count(name)) {
      if (value) {
        *error = "--" + name + " takes no value";
        return std::nullopt;
      }
      out.flags[name].push_back("true");
    } else if (with_value.count(name)) {
      if (!value) {
        if (i + 1 >= args.size()) {
          *error = "--" + name + " needs a value";
          return std::nullopt;
        }
        value = args[++i];
      }
      out.flags[name].push_back(*value);
    } else {
      *error = "unknown flag --" + name;
      return std::nullopt;
    }
  }
  return out;
}

namespace {

std::string EnvOr(const std::map<std::string, std::string>& env, const std::string& name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

// "http://h:p/api" -> "http://h:p"; "" when `url` does not start with `scheme` "://" and a host.
std::string OriginOf(const std::string& url, std::string_view scheme) {
  const std::string prefix = std::string(scheme) + "://";
  if (url.rfind(prefix, 0) != 0 || url.size() == prefix.size()) return "";
  size_t slash = url.find_first_of("/?#", prefix.size());
  return url.substr(0, slash);
}

std::string StripTrailingSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

std::optional<Endpoints> ResolveEndpoints(const Config& config,
                                          const std::map<std::string, std::string>& env,
                                          std::string* error) {
  Endpoints e;
  e.api_base = StripTrailingSlash(EnvOr(env, "API_BASE"));
  e.ws_endpoint = EnvOr(env, "WS_ENDPOINT");
  if (e.api_base.empty()) {
    std::string host;
    uint16_t port = 0;
    if (core::Status st = ParseListen(config.listen, &host, &port); !st.ok()) {
      *error = st.message();
      return std::nullopt;
    }
    DeploymentOutputs defaults =
        ComputeOutputs(PublicBaseUrl(host, port), algorithms::Registry::BuiltIn());
    e.api_base = defaults.api_base;
    if (e.ws_endpoint.empty()) e.ws_endpoint = defaults.ws_endpoint;
  }
  e.origin = OriginOf(e.api_base, "http");
  if (e.origin.empty()) {
    *error = "API_BASE must be an http:// URL, not \"" + e.api_base + "\"";
    return std::nullopt;
  }
  if (e.ws_endpoint.empty()) e.ws_endpoint = "ws" + e.origin.substr(4) + "/ws";
  if (OriginOf(e.ws_endpoint, "ws").empty()) {
    *error = "WS_ENDPOINT must be a ws:// URL, not \"" + e.ws_endpoint + "\"";
    return std::nullopt;
  }
  return e;
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

int CallBytes(std::string_view method, const std::string& url, std::string_view body,
              const http::HeaderList& headers, std::string* out,
              const http::FetchOptions& options) {
  // The deployment's credential, when it asks for one (docs/security.md): $IMGPIPE_TOKEN (an
  // API key, a JWT or the admin key), sent unless the caller set its own.
  http::HeaderList all = headers;
  const char* token = std::getenv("IMGPIPE_TOKEN");
  bool has_auth = std::any_of(all.begin(), all.end(), [](const auto& h) {
    return core::AsciiLower(h.first) == "authorization";
  });
  if (token != nullptr && *token != '\0' && !has_auth) {
    all.emplace_back("Authorization", std::string("Bearer ") + token);
  }
  auto reply = http::Fetch(method, url, body, all, options);
  if (!reply.ok()) {
    if (reply.status().code() == core::StatusCode::kInvalidArgument) {
      return Fail(kExitUsage, reply.status().message());
    }
    return Fail(kExitUnavailable, "cannot reach the server: " + reply.status().message());
  }
  if (reply->status >= 400) {
    // The API's errors are {"error":{"code","message"}}; anything else is shown as it came.
    boost::system::error_code ec;
    boost::json::value json = boost::json::parse(reply->body, ec);
    std::string message;
    if (!ec && json.is_object()) {
      const auto* err = json.as_object().if_contains("error");
      if (err && err->is_object()) {
        const auto* m = err->as_object().if_contains("message");
        if (m && m->is_string()) message = std::string(m->as_string());
      }
    }
    if (message.empty()) message = reply->body.substr(0, 200);
    const std::string what = std::string(method) + " " + url + ": HTTP " +
                             std::to_string(reply->status) + ": " + message;
    if (reply->status >= 500) return Fail(kExitUnavailable, "the server failed: " + what);
    return Fail(kExitRefused, "the server refused: " + what);
  }
  if (reply->status < 200 || reply->status >= 300) {
    return Fail(kExitUnavailable, std::string(method) + " " + url + ": unexpected reply HTTP " +
                                      std::to_string(reply->status));
  }
  *out = std::move(reply->body);
  return kExitOk;
}

int CallJson(std::string_view method, const std::string& url, std::string_view body,
             const http::HeaderList& headers, boost::json::value* out,
             std::chrono::milliseconds timeout) {
  http::HeaderList all = headers;
  if (!body.empty()) all.emplace_back("Content-Type", "application/json");
  std::string text;
  if (int rc = CallBytes(method, url, body, all, &text, {.timeout = timeout})) return rc;
  boost::system::error_code ec;
  boost::json::value json = boost::json::parse(text, ec);
  if (ec) {
    return Fail(kExitUnavailable, std::string(method) + " " + url + ": the reply is not JSON");
  }
  *out = std::move(json);
  return kExitOk;
}

std::optional<std::string> ClientIdFrom(const Args& args,
                                        const std::map<std::string, std::string>& env) {
  if (auto id = args.Get("client-id"); id && !id->empty()) return id;
  std::string from_env = EnvOr(env, "IMGPIPE_CLIENT_ID");
  if (!from_env.empty()) return from_env;
  return std::nullopt;
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(header.size());
  for (size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < widths.size(); ++i) {
      std::string cell = i < row.size() ? row[i] : "";
      if (i + 1 < widths.size()) cell.resize(widths[i] + 2, ' ');
      line += cell;
    }
    std::printf("%s\n", line.c_str());
  };
  print_row(header);
  for (const auto& row : rows) print_row(row);
}

}  // namespace imgpipe::app::client
