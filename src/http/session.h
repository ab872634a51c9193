// Internal to the http module: the state shared by a Server and its connections, and the
// per-connection coroutine. Includes Beast, so it must never be included by http.h.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>

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

// What a Server shares with its sessions: options, router, the set of live connections and the
// stopping flag. Thread-safe.
class SessionHub {
 public:
  // Also registers the HTTP metrics, so they are on /metrics before the first request ends.
  SessionHub(ServerOptions options, std::shared_ptr<const Router> router);

  const ServerOptions& options() const { return options_; }
  const Router& router() const { return *router_; }
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

 private:
  void PostClose(bool only_idle);

  const ServerOptions options_;
  const std::shared_ptr<const Router> router_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable empty_cv_;
  std::map<const Connection*, std::shared_ptr<Connection>> connections_;  // GUARDED_BY(mu_)
};

// Serves one connection until it closes, times out or the hub stops. Run it on the connection's
// strand (the socket's executor). Never throws.
boost::asio::awaitable<void> RunSession(std::shared_ptr<SessionHub> hub,
                                        std::shared_ptr<Connection> connection);

}  // namespace imgpipe::http::internal
