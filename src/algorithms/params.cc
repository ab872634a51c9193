// Parameter declarations: the typed Params map, the JSON schema, and validation of a request.
#include <fmt/format.h>

#include <cassert>
#include <cmath>

#include "algorithms/algorithms.h"

namespace imgpipe::algorithms {

using core::Status;

void Params::Set(std::string name, ParamValue value) {
  values_.insert_or_assign(std::move(name), std::move(value));
}

bool Params::Has(std::string_view name) const { return values_.find(name) != values_.end(); }

double Params::GetNumber(std::string_view name) const {
  auto it = values_.find(name);
  assert(it != values_.end());
  if (it == values_.end()) return 0;
  if (const double* d = std::get_if<double>(&it->second)) return *d;
  if (const int64_t* i = std::get_if<int64_t>(&it->second)) return static_cast<double>(*i);
  assert(false && "parameter is not a number");
  return 0;
}

int64_t Params::GetInt(std::string_view name) const {
  auto it = values_.find(name);
  assert(it != values_.end() && std::holds_alternative<int64_t>(it->second));
  if (it == values_.end() || !std::holds_alternative<int64_t>(it->second)) return 0;
  return std::get<int64_t>(it->second);
}

bool Params::GetBool(std::string_view name) const {
  auto it = values_.find(name);
  assert(it != values_.end() && std::holds_alternative<bool>(it->second));
  if (it == values_.end() || !std::holds_alternative<bool>(it->second)) return false;
  return std::get<bool>(it->second);
}

const std::string& Params::GetString(std::string_view name) const {
  static const std::string kEmpty;
  auto it = values_.find(name);
  assert(it != values_.end() && std::holds_alternative<std::string>(it->second));
  if (it == values_.end() || !std::holds_alternative<std::string>(it->second)) return kEmpty;
  return std::get<std::string>(it->second);
}

namespace {

boost::json::value ToJsonValue(const ParamValue& v) {
  return std::visit([](const auto& x) { return boost::json::value(x); }, v);
}

std::string_view TypeName(ParamType type) {
  switch (type) {
    case ParamType::kInteger:
      return "integer";
    case ParamType::kNumber:
      return "number";
    case ParamType::kBoolean:
      return "boolean";
    case ParamType::kString:
      return "string";
  }
  return "?";
}

// "sigma must be a number within 0.1..20", "kernel_size must be an integer >= 3".
std::string Rule(const ParamSpec& spec) {
  switch (spec.type) {
    case ParamType::kBoolean:
      return spec.name + " must be a boolean";
    case ParamType::kString: {
      std::string s = spec.name + " must be one of ";
      for (size_t i = 0; i < spec.enum_values.size(); ++i) {
        s += (i ? ", " : "") + spec.enum_values[i];
      }
      return s;
    }
    case ParamType::kInteger:
    case ParamType::kNumber: {
      std::string s = spec.name + (spec.type == ParamType::kInteger ? " must be an integer"
                                                                    : " must be a number");
      if (spec.minimum && spec.maximum) {
        s += fmt::format(" within {}..{}", *spec.minimum, *spec.maximum);
      } else if (spec.minimum) {
        s += fmt::format(" >= {}", *spec.minimum);
      } else if (spec.maximum) {
        s += fmt::format(" <= {}", *spec.maximum);
      }
      return s;
    }
  }
  return spec.name;
}

// The value of `v` for `spec`, or nullopt when its type or range is wrong.
std::optional<ParamValue> Convert(const ParamSpec& spec, const boost::json::value& v) {
  auto in_range = [&](double x) {
    return std::isfinite(x) && (!spec.minimum || x >= *spec.minimum) &&
           (!spec.maximum || x <= *spec.maximum);
  };
  switch (spec.type) {
    case ParamType::kBoolean:
      if (v.is_bool()) return ParamValue(v.get_bool());
      return std::nullopt;
    case ParamType::kString:
      if (!v.is_string()) return std::nullopt;
      for (const std::string& e : spec.enum_values) {
        if (v.get_string() == e) return ParamValue(e);
      }
      return std::nullopt;
    case ParamType::kNumber: {
      if (!v.is_number()) return std::nullopt;
      const double x = v.to_number<double>();
      if (!in_range(x)) return std::nullopt;
      return ParamValue(x);
    }
    case ParamType::kInteger: {
      int64_t i = 0;
      if (v.is_int64()) {
        i = v.get_int64();
      } else if (v.is_uint64() && v.get_uint64() <= uint64_t{INT64_MAX}) {
        i = static_cast<int64_t>(v.get_uint64());
      } else if (v.is_double() && std::trunc(v.get_double()) == v.get_double() &&
                 std::fabs(v.get_double()) < 9e15) {
        i = static_cast<int64_t>(v.get_double());  // 3.0 is an integer
      } else {
        return std::nullopt;
      }
      if (!in_range(static_cast<double>(i))) return std::nullopt;
      return ParamValue(i);
    }
  }
  return std::nullopt;
}

}  // namespace

boost::json::object Params::ToJson() const {
  boost::json::object o;
  for (const auto& [name, value] : values_) o[name] = ToJsonValue(value);
  return o;
}

boost::json::object SchemaJson(const AlgorithmInfo& info) {
  boost::json::object properties;
  for (const ParamSpec& spec : info.params) {
    boost::json::object p;
    p["type"] = TypeName(spec.type);
    p["description"] = spec.description;
    if (spec.default_value) p["default"] = ToJsonValue(*spec.default_value);
    if (spec.minimum) p["minimum"] = *spec.minimum;
    if (spec.maximum) p["maximum"] = *spec.maximum;
    if (!spec.enum_values.empty()) {
      boost::json::array e;
      for (const std::string& v : spec.enum_values) e.emplace_back(v);
      p["enum"] = std::move(e);
    }
    properties[spec.name] = std::move(p);
  }
  boost::json::object schema;
  schema["type"] = "object";
  schema["properties"] = std::move(properties);
  schema["additionalProperties"] = false;
  return schema;
}

boost::json::object InfoJson(const AlgorithmInfo& info) {
  boost::json::object o;
  o["name"] = info.name;
  o["description"] = info.description;
  boost::json::array modalities, scopes;
  for (const std::string& m : info.modalities) modalities.emplace_back(m);
  for (const std::string& s : info.scopes) scopes.emplace_back(s);
  o["modalities"] = std::move(modalities);
  o["scopes"] = std::move(scopes);
  if (!info.alias_of.empty()) o["alias_of"] = info.alias_of;
  o["params"] = SchemaJson(info);
  return o;
}

core::Result<Params> ValidateParams(const AlgorithmInfo& info, const boost::json::value& params) {
  static const boost::json::object kEmpty;
  if (!params.is_null() && !params.is_object()) {
    return Status::InvalidArgument("params must be a JSON object");
  }
  const boost::json::object& given = params.is_object() ? params.get_object() : kEmpty;
  for (const auto& [key, value] : given) {
    bool known = false;
    for (const ParamSpec& spec : info.params) known = known || spec.name == key;
    if (!known) {
      std::string names;
      for (const ParamSpec& spec : info.params) names += (names.empty() ? "" : ", ") + spec.name;
      return Status::InvalidArgument(fmt::format("unknown parameter '{}' ({} takes: {})",
                                                 std::string_view(key), info.name,
                                                 names.empty() ? "none" : names));
    }
  }
  Params out;
  for (const ParamSpec& spec : info.params) {
    auto it = given.find(spec.name);
    if (it == given.end() || it->value().is_null()) {
      if (spec.default_value) out.Set(spec.name, *spec.default_value);
      continue;
    }
    std::optional<ParamValue> v = Convert(spec, it->value());
    if (!v) return Status::InvalidArgument(Rule(spec));
    out.Set(spec.name, std::move(*v));
  }
  return out;
}

}  // namespace imgpipe::algorithms
