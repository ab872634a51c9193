#include "app/metrics_route.h"

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace imgpipe::app {
namespace {

using metrics::Exposition;
using metrics::Sample;
using metrics::Type;

constexpr std::string_view kDlqSuffix = ".dlq";

// One family per QueueStats field, one sample per queue (dead-letter queues are reported with
// their queue, as imgpipe_queue_dead_letter_messages).
void CollectQueues(queue::QueueService& queues, Exposition& out) {
  auto names = queues.ListQueues();
  if (!names.ok()) {
    spdlog::warn("metrics: cannot list queues: {}", names.status().ToString());
    return;
  }
  std::vector<Sample> visible, in_flight, age, dead, sent, received, deleted;
  for (const std::string& name : *names) {
    if (name.ends_with(kDlqSuffix)) continue;
    auto stats = queues.Stats(name);
    if (!stats.ok()) {
      spdlog::warn("metrics: no stats for queue {}: {}", name, stats.status().ToString());
      continue;
    }
    auto sample = [&name](double value) { return Sample{{{"queue", name}}, value}; };
    visible.push_back(sample(static_cast<double>(stats->visible)));
    in_flight.push_back(sample(static_cast<double>(stats->in_flight)));
    age.push_back(sample(static_cast<double>(stats->oldest_age_ms) / 1000));
    dead.push_back(sample(static_cast<double>(stats->dead_letters)));
    sent.push_back(sample(static_cast<double>(stats->sent)));
    received.push_back(sample(static_cast<double>(stats->received)));
    deleted.push_back(sample(static_cast<double>(stats->deleted)));
  }
  out.Add("imgpipe_queue_visible_messages", "Messages waiting to be received, by queue.",
          Type::kGauge, std::move(visible));
  out.Add("imgpipe_queue_in_flight_messages",
          "Messages received and not yet deleted (their visibility timeout running), by queue.",
          Type::kGauge, std::move(in_flight));
  out.Add("imgpipe_queue_oldest_message_age_seconds",
          "Age of the oldest message not yet deleted, by queue (0 when empty).", Type::kGauge,
          std::move(age));
  out.Add("imgpipe_queue_dead_letter_messages",
          "Messages in the queue's dead-letter queue ({queue}.dlq).", Type::kGauge,
          std::move(dead));
  out.Add("imgpipe_queue_sent_messages_total", "Messages sent to the queue since it was created.",
          Type::kCounter, std::move(sent));
  out.Add("imgpipe_queue_received_messages_total",
          "Deliveries from the queue since it was created (redeliveries included).", Type::kCounter,
          std::move(received));
  out.Add("imgpipe_queue_deleted_messages_total",
          "Messages deleted (acknowledged) from the queue since it was created.", Type::kCounter,
          std::move(deleted));
}

}  // namespace

std::vector<metrics::CollectorHandle> AddMetricsRoute(http::Router& router,
                                                      queue::QueueService& queues,
                                                      const push::Hub* hub) {
  metrics::Registry& registry = metrics::Global();
  std::vector<metrics::CollectorHandle> handles;
  handles.push_back(metrics::AddProcessCollector(registry));
  handles.push_back(
      registry.AddCollector([&queues](Exposition& out) { CollectQueues(queues, out); }));
  if (hub != nullptr) {
    handles.push_back(registry.AddCollector([hub](Exposition& out) {
      out.Add("imgpipe_push_connected_clients",
              "Clients with at least one open WebSocket connection to this process.", Type::kGauge,
              static_cast<double>(hub->Clients().size()));
    }));
  }
  router.Add("GET", "/metrics", [&registry](http::Request&) {
    return http::Response::Bytes(200, "text/plain; version=0.0.4; charset=utf-8",
                                 registry.Render());
  });
  return handles;
}

}  // namespace imgpipe::app
