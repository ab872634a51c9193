// The deployment outputs (DESIGN.md "Configuration"; the seed's deploy prints the same): the URLs
// clients and operators use. One computation, shown three ways: the lines `imgpipe serve` prints
// after "listening on", GET /api/info, and `imgpipe env`.
#pragma once

#include <boost/json/object.hpp>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "algorithms/algorithms.h"
#include "http/http.h"

namespace imgpipe::app {

struct AlgorithmQueue {
  std::string algorithm;  // "window_level"
  std::string queue;      // "algo.window_level"
  std::string url;        // "{api_base}/queues/algo.window_level" (GET: its depth and counters)
};

struct DeploymentOutputs {
  std::string api_base;       // http://HOST:PORT/api
  std::string pacs_api_base;  // http://HOST:PORT/pacs
  std::string ws_endpoint;    // ws://HOST:PORT/ws
  std::string dicomweb_base;  // http://HOST:PORT/dicomweb
  std::string results_queue_url;
  std::vector<AlgorithmQueue> queues;  // the registry's order
};

// `base` is "http://HOST:PORT" (or https://, giving wss:// for the WebSocket).
DeploymentOutputs ComputeOutputs(std::string_view base, const algorithms::Registry& registry);

// The outputs as environment variables, in print order: PACS_API_BASE, API_BASE, WS_ENDPOINT,
// DICOMWEB_BASE, RESULTS_QUEUE_URL, then QUEUE_URL_<algorithm> per algorithm.
std::vector<std::pair<std::string, std::string>> OutputVariables(const DeploymentOutputs& outputs);

// "QUEUE_URL_" + the algorithm name with every character outside [A-Za-z0-9_] made '_', so the
// name is a valid shell and PowerShell variable name.
std::string QueueVariableName(std::string_view algorithm);

// GET /api/info's body: {"api_base","pacs_api_base","ws_endpoint","dicomweb_base",
// "results_queue_url","queues":{queue: url},"algorithms":[{"name","queue","queue_url"}],
// "version"}.
boost::json::object OutputsJson(const DeploymentOutputs& outputs, std::string_view version);

// The base URL a client used to reach us: its Host header (and X-Forwarded-Proto "https" behind a
// TLS proxy) when present and well-formed, else `fallback`.
std::string RequestBase(const http::Request& request, std::string_view fallback);

// The listen address's base URL, set once the server listens (the port may be chosen then).
// Thread-safe.
class ListenBase {
 public:
  void Set(std::string base);
  std::string Get() const;

 private:
  mutable std::mutex mu_;
  std::string base_;
};

// GET /api/info. `registry` and `listen_base` must outlive the router.
void RegisterInfoRoute(http::Router& router, const algorithms::Registry& registry,
                       const ListenBase& listen_base, std::string version);

}  // namespace imgpipe::app
