#include "app/outputs.h"

#include <boost/json.hpp>
#include <cctype>

#include "jobs/jobs.h"

namespace imgpipe::app {

DeploymentOutputs ComputeOutputs(std::string_view base, const algorithms::Registry& registry) {
  const std::string b(base);
  DeploymentOutputs out;
  out.api_base = b + "/api";
  out.pacs_api_base = b + "/pacs";
  // http://... -> ws://..., https://... -> wss://...
  out.ws_endpoint = "ws" + b.substr(b.rfind("http", 0) == 0 ? 4 : 0) + "/ws";
  out.dicomweb_base = b + "/dicomweb";
  out.results_queue_url = out.api_base + "/queues/" + std::string(jobs::kResultsQueue);
  for (const algorithms::Algorithm* a : registry.List()) {
    std::string queue = jobs::QueueName(a->info().name);
    out.queues.push_back({a->info().name, queue, out.api_base + "/queues/" + queue});
  }
  return out;
}

std::string QueueVariableName(std::string_view algorithm) {
  std::string name = "QUEUE_URL_";
  for (char c : algorithm) {
    name += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  }
  return name;
}

std::vector<std::pair<std::string, std::string>> OutputVariables(const DeploymentOutputs& o) {
  std::vector<std::pair<std::string, std::string>> vars = {
      {"PACS_API_BASE", o.pacs_api_base},
      {"API_BASE", o.api_base},
      {"WS_ENDPOINT", o.ws_endpoint},
      {"DICOMWEB_BASE", o.dicomweb_base},
      {"RESULTS_QUEUE_URL", o.results_queue_url},
  };
  for (const AlgorithmQueue& q : o.queues) vars.emplace_back(QueueVariableName(q.algorithm), q.url);
  return vars;
}

boost::json::object OutputsJson(const DeploymentOutputs& o, std::string_view version) {
  boost::json::object queues;
  boost::json::array algorithms;
  for (const AlgorithmQueue& q : o.queues) {
    queues[q.queue] = q.url;
    algorithms.push_back(
        boost::json::object{{"name", q.algorithm}, {"queue", q.queue}, {"queue_url", q.url}});
  }
  return {{"api_base", o.api_base},
          {"pacs_api_base", o.pacs_api_base},
          {"ws_endpoint", o.ws_endpoint},
          {"dicomweb_base", o.dicomweb_base},
          {"results_queue_url", o.results_queue_url},
          {"queues", std::move(queues)},
          {"algorithms", std::move(algorithms)},
          {"version", version}};
}

std::string RequestBase(const http::Request& request, std::string_view fallback) {
  auto host = request.Header("host");
  // A host name, an IPv4 address or a bracketed IPv6 address, and a port: nothing that could
  // turn the URLs we hand out into something else.
  auto plausible = [](std::string_view h) {
    if (h.empty() || h.size() > 255) return false;
    for (char c : h) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' &&
          c != '[' && c != ']') {
        return false;
      }
    }
    return true;
  };
  if (!host || !plausible(*host)) return std::string(fallback);
  auto proto = request.Header("x-forwarded-proto");
  const bool https = proto && (*proto == "https" || *proto == "HTTPS");
  return (https ? "https://" : "http://") + std::string(*host);
}

void ListenBase::Set(std::string base) {
  std::lock_guard lock(mu_);
  base_ = std::move(base);
}

std::string ListenBase::Get() const {
  std::lock_guard lock(mu_);
  return base_;
}

void RegisterInfoRoute(http::Router& router, const algorithms::Registry& registry,
                       const ListenBase& listen_base, std::string version) {
  router.Add("GET", "/api/info", [&registry, &listen_base, version](http::Request& r) {
    DeploymentOutputs outputs = ComputeOutputs(RequestBase(r, listen_base.Get()), registry);
    return http::Response::Json(200, boost::json::serialize(OutputsJson(outputs, version)));
  });
}

}  // namespace imgpipe::app
