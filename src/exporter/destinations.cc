// The destinations file (exporter.h) and GET /api/destinations.
#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <set>
#include <span>
#include <sstream>

#include "exporter/exporter.h"

namespace imgpipe::exporter {
namespace {

namespace json = boost::json;
using core::Result;
using core::Status;

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// An AE title: 1..16 printable ASCII characters, no backslash, not only spaces.
bool IsValidAet(std::string_view aet) {
  if (aet.empty() || aet.size() > 16) return false;
  bool visible = false;
  for (char c : aet) {
    if (c < 0x20 || c > 0x7e || c == '\\') return false;
    visible = visible || c != ' ';
  }
  return visible;
}

Result<std::string> Text(const json::object& o, std::string_view key, const std::string& where,
                         bool required) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) {
    if (required)
      return Status::InvalidArgument(where + ": \"" + std::string(key) + "\" is missing");
    return std::string();
  }
  if (!v->is_string()) {
    return Status::InvalidArgument(where + ": \"" + std::string(key) + "\" must be a string");
  }
  return std::string(v->as_string());
}

Result<int64_t> Int(const json::object& o, std::string_view key, const std::string& where,
                    int64_t fallback, int64_t min, int64_t max) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return fallback;
  if (!v->is_int64() || v->as_int64() < min || v->as_int64() > max) {
    return Status::InvalidArgument(where + ": \"" + std::string(key) + "\" must be an integer in " +
                                   std::to_string(min) + ".." + std::to_string(max));
  }
  return v->as_int64();
}

Result<Destination> ParseOne(const json::value& value, size_t index) {
  std::string where = "destination " + std::to_string(index + 1);
  if (!value.is_object()) return Status::InvalidArgument(where + " is not an object");
  const json::object& o = value.as_object();
  Destination d;
  IMGPIPE_ASSIGN_OR_RETURN(d.name, Text(o, "name", where, true));
  if (!IsValidName(d.name)) {
    return Status::InvalidArgument(where + ": the name must be 1..32 of [a-z0-9-]");
  }
  where = "destination \"" + d.name + "\"";
  IMGPIPE_ASSIGN_OR_RETURN(std::string type, Text(o, "type", where, true));
  static constexpr std::string_view kCommon[] = {"name", "type", "max_attempts", "timeout_s"};
  static constexpr std::string_view kDicom[] = {"host", "port", "called_aet", "calling_aet"};
  static constexpr std::string_view kWeb[] = {"url", "headers"};
  std::span<const std::string_view> own;
  if (type == "dicom") {
    d.type = DestinationType::kDicom;
    own = kDicom;
  } else if (type == "dicomweb") {
    d.type = DestinationType::kDicomWeb;
    own = kWeb;
  } else {
    return Status::InvalidArgument(where + ": type must be \"dicom\" or \"dicomweb\"");
  }
  for (const auto& [key, unused] : o) {
    auto known = [&](std::span<const std::string_view> keys) {
      return std::find(keys.begin(), keys.end(), key) != keys.end();
    };
    if (!known(kCommon) && !known(own)) {
      return Status::InvalidArgument(where + ": unknown field \"" + std::string(key) +
                                     "\" for type " + type);
    }
  }
  IMGPIPE_ASSIGN_OR_RETURN(int64_t attempts, Int(o, "max_attempts", where, 5, 1, 100));
  d.max_attempts = static_cast<int>(attempts);
  IMGPIPE_ASSIGN_OR_RETURN(int64_t timeout_s, Int(o, "timeout_s", where, 30, 1, 3600));
  d.timeout = std::chrono::seconds(timeout_s);
  if (d.type == DestinationType::kDicom) {
    IMGPIPE_ASSIGN_OR_RETURN(d.host, Text(o, "host", where, true));
    if (d.host.empty()) return Status::InvalidArgument(where + ": \"host\" is empty");
    IMGPIPE_ASSIGN_OR_RETURN(int64_t port, Int(o, "port", where, 104, 1, 65535));
    d.port = static_cast<int>(port);
    IMGPIPE_ASSIGN_OR_RETURN(d.called_aet, Text(o, "called_aet", where, true));
    IMGPIPE_ASSIGN_OR_RETURN(std::string calling, Text(o, "calling_aet", where, false));
    if (!calling.empty()) d.calling_aet = calling;
    if (!IsValidAet(d.called_aet) || !IsValidAet(d.calling_aet)) {
      return Status::InvalidArgument(where + ": AE titles are 1..16 printable characters");
    }
    return d;
  }
  IMGPIPE_ASSIGN_OR_RETURN(d.url, Text(o, "url", where, true));
  if (!d.url.starts_with("http://") || d.url.size() <= 7) {
    return Status::InvalidArgument(where + ": \"url\" must be an http:// URL");
  }
  while (d.url.ends_with('/')) d.url.pop_back();
  if (const json::value* headers = o.if_contains("headers")) {
    if (!headers->is_object()) {
      return Status::InvalidArgument(where + ": \"headers\" must be an object of strings");
    }
    for (const auto& [name, value] : headers->as_object()) {
      // The value is never echoed: it may be a secret.
      if (!value.is_string()) {
        return Status::InvalidArgument(where + ": header \"" + std::string(name) +
                                       "\" must be a string");
      }
      std::string_view v = value.as_string();
      if (name.empty() || v.find_first_of("\r\n") != std::string_view::npos ||
          std::string_view(name).find_first_of(":\r\n ") != std::string_view::npos) {
        return Status::InvalidArgument(where + ": header \"" + std::string(name) +
                                       "\" is not a valid header");
      }
      d.headers.emplace_back(std::string(name), std::string(v));
    }
  }
  return d;
}

}  // namespace

std::string_view TypeName(DestinationType type) {
  return type == DestinationType::kDicom ? "dicom" : "dicomweb";
}

Result<std::vector<Destination>> ParseDestinations(std::string_view text) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) return Status::InvalidArgument("not valid JSON: " + ec.message());
  const json::value* list = doc.is_object() ? doc.as_object().if_contains("destinations") : nullptr;
  if (list == nullptr || !list->is_array()) {
    return Status::InvalidArgument("expected {\"destinations\": [...]}");
  }
  std::vector<Destination> out;
  std::set<std::string> names;
  for (size_t i = 0; i < list->as_array().size(); ++i) {
    IMGPIPE_ASSIGN_OR_RETURN(Destination d, ParseOne(list->as_array()[i], i));
    if (!names.insert(d.name).second) {
      return Status::InvalidArgument("destination \"" + d.name + "\" is named twice");
    }
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::vector<Destination>> LoadDestinations(const std::string& path) {
  if (path.empty()) return std::vector<Destination>();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("export.destinations_file: cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  auto parsed = ParseDestinations(text.str());
  if (!parsed.ok()) {
    return Status::InvalidArgument("export.destinations_file " + path + ": " +
                                   parsed.status().message());
  }
  return parsed;
}

std::set<std::string> Names(const std::vector<Destination>& destinations) {
  std::set<std::string> out;
  for (const Destination& d : destinations) out.insert(d.name);
  return out;
}

void RegisterRoutes(http::Router& router,
                    std::shared_ptr<const std::vector<Destination>> destinations) {
  router.Add("GET", "/api/destinations", [destinations](http::Request&) {
    json::array out;
    for (const Destination& d : *destinations) {
      out.push_back(json::object{{"name", d.name}, {"type", TypeName(d.type)}});
    }
    return http::Response::Json(200,
                                json::serialize(json::object{{"destinations", std::move(out)}}));
  });
}

}  // namespace imgpipe::exporter
