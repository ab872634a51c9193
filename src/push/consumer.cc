// The hub and the results consumer.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>

#include "core/ids.h"
#include "core/log.h"
#include "core/thread_group.h"
#include "push/push.h"

namespace imgpipe::push {

using core::Result;
using core::Status;

uint64_t Hub::Subscribe(std::string client_id, Sink sink) {
  std::lock_guard lock(mu_);
  uint64_t id = next_id_++;
  auto it = sinks_.emplace(std::move(client_id),
                           std::make_pair(id, std::make_shared<Sink>(std::move(sink))));
  by_id_.emplace(id, it);
  return id;
}

void Hub::Unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  auto found = by_id_.find(id);
  if (found == by_id_.end()) return;
  sinks_.erase(found->second);
  by_id_.erase(found);
}

size_t Hub::Publish(const Event& event) {
  std::vector<std::shared_ptr<Sink>> targets;
  {
    std::lock_guard lock(mu_);
    auto [first, last] = sinks_.equal_range(event.client_id);
    for (auto it = first; it != last; ++it) targets.push_back(it->second.second);
  }
  for (const auto& sink : targets) (*sink)(event);
  return targets.size();
}

size_t Hub::Publish(const std::vector<Event>& events) {
  // Each sink gets all of its client's events of the batch in a row: a connection then sends
  // them in one write.
  std::vector<std::pair<std::shared_ptr<Sink>, std::string_view>> targets;
  {
    std::lock_guard lock(mu_);
    std::vector<std::string_view> clients;
    for (const Event& e : events) {
      if (std::find(clients.begin(), clients.end(), e.client_id) != clients.end()) continue;
      clients.push_back(e.client_id);
      auto [first, last] = sinks_.equal_range(e.client_id);
      for (auto it = first; it != last; ++it) targets.emplace_back(it->second.second, e.client_id);
    }
  }
  size_t deliveries = 0;
  for (const auto& [sink, client] : targets) {
    for (const Event& e : events) {
      if (e.client_id != client) continue;
      (*sink)(e);
      ++deliveries;
    }
  }
  return deliveries;
}

std::vector<std::string> Hub::Clients() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto it = sinks_.begin(); it != sinks_.end(); it = sinks_.upper_bound(it->first)) {
    out.push_back(it->first);
  }
  return out;
}

size_t Hub::Subscribers(std::string_view client_id) const {
  std::lock_guard lock(mu_);
  auto [first, last] = sinks_.equal_range(client_id);
  return static_cast<size_t>(std::distance(first, last));
}

namespace {

constexpr std::string_view kResultsQueue = "results";

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

class ResultsConsumer::Impl {
 public:
  Impl(queue::QueueService& queues, EventStore& store, Hub& hub, ConsumerOptions options)
      : queues_(queues), store_(store), hub_(hub), options_(std::move(options)) {
    if (!options_.now_ms) options_.now_ms = SystemNowMs;
  }

  void Start() {
    for (int i = 0; i < options_.concurrency; ++i) threads_.Spawn([this] { Loop(); });
    threads_.Spawn([this] { Prune(); });
  }

  void Stop() { threads_.Stop(); }

 private:
  bool stopping() const { return threads_.stopping(); }
  bool SleepFor(std::chrono::milliseconds d) { return threads_.SleepFor(d); }

  void Loop() {
    queue::ReceiveOptions receive;
    receive.max_messages = options_.batch;
    receive.wait = options_.poll_wait;
    while (!stopping()) {
      Result<std::vector<queue::Message>> messages = queues_.Receive(kResultsQueue, receive);
      if (!messages.ok()) {
        spdlog::warn("push: receive from results failed: {}", messages.status().ToString());
        SleepFor(std::chrono::milliseconds(1'000));
        continue;
      }
      if (!messages->empty()) Consume(*messages);
    }
  }

  // Stores the batch's events in one durable transaction, publishes them, then acknowledges.
  void Consume(const std::vector<queue::Message>& messages) {
    std::vector<Event> fresh;
    std::vector<std::string> acks;
    const int64_t now = options_.now_ms();
    Status st = store_.db().Write(/*durable=*/true, [&](db::Transaction& tx) -> Status {
      fresh.clear();
      acks.clear();
      for (const queue::Message& m : messages) {
        bool stored = false;
        Result<Event> event = store_.Append(tx, m.group_id, m.dedup_id, m.body, now, &stored);
        if (!event.ok() && event.status().code() == core::StatusCode::kInvalidArgument) {
          spdlog::error("push: results message {} dropped: {}", m.message_id,
                        event.status().message());
        } else if (!event.ok()) {
          return event.status();
        } else if (stored) {
          fresh.push_back(std::move(*event));
        }
        acks.push_back(m.receipt);  // stored now, or before (a redelivery), or unusable
      }
      if (!options_.announce_origin.empty()) return Announce(tx, fresh);
      return Status::Ok();
    });
    if (!st.ok()) {  // nothing stored: the messages come back after their visibility timeout
      spdlog::warn("push: events not stored: {}", st.ToString());
      return;
    }
    // Published as soon as they are durable, before the acknowledgement's round trip: a failed
    // ack only brings the messages back, and their events are stored already (not again).
    store_.NoteStored(fresh);  // before publishing: a connection opening now counts them
    const size_t receivers = hub_.Publish(fresh);
    if (spdlog::should_log(spdlog::level::debug)) {
      for (const Event& e : fresh) {
        core::ScopedLogFields fields({.job_id = e.job_id,
                                      .client = core::ShortHash(e.client_id),
                                      .extra = {{"seq", e.seq}, {"deliveries", receivers}}});
        spdlog::debug("push: event stored and published");
      }
    }
    Result<std::vector<Status>> deleted = queues_.DeleteBatch(kResultsQueue, acks);
    if (!deleted.ok()) spdlog::warn("push: ack failed: {}", deleted.status().ToString());
  }

  // One pg_notify per batch, in the storing transaction (delivered once it commits, never
  // before): a line "origin\tclient_id\tseq" per event. A batch holds at most 10 events
  // (Start checks options.batch), well under PostgreSQL's 8000-byte payload limit.
  Status Announce(db::Transaction& tx, const std::vector<Event>& events) {
    if (events.empty()) return Status::Ok();
    std::string payload;
    for (const Event& e : events) {
      if (!payload.empty()) payload += '\n';
      payload += options_.announce_origin + "\t" + e.client_id + "\t" + std::to_string(e.seq);
    }
    std::array<db::Value, 2> params = {std::string(kEventsChannel), std::move(payload)};
    return tx.Query("SELECT pg_notify(?, ?)", params).status();
  }

  void Prune() {
    while (SleepFor(options_.prune_every)) {
      Result<int64_t> pruned = store_.PruneBefore(options_.now_ms() - options_.retention.count());
      if (!pruned.ok()) {
        spdlog::warn("push: pruning failed: {}", pruned.status().ToString());
      } else if (*pruned > 0) {
        spdlog::info("push: pruned {} events older than the retention", *pruned);
      }
    }
  }

  queue::QueueService& queues_;
  EventStore& store_;
  Hub& hub_;
  ConsumerOptions options_;
  core::ThreadGroup threads_;
};

ResultsConsumer::ResultsConsumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResultsConsumer::~ResultsConsumer() { Stop(); }
void ResultsConsumer::Stop() {
  if (impl_) impl_->Stop();
}

Result<std::unique_ptr<ResultsConsumer>> ResultsConsumer::Start(queue::QueueService& queues,
                                                                EventStore& store, Hub& hub,
                                                                const ConsumerOptions& options) {
  if (options.concurrency < 1 || options.concurrency > 64) {
    return Status::InvalidArgument("push concurrency must be within 1..64");
  }
  if (options.batch < 1 || options.batch > 10) {
    return Status::InvalidArgument("push batch must be within 1..10");
  }
  auto impl = std::make_unique<Impl>(queues, store, hub, options);
  impl->Start();
  return std::unique_ptr<ResultsConsumer>(new ResultsConsumer(std::move(impl)));
}

}  // namespace imgpipe::push
