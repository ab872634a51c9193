#include "app/config.h"

#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/strings.h"
#include "dimse/dimse.h"

extern char** environ;

// Set by CMake to the source tree's web/dist.
#ifndef IMGPIPE_DEFAULT_WEB_ROOT
#define IMGPIPE_DEFAULT_WEB_ROOT "web/dist"
#endif

namespace imgpipe::app {
namespace {

using core::Result;
using core::Status;

Result<bool> ParseBool(const std::string& key, const std::string& v) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return Status::InvalidArgument(key + " must be true or false, not \"" + v + "\"");
}

Result<uint64_t> ParseUint(const std::string& key, const std::string& v) {
  uint64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size()) {
    return Status::InvalidArgument(key + " must be a non-negative integer, not \"" + v + "\"");
  }
  return out;
}

// One setter per key; the same table serves the file, the environment and the flags.
using Setter = std::function<Status(Config&, const std::string&)>;

// A setter of an integer member within [min, max].
template <typename T>
Setter Bounded(std::string key, T Config::*member, uint64_t min, uint64_t max) {
  return [key, member, min, max](Config& c, const std::string& v) -> Status {
    IMGPIPE_ASSIGN_OR_RETURN(uint64_t n, ParseUint(key, v));
    if (n < min || n > max) {
      return Status::InvalidArgument(key + " must be within " + std::to_string(min) + ".." +
                                     std::to_string(max));
    }
    c.*member = static_cast<T>(n);
    return Status::Ok();
  };
}

const std::map<std::string, Setter>& Setters() {
  static const std::map<std::string, Setter> m = {
      {"listen",
       [](Config& c, const std::string& v) {
         c.listen = v;
         return Status::Ok();
       }},
      {"data_dir",
       [](Config& c, const std::string& v) {
         c.data_dir = v;
         return Status::Ok();
       }},
      {"database.url",
       [](Config& c, const std::string& v) {
         c.database_url = v;
         return Status::Ok();
       }},
      {"blob.url",
       [](Config& c, const std::string& v) {
         if (!v.empty() && v.rfind("s3://", 0) != 0) {
           return Status::InvalidArgument(
               "blob.url must be empty (a folder) or s3://bucket/prefix");
         }
         c.blob_url = v;
         return Status::Ok();
       }},
      {"blob.s3_endpoint",
       [](Config& c, const std::string& v) {
         c.blob_s3_endpoint = v;
         return Status::Ok();
       }},
      {"blob.s3_region",
       [](Config& c, const std::string& v) {
         c.blob_s3_region = v;
         return Status::Ok();
       }},
      {"roles",
       [](Config& c, const std::string& v) {
         c.roles = v;
         return Status::Ok();
       }},
      {"log.level",
       [](Config& c, const std::string& v) {
         static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
         for (const char* l : levels) {
           if (v == l) {
             c.log_level = v;
             return Status::Ok();
           }
         }
         return Status::InvalidArgument("log.level must be trace, debug, info, warn, error or off");
       }},
      {"log.json",
       [](Config& c, const std::string& v) {
         IMGPIPE_ASSIGN_OR_RETURN(c.log_json, ParseBool("log.json", v));
         return Status::Ok();
       }},
      {"log.file",
       [](Config& c, const std::string& v) {
         c.log_file = v;
         return Status::Ok();
       }},
      {"log.retention_days", Bounded("log.retention_days", &Config::log_retention_days, 0, 36'500)},
      {"http.threads", Bounded("http.threads", &Config::http_threads, 0, 256)},
      {"http.io_threads", Bounded("http.io_threads", &Config::http_io_threads, 0, 256)},
      {"http.body_limit_mb",
       [](Config& c, const std::string& v) {
         IMGPIPE_ASSIGN_OR_RETURN(c.body_limit_mb, ParseUint("http.body_limit_mb", v));
         if (c.body_limit_mb == 0) return Status::InvalidArgument("http.body_limit_mb must be > 0");
         return Status::Ok();
       }},
      {"http.cors_origins",
       [](Config& c, const std::string& v) {
         c.http_cors_origins = v;
         return Status::Ok();
       }},
      {"render_cache_mb",
       [](Config& c, const std::string& v) {
         IMGPIPE_ASSIGN_OR_RETURN(c.render_cache_mb, ParseUint("render_cache_mb", v));
         return Status::Ok();
       }},
      {"demo",
       [](Config& c, const std::string& v) {
         IMGPIPE_ASSIGN_OR_RETURN(c.demo, ParseBool("demo", v));
         return Status::Ok();
       }},
      {"algorithms.external_dir",
       [](Config& c, const std::string& v) {
         c.external_algorithms_dir = v;
         return Status::Ok();
       }},
      {"workers.algorithms",
       [](Config& c, const std::string& v) {
         c.worker_algorithms = v;
         return Status::Ok();
       }},
      {"workers.concurrency", Bounded("workers.concurrency", &Config::worker_concurrency, 1, 64)},
      {"queue.max_depth", Bounded("queue.max_depth", &Config::queue_max_depth, 0, 1'000'000'000)},
      {"queue.visibility_timeout_s",
       Bounded("queue.visibility_timeout_s", &Config::queue_visibility_timeout_s, 1, 43'200)},
      {"queue.max_receive_count",
       Bounded("queue.max_receive_count", &Config::queue_max_receive_count, 1, 1000)},
      {"push.ping_interval_s",
       Bounded("push.ping_interval_s", &Config::push_ping_interval_s, 1, 3600)},
      {"push.max_message_kb",
       Bounded("push.max_message_kb", &Config::push_max_message_kb, 1, 16384)},
      {"push.max_queued", Bounded("push.max_queued", &Config::push_max_queued, 1, 1'000'000)},
      {"push.retention_h", Bounded("push.retention_h", &Config::push_retention_h, 1, 24 * 365)},
      {"limits.submits_per_s_per_client",
       Bounded("limits.submits_per_s_per_client", &Config::limits_submits_per_s_per_client, 0,
               1'000'000)},
      {"limits.submits_per_s_per_address",
       Bounded("limits.submits_per_s_per_address", &Config::limits_submits_per_s_per_address, 0,
               1'000'000)},
      {"limits.connects_per_s_per_address",
       Bounded("limits.connects_per_s_per_address", &Config::limits_connects_per_s_per_address, 0,
               1'000'000)},
      {"limits.burst_s", Bounded("limits.burst_s", &Config::limits_burst_s, 1, 3600)},
      {"limits.max_active_jobs_per_client",
       Bounded("limits.max_active_jobs_per_client", &Config::limits_max_active_jobs_per_client, 0,
               1'000'000'000)},
      {"limits.max_connections_per_client",
       Bounded("limits.max_connections_per_client", &Config::limits_max_connections_per_client, 0,
               1'000'000)},
      {"limits.max_json_kb",
       Bounded("limits.max_json_kb", &Config::limits_max_json_kb, 1, 64 * 1024)},
      {"limits.max_json_depth",
       Bounded("limits.max_json_depth", &Config::limits_max_json_depth, 1, 1000)},
      {"limits.trusted_proxies",
       [](Config& c, const std::string& v) {
         c.limits_trusted_proxies = v;
         return Status::Ok();
       }},
      {"admin_key",
       [](Config& c, const std::string& v) {
         c.admin_key = v;
         return Status::Ok();
       }},
      {"auth.api_keys_file",
       [](Config& c, const std::string& v) {
         c.auth_api_keys_file = v;
         return Status::Ok();
       }},
      {"auth.jwt_jwks_file",
       [](Config& c, const std::string& v) {
         c.auth_jwt_jwks_file = v;
         return Status::Ok();
       }},
      {"auth.jwt_issuer",
       [](Config& c, const std::string& v) {
         c.auth_jwt_issuer = v;
         return Status::Ok();
       }},
      {"auth.jwt_audience",
       [](Config& c, const std::string& v) {
         c.auth_jwt_audience = v;
         return Status::Ok();
       }},
      {"auth.jwt_admin_scope",
       [](Config& c, const std::string& v) {
         c.auth_jwt_admin_scope = v;
         return Status::Ok();
       }},
      {"dicom.listen",
       [](Config& c, const std::string& v) {
         c.dicom_listen = v;
         return Status::Ok();
       }},
      {"dicom.aet",
       [](Config& c, const std::string& v) {
         IMGPIPE_RETURN_IF_ERROR(dimse::ValidateAeTitle(v, "dicom.aet"));
         c.dicom_aet = v;
         return Status::Ok();
       }},
      {"dicom.allowed_aets",
       [](Config& c, const std::string& v) {
         // Comma-separated; each entry (spaces around it trimmed) is an AE title.
         size_t start = 0;
         while (start <= v.size()) {
           size_t comma = v.find(',', start);
           std::string entry(core::TrimSpace(
               std::string_view(v).substr(start, comma == std::string::npos ? comma
                                                                            : comma - start)));
           if (!entry.empty()) {
             IMGPIPE_RETURN_IF_ERROR(dimse::ValidateAeTitle(entry, "dicom.allowed_aets entry"));
           }
           if (comma == std::string::npos) break;
           start = comma + 1;
         }
         c.dicom_allowed_aets = v;
         return Status::Ok();
       }},
      {"export.destinations_file",
       [](Config& c, const std::string& v) {
         c.export_destinations_file = v;
         return Status::Ok();
       }},
      {"export.workers", Bounded("export.workers", &Config::export_workers, 0, 16)},
      {"rules.file",
       [](Config& c, const std::string& v) {
         c.rules_file = v;
         return Status::Ok();
       }},
      {"pacs.upstream_url",
       [](Config& c, const std::string& v) {
         c.pacs_upstream_url = v;
         return Status::Ok();
       }},
      {"pacs.upstream_timeout_s",
       Bounded("pacs.upstream_timeout_s", &Config::pacs_upstream_timeout_s, 1, 3600)},
      {"pacs.upstream_authorization",
       [](Config& c, const std::string& v) {
         c.pacs_upstream_authorization = v;
         return Status::Ok();
       }},
      {"web.root",
       [](Config& c, const std::string& v) {
         c.web_root = v;
         return Status::Ok();
       }},
  };
  return m;
}

// IMGPIPE_HTTP_BODY_LIMIT_MB <-> http.body_limit_mb.
std::string EnvName(const std::string& key) {
  std::string out = "IMGPIPE_";
  for (char c : key) out += (c == '.') ? '_' : static_cast<char>(std::toupper(c));
  return out;
}

// --body-limit-mb <-> http.body_limit_mb: flags drop the section and use dashes.
std::string FlagKey(const std::string& flag) {
  std::string k;
  for (char c : flag) k += (c == '-') ? '_' : c;
  // An exact key wins over another section's key with the same tail (--listen is `listen`, not
  // `dicom.listen`).
  if (Setters().count(k) != 0) return k;
  for (const auto& [key, setter] : Setters()) {
    std::string tail = key.substr(key.find('.') == std::string::npos ? 0 : key.find('.') + 1);
    std::string underscored = key;
    for (char& c : underscored) c = (c == '.') ? '_' : c;
    if (k == key || k == tail || k == underscored) return key;
  }
  return k;
}

Status Apply(Config& c, const std::string& key, const std::string& value,
             const std::string& source) {
  auto it = Setters().find(key);
  if (it == Setters().end()) return Status::InvalidArgument(source + ": unknown setting " + key);
  return it->second(c, value).WithContext(source);
}

}  // namespace

Result<std::map<std::string, std::string>> ParseToml(std::string_view text) {
  std::map<std::string, std::string> out;
  std::string section;
  int line_no = 0;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = core::TrimSpace(text.substr(0, eol));
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    auto where = "line " + std::to_string(line_no);
    if (line.front() == '[') {
      if (line.back() != ']') return Status::InvalidArgument(where + ": unclosed [section]");
      section = std::string(core::TrimSpace(line.substr(1, line.size() - 2)));
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos)
      return Status::InvalidArgument(where + ": expected key = value");
    std::string key(core::TrimSpace(line.substr(0, eq)));
    std::string_view value = core::TrimSpace(line.substr(eq + 1));
    std::string parsed;
    if (!value.empty() && value.front() == '"') {
      size_t close = value.find('"', 1);
      if (close == std::string_view::npos)
        return Status::InvalidArgument(where + ": unclosed string");
      parsed = std::string(value.substr(1, close - 1));
      std::string_view rest = core::TrimSpace(value.substr(close + 1));
      if (!rest.empty() && rest.front() != '#') {
        return Status::InvalidArgument(where + ": unexpected text after the string");
      }
    } else {
      parsed = std::string(core::TrimSpace(value.substr(0, value.find('#'))));
    }
    if (key.empty()) return Status::InvalidArgument(where + ": empty key");
    out[section.empty() ? key : section + "." + key] = parsed;
  }
  return out;
}

Result<Config> LoadConfig(const std::map<std::string, std::string>& flags,
                          const std::map<std::string, std::string>& env) {
  Config c;
  c.web_root = IMGPIPE_DEFAULT_WEB_ROOT;
  // Which file: --config, else IMGPIPE_CONFIG, else ./imgpipe.toml when present.
  std::string file;
  if (auto it = flags.find("config"); it != flags.end()) {
    file = it->second;
  } else if (auto e = env.find("IMGPIPE_CONFIG"); e != env.end()) {
    file = e->second;
  }
  bool required = !file.empty();
  if (file.empty()) file = "imgpipe.toml";
  std::ifstream in(file);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    IMGPIPE_ASSIGN_OR_RETURN(auto values, ParseToml(ss.str()));
    for (const auto& [k, v] : values) IMGPIPE_RETURN_IF_ERROR(Apply(c, k, v, file));
    c.config_file = file;
  } else if (required) {
    return Status::InvalidArgument("cannot read config file " + file);
  }
  for (const auto& [key, setter] : Setters()) {
    if (auto it = env.find(EnvName(key)); it != env.end()) {
      IMGPIPE_RETURN_IF_ERROR(Apply(c, key, it->second, EnvName(key)));
    }
  }
  // Environment twins DESIGN.md names that do not follow the section rule.
  if (auto it = env.find("IMGPIPE_DATABASE_URL"); it != env.end()) c.database_url = it->second;
  if (auto it = env.find("IMGPIPE_ADMIN_KEY"); it != env.end()) c.admin_key = it->second;
  for (const auto& [flag, value] : flags) {
    if (flag == "config") continue;
    IMGPIPE_RETURN_IF_ERROR(Apply(c, FlagKey(flag), value, "--" + flag));
  }
  return c;
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

}  // namespace imgpipe::app
