// The rules file: parsing, validation against the algorithm registry, and matching.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "rules/rules.h"

namespace imgpipe::rules {
namespace {

namespace json = boost::json;
using core::Result;
using core::Status;

constexpr size_t kMaxRuleName = 32;
constexpr size_t kMaxPattern = 64;
constexpr size_t kMaxRules = 100;
constexpr int kMaxQuietSeconds = 86'400;

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxRuleName) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsMatchAttribute(std::string_view key) {
  return std::find(std::begin(kMatchAttributes), std::end(kMatchAttributes), key) !=
         std::end(kMatchAttributes);
}

char Upper(char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); }

Result<std::string> String(const json::object& o, std::string_view key, bool required) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) {
    if (required) return Status::InvalidArgument("\"" + std::string(key) + "\" is required");
    return std::string();
  }
  if (!v->is_string()) {
    return Status::InvalidArgument("\"" + std::string(key) + "\" must be a string");
  }
  return std::string(v->as_string());
}

Result<Rule> ParseRule(const json::value& v, const algorithms::Registry& registry) {
  if (!v.is_object()) return Status::InvalidArgument("a rule must be a JSON object");
  const json::object& o = v.as_object();
  for (const auto& [key, value] : o) {
    static constexpr std::string_view kKnown[] = {"name",  "when",          "algorithm", "params",
                                                  "scope", "quiet_seconds", "export"};
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      return Status::InvalidArgument("unknown key \"" + std::string(key) + "\"");
    }
  }
  Rule rule;
  IMGPIPE_ASSIGN_OR_RETURN(rule.name, String(o, "name", true));
  if (!IsValidName(rule.name)) {
    return Status::InvalidArgument("name must be 1..32 characters of a-z, 0-9 and -");
  }
  const json::value* when = o.if_contains("when");
  if (when == nullptr || !when->is_object() || when->as_object().empty()) {
    return Status::InvalidArgument(
        "\"when\" must be an object naming at least one of Modality, BodyPartExamined, "
        "SeriesDescription, StudyDescription");
  }
  for (const auto& [key, pattern] : when->as_object()) {
    if (!IsMatchAttribute(key)) {
      return Status::InvalidArgument("\"when\" cannot match on \"" + std::string(key) +
                                     "\" (Modality, BodyPartExamined, SeriesDescription, "
                                     "StudyDescription)");
    }
    if (!pattern.is_string() || pattern.as_string().empty() ||
        pattern.as_string().size() > kMaxPattern) {
      return Status::InvalidArgument("\"when\"." + std::string(key) +
                                     " must be a string of 1..64 characters");
    }
    rule.when.emplace_back(std::string(key), std::string(pattern.as_string()));
  }
  IMGPIPE_ASSIGN_OR_RETURN(rule.algorithm, String(o, "algorithm", true));
  const algorithms::Algorithm* algorithm = registry.Find(rule.algorithm);
  if (algorithm == nullptr) {
    return Status::InvalidArgument("unknown algorithm \"" + rule.algorithm + "\"");
  }
  IMGPIPE_ASSIGN_OR_RETURN(rule.scope, String(o, "scope", false));
  if (rule.scope.empty()) rule.scope = "series";
  if (rule.scope != "series" && rule.scope != "study") {
    return Status::InvalidArgument("scope must be series or study (a rule fires on a series)");
  }
  const auto& scopes = algorithm->info().scopes;
  if (std::find(scopes.begin(), scopes.end(), rule.scope) == scopes.end()) {
    return Status::InvalidArgument("algorithm " + rule.algorithm + " does not accept scope " +
                                   rule.scope);
  }
  if (const json::value* params = o.if_contains("params"); params != nullptr) {
    if (!params->is_object()) return Status::InvalidArgument("\"params\" must be an object");
    rule.params = params->as_object();
  }
  IMGPIPE_RETURN_IF_ERROR(algorithms::ValidateParams(algorithm->info(), rule.params).status());
  if (const json::value* quiet = o.if_contains("quiet_seconds"); quiet != nullptr) {
    if (!quiet->is_int64() || quiet->as_int64() < 1 || quiet->as_int64() > kMaxQuietSeconds) {
      return Status::InvalidArgument("quiet_seconds must be an integer within 1..86400");
    }
    rule.quiet_seconds = static_cast<int>(quiet->as_int64());
  }
  if (const json::value* dests = o.if_contains("export"); dests != nullptr) {
    if (!dests->is_array()) return Status::InvalidArgument("\"export\" must be an array of names");
    for (const json::value& d : dests->as_array()) {
      if (!d.is_string() || d.as_string().empty() || d.as_string().size() > 64) {
        return Status::InvalidArgument("\"export\" must hold destination names (1..64 chars)");
      }
      rule.export_destinations.emplace_back(d.as_string());
    }
  }
  return rule;
}

}  // namespace

Result<std::vector<Rule>> ParseRules(std::string_view text, const algorithms::Registry& registry) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) return Status::InvalidArgument("not valid JSON: " + ec.message());
  if (!doc.is_object()) return Status::InvalidArgument("the file must be a JSON object");
  for (const auto& [key, value] : doc.as_object()) {
    if (key != "rules") {
      return Status::InvalidArgument("unknown key \"" + std::string(key) + "\"");
    }
  }
  const json::value* list = doc.as_object().if_contains("rules");
  if (list == nullptr || !list->is_array()) {
    return Status::InvalidArgument("\"rules\" must be an array");
  }
  if (list->as_array().size() > kMaxRules) {
    return Status::InvalidArgument("more than 100 rules");
  }
  std::vector<Rule> rules;
  for (size_t i = 0; i < list->as_array().size(); ++i) {
    const json::value& v = list->as_array()[i];
    Result<Rule> rule = ParseRule(v, registry);
    std::string which = "rule " + std::to_string(i + 1);
    if (const json::value* name = v.is_object() ? v.as_object().if_contains("name") : nullptr;
        name != nullptr && name->is_string()) {
      which += " (" + std::string(name->as_string().subview().substr(0, 40)) + ")";
    }
    if (!rule.ok()) return Status::InvalidArgument(which + ": " + rule.status().message());
    for (const Rule& before : rules) {
      if (before.name == rule->name) {
        return Status::InvalidArgument(which + ": the name is used twice");
      }
    }
    rules.push_back(std::move(*rule));
  }
  return rules;
}

Result<std::vector<Rule>> LoadRulesFile(const std::string& path,
                                        const algorithms::Registry& registry) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("rules file " + path + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  Result<std::vector<Rule>> rules = ParseRules(text.str(), registry);
  if (!rules.ok()) {
    return Status::InvalidArgument("rules file " + path + ": " + rules.status().message());
  }
  return rules;
}

bool WildcardMatch(std::string_view pattern, std::string_view value) {
  // Iterative glob with one backtrack point (the last '*'): linear in practice, never exponential.
  size_t p = 0, v = 0, star = std::string_view::npos, mark = 0;
  while (v < value.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = v;
    } else if (p < pattern.size() && (pattern[p] == '?' || Upper(pattern[p]) == Upper(value[v]))) {
      ++p;
      ++v;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      v = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool Matches(const Rule& rule, const pacs::SeriesActivity& series) {
  for (const auto& [attribute, pattern] : rule.when) {
    const std::string& value = attribute == "Modality"            ? series.modality
                               : attribute == "BodyPartExamined"  ? series.body_part_examined
                               : attribute == "SeriesDescription" ? series.series_description
                                                                  : series.study_description;
    if (!WildcardMatch(pattern, value)) return false;
  }
  return true;
}

json::object RuleJson(const Rule& rule) {
  json::object when;
  for (const auto& [attribute, pattern] : rule.when) when[attribute] = pattern;
  json::array exports;
  for (const std::string& d : rule.export_destinations) exports.emplace_back(d);
  return {{"name", rule.name},           {"when", std::move(when)},
          {"algorithm", rule.algorithm}, {"params", rule.params},
          {"scope", rule.scope},         {"quiet_seconds", rule.quiet_seconds},
          {"export", std::move(exports)}};
}

}  // namespace imgpipe::rules
