// GET /ws?client_id=...[&last_seq=N]: live events of one client over WebSocket, after a replay of
// what it missed (DESIGN.md "WebSocket protocol").
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <charconv>

#include "core/ids.h"
#include "core/log.h"
#include "metrics/metrics.h"
#include "push/client_message.h"
#include "push/push.h"

namespace imgpipe::push {
namespace {

using core::Result;
using core::Status;
namespace json = boost::json;

std::string ErrorMessage(std::string_view code, std::string_view message) {
  return json::serialize(
      json::object{{"type", "error"}, {"error", {{"code", code}, {"message", message}}}});
}

// One connection's state. The lock is held for a whole replay, so a live event published
// meanwhile waits and is then sent only if the replay did not already (seq order, no gap, no
// duplicate at the seam: the hub subscription starts before the first read of the store).
class PushSession : public std::enable_shared_from_this<PushSession> {
 public:
  PushSession(std::string client_id, EventStore& store, Hub& hub)
      : client_id_(std::move(client_id)),
        client_hash_(core::ShortHash(client_id_)),
        store_(store),
        hub_(hub) {}

  // Subscribes, then sends hello and the replay under the session lock: a live event published
  // meanwhile waits for the lock, so nothing precedes hello and nothing is sent twice. A client
  // already up to date costs one read of the store (its last sequence number).
  void Open(std::shared_ptr<http::WebSocketConnection> connection, int64_t last_seq) {
    std::weak_ptr<PushSession> weak = weak_from_this();
    subscription_ = hub_.Subscribe(client_id_, [weak](const Event& event) {
      if (auto self = weak.lock()) self->OnLive(event);
    });
    Counters().connected.fetch_add(1);
    std::lock_guard lock(mu_);
    connection_ = std::move(connection);
    remote_ = connection_->remote();
    if (spdlog::should_log(spdlog::level::info)) {
      core::ScopedLogFields fields(
          {.client = client_hash_, .extra = {{"conn", remote_}, {"last_seq", last_seq}}});
      spdlog::info("push: connected");
    }
    Result<int64_t> last = store_.LastSeq(client_id_);
    connection_->Send(json::serialize(json::object{
        {"type", "hello"}, {"client_id", client_id_}, {"last_seq", last.ok() ? *last : 0}}));
    ReplayLocked(last_seq, last);
  }

  void OnMessage(std::string_view text, bool binary) {
    Result<ClientMessage> message = ParseClientMessage(text, binary);
    if (!message.ok()) return Send(ErrorMessage("invalid_argument", message.status().message()));
    if (message->action == ClientMessage::Action::kPing) return Send(R"({"type":"pong"})");
    Replay(message->last_seq);
  }

  // Disconnect cleanup: fail-fast, never retried; a second call is a no-op.
  void Close() {
    hub_.Unsubscribe(subscription_);
    std::lock_guard lock(mu_);
    if (connection_) {
      std::string reason = connection_->CloseReason();
      connection_.reset();
      Counters().connected.fetch_sub(1);
      Counters().disconnects.fetch_add(1);
      core::ScopedLogFields fields({.client = client_hash_,
                                    .extra = {{"conn", remote_},
                                              {"reason", reason.empty() ? "unknown" : reason},
                                              {"sent_seq", sent_seq_}}});
      spdlog::info("push: disconnected");
    }
  }

 private:
  // Sends every stored event after `after`, oldest first, then lets live ones through.
  void Replay(int64_t after) {
    Result<int64_t> last = store_.LastSeq(client_id_);
    std::lock_guard lock(mu_);
    ReplayLocked(after, last);
  }

  // `last`: the store's last sequence number for the client, read before this call.
  void ReplayLocked(int64_t after, const Result<int64_t>& last) {
    // A last_seq beyond what the store holds (a client of an older database) would hide every
    // future event: count from the store's last one instead.
    sent_seq_ = last.ok() ? std::min(after, *last) : after;
    if (last.ok() && sent_seq_ >= *last) return;  // up to date: nothing stored after it
    SendStoredLocked();
  }

  void OnLive(const Event& event) {
    std::lock_guard lock(mu_);
    if (event.seq <= sent_seq_) return;  // the replay sent it already
    if (event.json.empty()) {            // another process stored it (RemoteEvents): read it
      SendStoredLocked();
      return;
    }
    if (event.seq > sent_seq_ + 1) {
      SendStoredLocked();  // a gap (should not happen: per-client order): fill it from the store
      if (event.seq <= sent_seq_) return;
    }
    SendEventLocked(event);
  }

  void SendStoredLocked() {
    constexpr int kPage = 1000;
    while (connection_) {
      Result<std::vector<Event>> events = store_.After(client_id_, sent_seq_, kPage);
      if (!events.ok()) {
        core::ScopedLogFields fields(
            {.client = client_hash_, .extra = {{"conn", remote_}, {"after_seq", sent_seq_}}});
        spdlog::warn("push: replay failed: {}", events.status().ToString());
        return;
      }
      for (const Event& e : *events) SendEventLocked(e);
      if (events->size() < static_cast<size_t>(kPage)) return;
    }
  }

  void SendEventLocked(const Event& event) {
    if (!connection_) return;
    if (connection_->Send(event.json)) {
      sent_seq_ = event.seq;
      Counters().sent.fetch_add(1);
      // Per event and connection: build the log context only when the line will be written.
      if (!spdlog::should_log(spdlog::level::info)) return;
      core::ScopedLogFields fields(
          {.job_id = event.job_id,
           .client = client_hash_,
           .extra = {{"seq", event.seq}, {"type", event.type}, {"conn", remote_}}});
      spdlog::info("push: sent");
    } else {
      // Closing (too slow, or gone): it resumes from its last seq when it reconnects.
      Counters().failed.fetch_add(1);
      std::string reason = connection_->CloseReason();
      core::ScopedLogFields fields(
          {.job_id = event.job_id,
           .client = client_hash_,
           .extra = {{"seq", event.seq},
                     {"type", event.type},
                     {"conn", remote_},
                     {"reason", reason.empty() ? "connection closing" : reason}}});
      spdlog::warn("push: not sent");
    }
  }

  void Send(std::string text) {
    std::lock_guard lock(mu_);
    if (connection_) connection_->Send(std::move(text));
  }

  const std::string client_id_;
  const std::string client_hash_;  // what logs show: the client id is a capability
  EventStore& store_;
  Hub& hub_;
  uint64_t subscription_ = 0;
  std::mutex mu_;
  std::shared_ptr<http::WebSocketConnection> connection_;  // GUARDED_BY(mu_)
  int64_t sent_seq_ = 0;                                   // GUARDED_BY(mu_)
  std::string remote_;  // the connection's peer, "ip:port"; GUARDED_BY(mu_)
};

http::Response Refuse(const Status& status) { return http::ErrorResponse(status); }

}  // namespace

PushCounters& Counters() {
  // Exposed on GET /metrics for the process's life (the collector is never removed).
  static PushCounters* counters = [] {
    auto* c = new PushCounters;
    static metrics::CollectorHandle handle =
        metrics::Global().AddCollector([c](metrics::Exposition& out) {
          using metrics::Type;
          out.Add("imgpipe_push_sent_total", "Events sent to WebSocket connections.",
                  Type::kCounter, static_cast<double>(c->sent.load()));
          out.Add("imgpipe_push_failures_total",
                  "Events not sent because their connection was closing (the client gets them "
                  "when it resumes).",
                  Type::kCounter, static_cast<double>(c->failed.load()));
          out.Add("imgpipe_push_disconnects_total", "WebSocket connections that ended.",
                  Type::kCounter, static_cast<double>(c->disconnects.load()));
          out.Add("imgpipe_push_connections", "WebSocket connections open now.", Type::kGauge,
                  static_cast<double>(c->connected.load()));
        });
    return c;
  }();
  return *counters;
}

void RegisterWebSocket(http::Router& router, EventStore& store, Hub& hub,
                       std::function<Result<bool>(std::string_view)> client_exists,
                       const WebSocketOptions& options) {
  Counters();  // the push metrics exist (at 0) from the start, for alerts and dashboards
  auto connects = std::make_shared<core::RateLimiter>(options.connects_per_address);
  router.AddWebSocket(
      "/ws",
      [&store, &hub, exists = std::move(client_exists), connects, options](http::Request& request) {
        http::UpgradeDecision decision;
        std::string address = http::ClientAddress(request, options.trusted_proxies);
        if (auto wait = connects->Take(address); wait.count() > 0) {
          decision.refuse =
              http::TooManyRequests("too many WebSocket connections from " + address, wait);
          return decision;
        }
        std::optional<std::string_view> client = request.Query("client_id");
        if (!client) client = request.Header("x-client-id");
        if (!client || client->empty()) {
          decision.refuse = Refuse(Status::Unauthenticated("client_id is required"));
          return decision;
        }
        Result<bool> known = exists(*client);
        if (!known.ok() || !*known) {
          decision.refuse =
              Refuse(known.ok() ? Status::Unauthenticated("unknown client_id") : known.status());
          return decision;
        }
        // Soft: connections opening at the same moment may pass it together.
        if (options.max_connections_per_client > 0 &&
            hub.Subscribers(*client) >= options.max_connections_per_client) {
          decision.refuse = http::TooManyRequests(
              "this client has " + std::to_string(hub.Subscribers(*client)) +
                  " WebSocket connections open (limit " +
                  std::to_string(options.max_connections_per_client) + "); close one first",
              std::chrono::seconds(5));
          return decision;
        }
        int64_t last_seq = 0;
        if (auto text = request.Query("last_seq")) {
          auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), last_seq);
          if (ec != std::errc() || end != text->data() + text->size() || last_seq < 0) {
            decision.refuse = Refuse(Status::InvalidArgument("last_seq must be an integer >= 0"));
            return decision;
          }
        }
        auto session = std::make_shared<PushSession>(std::string(*client), store, hub);
        decision.accept.on_open = [session, last_seq](auto connection) {
          session->Open(std::move(connection), last_seq);
        };
        decision.accept.on_message = [session](std::string_view text, bool binary) {
          session->OnMessage(text, binary);
        };
        decision.accept.on_close = [session] { session->Close(); };
        return decision;
      },
      /*blocking=*/options.database_over_network);
}

}  // namespace imgpipe::push
