// GET /metrics (Prometheus text format): the process's instruments (metrics::Global(): HTTP,
// jobs, previews, pushes) plus what is read at each scrape: every queue's stats, the push hub's
// connected clients (push role) and the process's own figures (RSS, open files, CPU).
#pragma once

#include <vector>

#include "http/http.h"
#include "metrics/metrics.h"
#include "push/push.h"
#include "queue/queue.h"

namespace imgpipe::app {

// Registers the route and the scrape-time collectors. Queue stats come from the shared database,
// so every process of a cluster reports the same queue figures (aggregate them with max by
// queue, as deploy/prometheus/alerts.yml does). `hub` may be null (no push role). The returned
// handles unregister the collectors: keep them while the router serves, and destroy them before
// `queues` and `hub`.
[[nodiscard]] std::vector<metrics::CollectorHandle> AddMetricsRoute(http::Router& router,
                                                                    queue::QueueService& queues,
                                                                    const push::Hub* hub);

}  // namespace imgpipe::app
