// Internal to the http module: the state shared by a Server and its connections, and the
// per-connection coroutine. Includes Beast, so it must never be included by http.h.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "http/http.h"

namespace imgpipe::http::internal {

// One accepted connection. Shared by its session coroutine and by closes posted from Stop(), so
// the stream outlives whichever of them finishes last. `idle` is only touched on the stream's
// strand: true while the session waits for (the header of) the next request.
struct Connection {
  explicit Connection(boost::asio::ip::tcp::socket socket) : stream(std::move(socket)) {}
  boost::beast::tcp_stream stream;
  bool idle = true;
};

// An open WebSocket as the hub sees it (websocket.cc): kept alive by the server's sweep, closed
// by a stop.
class WebSocketSession {
 public:
  enum class Due { kNothing, kPing, kAbort };
  // What the keepalive sweep must do at `now_ms` (steady clock). Called with the hub's lock held:
  // it reads only atomics and never blocks.
  virtual Due Check(int64_t now_ms) const = 0;
  // Does `due` (posts to the connection's strand); called without the hub's lock.
  virtual void Act(Due due) = 0;
  // Drops the connection at once (posted to its strand), for `reason`.
  virtual void Abort(std::string reason) = 0;

 protected:
  ~WebSocketSession() = default;
};

// What a Server shares with its sessions: options, router, the set of live connections and the
// stopping flag. Thread-safe.
class SessionHub {
 public:
  // Also registers the HTTP metrics, so they are on /metrics before the first request ends.
  SessionHub(ServerOptions options, std::shared_ptr<const Router> router);

  const ServerOptions& options() const { return options_; }
  const Router& router() const { return *router_; }
  // Where route handlers run (Router::Dispatch): the handler pool, so that a handler waiting on
  // the disk or the database never holds up the I/O threads. Set once, before the first session.
  void set_handler_executor(boost::asio::any_io_executor executor) {
    handlers_ = std::move(executor);
  }
  const boost::asio::any_io_executor& handler_executor() const { return handlers_; }
  // Once true, sessions finish their current request, answer it with "Connection: close" and end.
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  // Registers a connection; false (and nothing registered) once stopping.
  bool Add(const std::shared_ptr<Connection>& connection);
  void Remove(const Connection* connection);
  // Sets stopping and closes the idle connections (on their strands); busy ones end by themselves.
  void BeginStop();
  // Closes every connection, busy or not (after the shutdown grace).
  void CloseAll();
  // Waits until no connection is left or `deadline` passes; true when none is left.
  bool WaitEmpty(std::chrono::steady_clock::time_point deadline);

  // WebSockets, registered once the upgrade is done (the HTTP Connection is gone by then).
  // AddWebSocket is false (nothing registered) once stopping. `session` must remove itself
  // before it is destroyed.
  bool AddWebSocket(WebSocketSession* session, std::weak_ptr<WebSocketSession> owner);
  void RemoveWebSocket(const WebSocketSession* session);
  // Pings the WebSockets that were silent for ws_ping_interval and drops those silent for twice
  // that (or stuck in a close handshake). Run by the server every quarter of the interval.
  void SweepWebSockets();

 private:
  void PostClose(bool only_idle);
  bool EmptyLocked() const { return connections_.empty() && websockets_.empty(); }

  const ServerOptions options_;
  const std::shared_ptr<const Router> router_;
  boost::asio::any_io_executor handlers_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable empty_cv_;
  std::map<const Connection*, std::shared_ptr<Connection>> connections_;  // GUARDED_BY(mu_)
  std::unordered_map<const WebSocketSession*, std::weak_ptr<WebSocketSession>>
      websockets_;  // GUARDED_BY(mu_)
};

// Milliseconds of the steady clock (the WebSockets' keepalive times).
int64_t SteadyNowMs();

// Serves one connection until it closes, times out or the hub stops. Run it on the connection's
// strand (the socket's executor). Never throws.
boost::asio::awaitable<void> RunSession(std::shared_ptr<SessionHub> hub,
                                        std::shared_ptr<Connection> connection);

}  // namespace imgpipe::http::internal
