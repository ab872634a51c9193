// push: the last hop of the pipeline (DESIGN.md "WebSocket protocol"). The results consumer
// receives from the single "results" queue and stores every message as an event of its client,
// with the client's next sequence number, BEFORE anything is pushed; then the hub hands the event
// to the client's live connections. Replay serves what a client missed from the stored events
// (GET /api/events here; the WebSocket's resume builds on the same store).
//
// Contract:
// - Events of one client have sequence numbers 1, 2, 3, ... with no gap, in the order their
//   messages were consumed (which is the results queue's per-client FIFO order).
// - A message delivered twice (a consumer died between storing and acknowledging) never makes a
//   second event: Append is idempotent on the message's deduplication id.
// - Events are kept for a retention period (default 24 h), then pruned; sequence numbers are never
//   reused.
//
// Thread-safety: EventStore, Hub and ResultsConsumer are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/rate_limiter.h"
#include "core/status.h"
#include "db/database.h"
#include "http/http.h"
#include "queue/queue.h"

namespace imgpipe::push {

struct Event {
  std::string client_id;
  int64_t seq = 0;
  std::string job_id;
  std::string type;  // "result" or "progress" (the message's "type")
  std::string json;  // the event as clients receive it: the message with "seq" added
  int64_t created_at_ms = 0;
};

class EventStore {
 public:
  // Applies the schema (db::Migrate component "push"). `db` must outlive the store.
  static core::Result<std::unique_ptr<EventStore>> Open(db::Database& db);

  // Stores the results-queue message `body` (a JSON object with "type" and "job_id") of
  // `client_id` as its next event, inside `tx`; once `tx` commits, pass the stored events to
  // NoteStored. Idempotent on `dedup_id` (the message's): when an
  // event was stored for it before, returns that event and `*stored` = false.
  // InvalidArgument when `body` is not such an object.
  core::Result<Event> Append(db::Transaction& tx, std::string_view client_id,
                             std::string_view dedup_id, std::string_view body, int64_t now_ms,
                             bool* stored);
  // The client's events with seq > `after`, oldest first, at most `limit` (1..1000).
  core::Result<std::vector<Event>> After(std::string_view client_id, int64_t after, int limit);
  // The client's last sequence number (0 before its first event). On SQLite (one push process:
  // this one appends every event) the answer comes from memory once known, kept current by
  // NoteStored; on PostgreSQL, where other processes append, from the database every time.
  core::Result<int64_t> LastSeq(std::string_view client_id);
  // The consumer's word that `events` are committed (call it before publishing them).
  void NoteStored(const std::vector<Event>& events);
  // Deletes the events created before `cutoff_ms`; returns how many.
  core::Result<int64_t> PruneBefore(int64_t cutoff_ms);

  db::Database& db() { return db_; }

 private:
  explicit EventStore(db::Database& db)
      : db_(db), cache_last_seq_(db.dialect() == db::Dialect::kSqlite) {}
  void RememberLastSeq(std::string_view client_id, int64_t seq);

  db::Database& db_;
  const bool cache_last_seq_;
  std::mutex cache_mu_;
  // Client -> last sequence number, when cache_last_seq_; bounded (emptied past 100,000).
  std::unordered_map<std::string, int64_t> last_seq_;  // GUARDED_BY(cache_mu_)
};

// In-process fan-out of stored events to the live connections of their client.
class Hub {
 public:
  using Sink = std::function<void(const Event&)>;
  // `sink` receives every event of `client_id` published from now on, on the publishing thread:
  // it must not block (queue the event and return).
  uint64_t Subscribe(std::string client_id, Sink sink);
  // Stops the sink; an unknown id is a no-op (disconnect cleanup is fail-fast, never an error).
  void Unsubscribe(uint64_t id);
  // Hands `event` to its client's sinks, outside the hub's lock; returns how many received it.
  size_t Publish(const Event& event);
  // Hands each event to its client's sinks, outside the hub's lock: each sink receives its
  // client's events in their order, one after the other. Returns the number of deliveries.
  size_t Publish(const std::vector<Event>& events);
  size_t Subscribers(std::string_view client_id) const;
  // Every client with at least one subscriber, each once.
  std::vector<std::string> Clients() const;

 private:
  using Sinks = std::multimap<std::string, std::pair<uint64_t, std::shared_ptr<Sink>>, std::less<>>;
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  Sinks sinks_;                                          // GUARDED_BY(mu_)
  std::unordered_map<uint64_t, Sinks::iterator> by_id_;  // GUARDED_BY(mu_)
};

// Cross-process push (PostgreSQL): the consumer that stores an event announces it on this
// channel ("origin\tclient_id\tseq", sent inside the storing transaction, so only committed
// events are announced); every push process listens (RemoteEvents) and hands its local
// connections of that client a "look again" hint, an Event with an empty `json`, on which a
// connection reads the store after the last event it sent. A missed notification is covered by
// the store: the next hint, or the client's resume, fills any gap.
inline constexpr std::string_view kEventsChannel = "imgpipe_events";

struct ConsumerOptions {
  int concurrency = 2;                              // receiving threads, 1..64
  int batch = 10;                                   // messages per receive, 1..10
  std::chrono::milliseconds poll_wait{1'000};       // long-poll wait; also how long Stop may take
  std::chrono::milliseconds retention{86'400'000};  // events older than this are pruned
  std::chrono::milliseconds prune_every{60'000};
  std::function<int64_t()> now_ms;  // clock (Unix ms), for tests; default the system clock
  // Non-empty (PostgreSQL only): announce each stored event on kEventsChannel with this origin
  // (the process's RemoteEvents ignores its own announcements).
  std::string announce_origin;
};

// Listens on kEventsChannel and turns other processes' announcements into "look again" hints for
// the local connections of the announced client; after a lost listening connection, hints every
// local client. Unimplemented on SQLite (one process: nothing to listen to).
class RemoteEvents {
 public:
  static core::Result<std::unique_ptr<RemoteEvents>> Start(db::Database& db, Hub& hub,
                                                           std::string origin);
  ~RemoteEvents();
  RemoteEvents(const RemoteEvents&) = delete;
  // Whether other processes' announcements can arrive now (the LISTEN connection is up).
  bool Listening() const { return subscription_->Connected(); }
  RemoteEvents& operator=(const RemoteEvents&) = delete;

 private:
  RemoteEvents() = default;
  std::unique_ptr<db::Subscription> subscription_;
};

// Receives from "results", stores each message as an event (a batch in one durable transaction),
// publishes the new events to the hub, then acknowledges the messages. A message that is not a
// JSON object with "type" and "job_id" is logged and dropped.
class ResultsConsumer {
 public:
  static core::Result<std::unique_ptr<ResultsConsumer>> Start(queue::QueueService& queues,
                                                              EventStore& store, Hub& hub,
                                                              const ConsumerOptions& options);
  void Stop();  // idempotent
  ~ResultsConsumer();

  ResultsConsumer(const ResultsConsumer&) = delete;
  ResultsConsumer& operator=(const ResultsConsumer&) = delete;

  class Impl;

 private:
  explicit ResultsConsumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The events as JSON: {"events":[...events...],"last_seq":N}.
std::string EventsJson(const std::vector<Event>& events, int64_t last_seq);

// GET /api/events?client_id=&after=N&limit= (the WebSocket's HTTP fallback): the client's stored
// events after N (default 0), oldest first, at most `limit` (1..1000, default 100), and its last
// sequence number. The client id comes from X-Client-Id or the query; `client_exists` says
// whether it is known (401 otherwise). `store` must outlive the router.
void RegisterRoutes(http::Router& router, EventStore& store,
                    std::function<core::Result<bool>(std::string_view)> client_exists);

// GET /ws?client_id=...[&last_seq=N] (DESIGN.md "WebSocket protocol"). A missing or unknown
// client is refused with 401 before any socket opens; a bad last_seq with 400. On open: a
// {"type":"hello","client_id","last_seq"} message (the client's last stored event), then every
// stored event after the asked last_seq (default 0) in order, then live events, with no gap and
// no duplicate at the seam. Client messages: {"action":"ping"} -> {"type":"pong"};
// {"action":"resume","last_seq":N} replays again from N; anything else -> {"type":"error",
// "error":{"code","message"}} (the connection stays open). Several connections of one client
// all receive its events. Heartbeats, the incoming size limit (1009) and the slow-client cut-off
// are the http module's (ServerOptions::ws_*).
// Limits on opening connections, each answered 429 with Retry-After before any socket opens:
// new connections per client address (http::ClientAddress; a rate of 0 is no limit) and
// connections open at once per client (0: no limit).
struct WebSocketOptions {
  core::RateLimiter::Options connects_per_address;
  size_t max_connections_per_client = 0;
  std::vector<std::string> trusted_proxies;
  // The client lookups and the event store wait on a database server (PostgreSQL): the upgrade
  // and the connections' callbacks then run on the HTTP handler pool, not an I/O thread
  // (http::Router::AddWebSocket's `blocking`). On SQLite they are memory or a short local read.
  bool database_over_network = false;
};
void RegisterWebSocket(http::Router& router, EventStore& store, Hub& hub,
                       std::function<core::Result<bool>(std::string_view)> client_exists,
                       const WebSocketOptions& options = {});

// Push counters, process-wide (exposed on /metrics by the observability issue).
struct PushCounters {
  std::atomic<int64_t> sent{0};         // events handed to a connection
  std::atomic<int64_t> failed{0};       // events not sent: the connection was closing
  std::atomic<int64_t> disconnects{0};  // connections ended
  std::atomic<int64_t> connected{0};    // connections open now
};
PushCounters& Counters();

}  // namespace imgpipe::push
