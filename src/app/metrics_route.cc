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

// One family per QueueStats field.
struct QueueFamily {
  const char* name;
  const char* help;
  Type type;
  double (*value)(const queue::QueueStats&);
};

constexpr QueueFamily kQueueFamilies[] = {
    {"imgpipe_queue_visible_messages", "Messages waiting to be received, by queue.", Type::kGauge,
     [](const queue::QueueStats& s) { return static_cast<double>(s.visible); }},
    {"imgpipe_queue_in_flight_messages",
     "Messages received and not yet deleted (their visibility timeout running), by queue.",
     Type::kGauge, [](const queue::QueueStats& s) { return static_cast<double>(s.in_flight); }},
    {"imgpipe_queue_oldest_message_age_seconds",
     "Age of the oldest message not yet deleted, by queue (0 when empty).", Type::kGauge,
     [](const queue::QueueStats& s) { return static_cast<double>(s.oldest_age_ms) / 1000; }},
    {"imgpipe_queue_dead_letter_messages",
     "Messages in the queue's dead-letter queue ({queue}.dlq).", Type::kGauge,
     [](const queue::QueueStats& s) { return static_cast<double>(s.dead_letters); }},
    {"imgpipe_queue_sent_messages_total", "Messages sent to the queue since it was created.",
     Type::kCounter, [](const queue::QueueStats& s) { return static_cast<double>(s.sent); }},
    {"imgpipe_queue_received_messages_total",
     "Deliveries from the queue since it was created (redeliveries included).", Type::kCounter,
     [](const queue::QueueStats& s) { return static_cast<double>(s.received); }},
    {"imgpipe_queue_deleted_messages_total",
     "Messages deleted (acknowledged) from the queue since it was created.", Type::kCounter,
     [](const queue::QueueStats& s) { return static_cast<double>(s.deleted); }},
};

// Every queue's stats, one sample per queue in each family (a dead-letter queue is reported
// with its queue, as imgpipe_queue_dead_letter_messages).
void CollectQueues(queue::QueueService& queues, Exposition& out) {
  auto names = queues.ListQueues();
  if (!names.ok()) {
    spdlog::warn("metrics: cannot list queues: {}", names.status().ToString());
    return;
  }
  std::vector<std::vector<Sample>> samples(std::size(kQueueFamilies));
  for (const std::string& name : *names) {
    if (name.ends_with(kDlqSuffix)) continue;
    auto stats = queues.Stats(name);
    if (!stats.ok()) {
      spdlog::warn("metrics: no stats for queue {}: {}", name, stats.status().ToString());
      continue;
    }
    for (size_t i = 0; i < std::size(kQueueFamilies); ++i) {
      samples[i].push_back(Sample{{{"queue", name}}, kQueueFamilies[i].value(*stats)});
    }
  }
  for (size_t i = 0; i < std::size(kQueueFamilies); ++i) {
    const QueueFamily& f = kQueueFamilies[i];
    out.Add(f.name, f.help, f.type, std::move(samples[i]));
  }
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
