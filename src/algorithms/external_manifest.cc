// External algorithm manifests: strict parsing (a typo must fail loudly, never be ignored) and
// loading a folder of them into a Registry.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "algorithms/algorithms.h"
#include "algorithms/external_internal.h"

namespace imgpipe::algorithms {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using core::Status;

constexpr size_t kMaxManifestBytes = 1 << 20;

Status Bad(std::string_view field, std::string_view problem) {
  return Status::InvalidArgument(fmt::format("manifest field '{}': {}", field, problem));
}

// InvalidArgument naming the first key of `o` not in `allowed`.
Status OnlyKeys(const json::object& o, std::initializer_list<std::string_view> allowed,
                std::string_view where) {
  for (const auto& kv : o) {
    if (std::find(allowed.begin(), allowed.end(), kv.key()) == allowed.end()) {
      return Status::InvalidArgument(
          fmt::format("manifest{}: unknown key '{}'", where, std::string_view(kv.key())));
    }
  }
  return Status::Ok();
}

core::Result<std::string> GetString(const json::object& o, std::string_view key, bool required,
                                    std::string_view field) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) {
    if (required) return Bad(field, "is required");
    return std::string();
  }
  if (!v->is_string()) return Bad(field, "must be a string");
  return std::string(v->get_string());
}

core::Result<std::vector<std::string>> GetStrings(const json::object& o, std::string_view key,
                                                  std::string_view field) {
  std::vector<std::string> out;
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return out;
  if (!v->is_array()) return Bad(field, "must be an array of strings");
  for (const json::value& e : v->get_array()) {
    if (!e.is_string() || e.get_string().empty()) {
      return Bad(field, "must be an array of non-empty strings");
    }
    std::string s(e.get_string());
    if (s.find('\0') != std::string::npos) return Bad(field, "must not contain NUL characters");
    out.push_back(std::move(s));
  }
  return out;
}

// An optional number within [lo, hi].
core::Result<std::optional<double>> GetNumber(const json::object& o, std::string_view key,
                                              double lo, double hi, bool integer) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return std::optional<double>();
  const std::string rule =
      fmt::format("must be {} within {}..{}", integer ? "an integer" : "a number", lo, hi);
  if (!v->is_number()) return Bad(key, rule);
  const double x = v->to_number<double>();
  if (!(x >= lo && x <= hi) || (integer && x != static_cast<double>(static_cast<int64_t>(x)))) {
    return Bad(key, rule);
  }
  return std::optional<double>(x);
}

core::Result<ParamSpec> ParseParam(std::string_view name, const json::value& v) {
  const std::string field = fmt::format("params.{}", name);
  if (!v.is_object()) return Bad(field, "must be an object");
  const json::object& o = v.get_object();
  IMGPIPE_RETURN_IF_ERROR(
      OnlyKeys(o, {"type", "description", "default", "minimum", "maximum", "enum"}, " " + field));
  ParamSpec spec;
  spec.name = std::string(name);
  IMGPIPE_ASSIGN_OR_RETURN(std::string type, GetString(o, "type", true, field + ".type"));
  if (type == "integer") {
    spec.type = ParamType::kInteger;
  } else if (type == "number") {
    spec.type = ParamType::kNumber;
  } else if (type == "boolean") {
    spec.type = ParamType::kBoolean;
  } else if (type == "string") {
    spec.type = ParamType::kString;
  } else {
    return Bad(field + ".type", "must be one of integer, number, boolean, string");
  }
  IMGPIPE_ASSIGN_OR_RETURN(spec.description,
                           GetString(o, "description", false, field + ".description"));
  const bool numeric = spec.type == ParamType::kInteger || spec.type == ParamType::kNumber;
  for (std::string_view bound : {"minimum", "maximum"}) {
    const json::value* b = o.if_contains(bound);
    if (b == nullptr) continue;
    const std::string bf = fmt::format("{}.{}", field, bound);
    if (!numeric) return Bad(bf, "only integer and number parameters take bounds");
    if (!b->is_number() || !std::isfinite(b->to_number<double>())) {
      return Bad(bf, "must be a finite number");
    }
    (bound == "minimum" ? spec.minimum : spec.maximum) = b->to_number<double>();
  }
  if (spec.minimum && spec.maximum && *spec.minimum > *spec.maximum) {
    return Bad(field, "minimum must not exceed maximum");
  }
  if (o.contains("enum") && spec.type != ParamType::kString) {
    return Bad(field + ".enum", "only string parameters take an enum");
  }
  if (spec.type == ParamType::kString) {
    IMGPIPE_ASSIGN_OR_RETURN(spec.enum_values, GetStrings(o, "enum", field + ".enum"));
    if (spec.enum_values.empty()) {
      return Bad(field + ".enum", "string parameters need a non-empty enum of allowed values");
    }
    std::set<std::string> seen(spec.enum_values.begin(), spec.enum_values.end());
    if (seen.size() != spec.enum_values.size()) return Bad(field + ".enum", "has duplicates");
  }
  if (const json::value* d = o.if_contains("default"); d != nullptr && !d->is_null()) {
    // The default must pass the very validation a request's value would.
    AlgorithmInfo one;
    one.params = {spec};
    json::object given;
    given[spec.name] = *d;
    core::Result<Params> checked = ValidateParams(one, given);
    if (!checked.ok()) return Bad(field + ".default", checked.status().message());
    switch (spec.type) {
      case ParamType::kInteger:
        spec.default_value = checked->GetInt(spec.name);
        break;
      case ParamType::kNumber:
        spec.default_value = checked->GetNumber(spec.name);
        break;
      case ParamType::kBoolean:
        spec.default_value = checked->GetBool(spec.name);
        break;
      case ParamType::kString:
        spec.default_value = checked->GetString(spec.name);
        break;
    }
  }
  return spec;
}

bool IsParamName(std::string_view s) {
  if (s.empty() || s.size() > 64 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

core::Result<std::string> ReadManifest(const fs::path& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return Status::InvalidArgument("cannot read: " + ec.message());
  if (size > kMaxManifestBytes) return Status::InvalidArgument("manifest larger than 1 MiB");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) return Status::InvalidArgument("cannot read");
  return text.str();
}

}  // namespace

core::Result<ExternalSpec> ParseExternalManifest(std::string_view text,
                                                 const std::string& manifest_dir) {
  boost::system::error_code ec;
  json::value root = json::parse(text, ec);
  if (ec) return Status::InvalidArgument("manifest is not valid JSON: " + ec.message());
  if (!root.is_object()) return Status::InvalidArgument("manifest must be a JSON object");
  const json::object& o = root.get_object();
  IMGPIPE_RETURN_IF_ERROR(
      OnlyKeys(o,
               {"name", "description", "command", "params", "modalities", "scopes",
                "time_limit_seconds", "memory_limit_mb", "cpu_limit_seconds"},
               ""));
  ExternalSpec spec;
  AlgorithmInfo& info = spec.info;
  IMGPIPE_ASSIGN_OR_RETURN(info.name, GetString(o, "name", true, "name"));
  if (!internal::IsValidAlgorithmName(info.name)) return Bad("name", "must match [a-z0-9_]{1,64}");
  IMGPIPE_ASSIGN_OR_RETURN(info.description, GetString(o, "description", true, "description"));

  if (!o.contains("command")) return Bad("command", "is required");
  IMGPIPE_ASSIGN_OR_RETURN(spec.command, GetStrings(o, "command", "command"));
  if (spec.command.empty()) return Bad("command", "must name the program to run");
  fs::path program(spec.command[0]);
  if (program.is_relative()) program = fs::path(manifest_dir) / program;
  std::error_code abs_ec;
  const fs::path absolute = fs::absolute(program, abs_ec);
  if (abs_ec) return Bad("command", program.string() + ": " + abs_ec.message());
  spec.command[0] = absolute.lexically_normal().string();

  if (const json::value* p = o.if_contains("params")) {
    if (!p->is_object()) return Bad("params", "must be an object of parameter declarations");
    for (const auto& kv : p->get_object()) {
      if (!IsParamName(kv.key())) {
        return Bad("params", fmt::format("parameter name '{}' must match [a-z][a-z0-9_]{{0,63}}",
                                         std::string_view(kv.key())));
      }
      IMGPIPE_ASSIGN_OR_RETURN(ParamSpec param, ParseParam(kv.key(), kv.value()));
      info.params.push_back(std::move(param));
    }
  }
  IMGPIPE_ASSIGN_OR_RETURN(info.modalities, GetStrings(o, "modalities", "modalities"));
  for (const std::string& m : info.modalities) {
    if (m.size() > 16) return Bad("modalities", "'" + m + "' is not a DICOM modality");
  }
  if (o.contains("scopes")) {
    IMGPIPE_ASSIGN_OR_RETURN(info.scopes, GetStrings(o, "scopes", "scopes"));
    if (info.scopes.empty()) return Bad("scopes", "must not be empty (omit it for all scopes)");
  } else {
    info.scopes = {"image", "series", "study"};
  }

  IMGPIPE_ASSIGN_OR_RETURN(std::optional<double> time_limit,
                           GetNumber(o, "time_limit_seconds", 0.001, 86400, false));
  if (time_limit) spec.time_limit = std::chrono::milliseconds(std::llround(*time_limit * 1000));
  IMGPIPE_ASSIGN_OR_RETURN(std::optional<double> memory,
                           GetNumber(o, "memory_limit_mb", 16, 1 << 20, true));
  if (memory) spec.memory_limit_bytes = static_cast<uint64_t>(*memory) << 20;
  IMGPIPE_ASSIGN_OR_RETURN(std::optional<double> cpu,
                           GetNumber(o, "cpu_limit_seconds", 1, 86400, true));
  if (cpu) spec.cpu_limit_seconds = static_cast<int>(*cpu);

  // The rest (command[0] executable, scopes known) is what MakeExternalAlgorithm checks too.
  Status st = internal::CheckExternalSpec(spec);
  if (!st.ok()) return st;
  return spec;
}

Status LoadExternalAlgorithms(const std::string& dir, Registry& registry) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Status::NotFound("external algorithms folder " + dir + " does not exist");
  }
  std::vector<fs::path> manifests;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    std::error_code ec2;
    if (it->is_directory(ec2)) {
      if (fs::exists(p / "algorithm.json", ec2)) manifests.push_back(p / "algorithm.json");
    } else if (p.extension() == ".json") {
      manifests.push_back(p);
    }
  }
  if (ec) return Status::Internal("listing " + dir + ": " + ec.message());
  std::sort(manifests.begin(), manifests.end());

  std::vector<std::unique_ptr<Algorithm>> loaded;
  for (const fs::path& path : manifests) {
    const std::string where = path.string();
    core::Result<std::string> text = ReadManifest(path);
    if (!text.ok()) return text.status().WithContext(where);
    core::Result<ExternalSpec> spec = ParseExternalManifest(*text, path.parent_path().string());
    if (!spec.ok()) return spec.status().WithContext(where);
    const std::string name = spec->info.name;
    bool taken = registry.Find(name) != nullptr;
    for (const auto& a : loaded) taken = taken || a->info().name == name;
    if (taken) return Status::AlreadyExists(where + ": algorithm " + name + " already registered");
    core::Result<std::unique_ptr<Algorithm>> algorithm =
        MakeExternalAlgorithm(std::move(spec).value());
    if (!algorithm.ok()) return algorithm.status().WithContext(where);
    loaded.push_back(std::move(algorithm).value());
  }
  for (auto& a : loaded) IMGPIPE_RETURN_IF_ERROR(registry.Add(std::move(a)));
  return Status::Ok();
}

}  // namespace imgpipe::algorithms
