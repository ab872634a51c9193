// The HTTP surface of `imgpipe serve`, built in one place so that what is served and what
// GET /openapi.json describes can be compared (routes_test.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "app/outputs.h"
#include "app/stores.h"
#include "core/status.h"
#include "http/http.h"
#include "metrics/metrics.h"
#include "push/push.h"

namespace imgpipe::app {

struct Roles {
  bool api = false, worker = false, push = false;
};

// "api,worker,push" (any subset, at least one) -> Roles; InvalidArgument names an unknown role.
core::Result<Roles> ParseRoles(const std::string& text);

// Every route and WebSocket endpoint a process with `roles` serves on `stores` (not the web
// frontend, which is the router's fallback): the PACS API, DICOMweb and the processing API for
// api, /ws for push, and for every role /healthz, /readyz, /version and /openapi.json.
// /metrics for every role; GET /api/info (api) builds its URLs from `listen_base` when a request
// has no usable Host header. `remote_events` (push on PostgreSQL, else null) is checked by
// /readyz, which also reports algorithm queues holding config.queue_max_depth messages or more.
// The config's limits.* apply to submissions, provisions and WebSocket connections. The references
// must outlive the router; the returned handles (the /metrics collectors) must be destroyed before
// `stores`.
[[nodiscard]] std::vector<metrics::CollectorHandle> RegisterServeRoutes(
    http::Router& router, const Roles& roles, Stores& stores,
    const push::RemoteEvents* remote_events, const ListenBase& listen_base, const Config& config);

}  // namespace imgpipe::app
