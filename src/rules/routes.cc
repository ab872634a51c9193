// The rules API: the configured rules, subscriptions to them, and their firings.
//
// GET /api/rules[?client_id=]        {"rules":[RuleJson + "subscribed" (with a client_id)]}
// POST /api/rules/{name}/subscriptions  body {"client_id"} (or X-Client-Id) -> 201
// DELETE /api/rules/{name}/subscriptions?client_id=  -> 204
// GET /api/rules/{name}/jobs[?limit=]  {"rule","firings":[{"series_id","study_id","job_id",
//                                        "error","fired_at_ms"}]}, newest first
#include <boost/json.hpp>
#include <charconv>
#include <set>

#include "http/http.h"
#include "rules/rules.h"

namespace imgpipe::rules {
namespace {

namespace json = boost::json;
using core::Result;
using core::Status;
using http::Request;
using http::Response;

constexpr size_t kMaxBody = 4096;

http::Handler Bind(std::function<Result<Response>(Request&)> fn) {
  return [fn = std::move(fn)](Request& request) {
    Result<Response> response = fn(request);
    if (!response.ok()) return http::ErrorResponse(response.status());
    return std::move(response).value();
  };
}

// The client named by X-Client-Id, the query's client_id, or (for a POST) the body's client_id;
// Unauthenticated when missing or unknown.
Result<std::string> AskingClient(const Request& request, jobs::JobService& jobs,
                                 std::string_view body_client = {}) {
  std::optional<std::string_view> id = request.Header("x-client-id");
  if (!id) id = request.Query("client_id");
  if (!id && !body_client.empty()) id = body_client;
  if (!id || id->empty()) {
    return Status::Unauthenticated("client_id is required (X-Client-Id header, query or body)");
  }
  IMGPIPE_ASSIGN_OR_RETURN(bool known, jobs.ClientExists(*id));
  if (!known) return Status::Unauthenticated("unknown client_id");
  return std::string(*id);
}

Result<std::string> BodyClient(const Request& request) {
  if (request.body.empty()) return std::string();
  if (request.body.size() > kMaxBody) {
    return Status::PayloadTooLarge("the body is larger than 4096 bytes");
  }
  boost::system::error_code ec;
  json::value body = json::parse(request.body, ec);
  if (ec || !body.is_object()) return Status::InvalidArgument("the body must be a JSON object");
  for (const auto& [key, value] : body.as_object()) {
    if (key != "client_id") {
      return Status::InvalidArgument("unknown field '" + std::string(key) + "'");
    }
    if (!value.is_string()) return Status::InvalidArgument("client_id must be a string");
  }
  const json::value* id = body.as_object().if_contains("client_id");
  return id == nullptr ? std::string() : std::string(id->as_string());
}

Result<const Rule*> NamedRule(const Request& request, RuleService& rules) {
  const Rule* rule = rules.Find(request.PathParam("name"));
  if (rule == nullptr) {
    return Status::NotFound("no rule '" + std::string(request.PathParam("name")) + "'");
  }
  return rule;
}

Result<Response> List(Request& request, RuleService& rules, jobs::JobService& jobs) {
  std::optional<std::set<std::string>> subscribed;
  if (request.Header("x-client-id") || request.Query("client_id")) {
    IMGPIPE_ASSIGN_OR_RETURN(std::string client, AskingClient(request, jobs));
    IMGPIPE_ASSIGN_OR_RETURN(std::vector<std::string> names, rules.Subscriptions(client));
    subscribed.emplace(names.begin(), names.end());
  }
  json::array out;
  for (const Rule& rule : rules.rules()) {
    json::object o = RuleJson(rule);
    if (subscribed) o["subscribed"] = subscribed->count(rule.name) > 0;
    out.push_back(std::move(o));
  }
  return Response::Json(200, json::serialize(json::object{{"rules", std::move(out)}}));
}

Result<Response> Subscribe(Request& request, RuleService& rules, jobs::JobService& jobs) {
  IMGPIPE_ASSIGN_OR_RETURN(const Rule* rule, NamedRule(request, rules));
  IMGPIPE_ASSIGN_OR_RETURN(std::string body_client, BodyClient(request));
  IMGPIPE_ASSIGN_OR_RETURN(std::string client, AskingClient(request, jobs, body_client));
  IMGPIPE_RETURN_IF_ERROR(rules.Subscribe(rule->name, client));
  return Response::Json(201,
                        json::serialize(json::object{{"rule", rule->name}, {"subscribed", true}}));
}

Result<Response> Unsubscribe(Request& request, RuleService& rules, jobs::JobService& jobs) {
  IMGPIPE_ASSIGN_OR_RETURN(const Rule* rule, NamedRule(request, rules));
  IMGPIPE_ASSIGN_OR_RETURN(std::string client, AskingClient(request, jobs));
  IMGPIPE_RETURN_IF_ERROR(rules.Unsubscribe(rule->name, client));
  return Response::NoContent(204);
}

Result<Response> Firings(Request& request, RuleService& rules) {
  IMGPIPE_ASSIGN_OR_RETURN(const Rule* rule, NamedRule(request, rules));
  int limit = 50;
  if (auto text = request.Query("limit")) {
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
    if (ec != std::errc() || end != text->data() + text->size()) {
      return Status::InvalidArgument("limit must be an integer within 1..1000");
    }
  }
  IMGPIPE_ASSIGN_OR_RETURN(std::vector<Firing> firings, rules.Firings(rule->name, limit));
  json::array out;
  for (const Firing& f : firings) {
    json::object o{{"series_id", f.series_id},
                   {"study_id", f.study_id},
                   {"job_id", f.job_id.empty() ? json::value(nullptr) : json::value(f.job_id)},
                   {"error", f.error.empty() ? json::value(nullptr) : json::value(f.error)},
                   {"fired_at_ms", f.fired_at_ms}};
    out.push_back(std::move(o));
  }
  return Response::Json(
      200, json::serialize(json::object{{"rule", rule->name}, {"firings", std::move(out)}}));
}

}  // namespace

void RegisterRoutes(http::Router& router, RuleService& rules, jobs::JobService& jobs) {
  router.Add("GET", "/api/rules",
             Bind([&rules, &jobs](Request& r) { return List(r, rules, jobs); }));
  router.Add("POST", "/api/rules/{name}/subscriptions",
             Bind([&rules, &jobs](Request& r) { return Subscribe(r, rules, jobs); }));
  router.Add("DELETE", "/api/rules/{name}/subscriptions",
             Bind([&rules, &jobs](Request& r) { return Unsubscribe(r, rules, jobs); }));
  router.Add("GET", "/api/rules/{name}/jobs",
             Bind([&rules](Request& r) { return Firings(r, rules); }));
}

}  // namespace imgpipe::rules
