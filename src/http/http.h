// http: the HTTP server (Boost.Beast, C++20 coroutines), the router and the ONE map from
// core::StatusCode to HTTP status. This header is the module's public face and includes no Boost,
// so modules above it compile fast.
//
// Handlers are synchronous functions run on the server's handler pool (a handler occupies its
// thread while it runs); connections are served by one coroutine each on the I/O threads, which
// never wait for a handler. Upgrade handlers, guards and WebSocket callbacks run on the I/O
// threads, so they must be quick. While a handler runs, the thread's request id is set
// (core::ScopedRequestId), so every log line it writes carries the id.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace imgpipe::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;      // "GET", "POST", ... (HEAD is served by GET handlers, body dropped)
  std::string target;      // as received: path + "?" + query
  std::string path;        // percent-decoded path, without the query
  HeaderList query;        // decoded query parameters in order ("a=1&a=2" gives two entries)
  HeaderList headers;      // names lowercased
  HeaderList path_params;  // filled by the router from "{name}" segments
  std::string body;
  std::string request_id;
  std::string remote;  // "ip:port" of the peer
  // Set by Router::Dispatch: the pattern of the route that served the request
  // ("/api/jobs/{job_id}"), "static" for the fallback, "unmatched" when none did (404, 405,
  // malformed path). A label for metrics: a small set, never request data.
  std::string route;

  // First value of query parameter / header / path parameter `name`, if present.
  std::optional<std::string_view> Query(std::string_view name) const;
  std::optional<std::string_view> Header(std::string_view name) const;  // name case-insensitive
  std::string_view PathParam(std::string_view name) const;              // "" when absent
};

struct Response {
  int status = 200;
  HeaderList headers;
  std::string body;

  void SetHeader(std::string_view name, std::string_view value);  // replaces
  std::optional<std::string_view> Header(std::string_view name) const;

  static Response Json(int status, std::string json_body);
  static Response Bytes(int status, std::string content_type, std::string body);
  static Response NoContent(int status = 204);
};

// ONE place that maps Status codes to HTTP statuses (404, 400, 409, ...).
int HttpStatusFor(core::StatusCode code);
// {"error":{"code":"not_found","message":"..."}} with the mapped status.
Response ErrorResponse(const core::Status& status);
// 429 with the error body of Status::ResourceExhausted(message) and Retry-After in whole seconds
// (at least 1), for rate limits that know when the client may come back.
Response TooManyRequests(std::string message, std::chrono::milliseconds retry_after);

// The address (IP, no port) of the client that sent `request`: the peer's, or, when the peer is
// one of `trusted_proxies` (exact IP texts, e.g. "127.0.0.1" for an nginx on the same host), the
// last X-Forwarded-For entry: the one that proxy added, which the client cannot forge.
std::string ClientAddress(const Request& request, const std::vector<std::string>& trusted_proxies);

using Handler = std::function<Response(Request&)>;

// ---- WebSocket (RFC 6455; the HTTP handshake through Beast, the framing our own) ----

// One accepted WebSocket connection. Thread-safe: Send and Close may be called from any thread.
class WebSocketConnection {
 public:
  virtual ~WebSocketConnection() = default;
  // Queues a text message; one write is in flight at a time. Returns false when the connection is
  // closing or closed, or when its outgoing queue already holds ServerOptions::ws_max_queued
  // messages: a client too slow to drain it is then disconnected at once (no close frame: it
  // would wait behind the blocked write) rather than allowed to grow memory.
  virtual bool Send(std::string text) = 0;
  // Sends a close frame with `code` (1000 normal, 1008 policy violation, ...) after the queued
  // messages, then ends the connection.
  virtual void Close(int code, std::string reason) = 0;
  virtual const std::string& remote() const = 0;
  // Why the connection ended or is ending, for logs ("closed by the client (1000)", "server
  // stopping", "too slow: ..."): the first cause wins; "" while it is open.
  virtual std::string CloseReason() const = 0;
};

// What an upgrade handler gives to accept a connection. Callbacks run on the connection's strand,
// one at a time: on_open once after the handshake, on_message for each complete message (text, or
// binary with `binary` true), on_close once at the end whatever the reason.
struct WebSocketCallbacks {
  std::function<void(std::shared_ptr<WebSocketConnection>)> on_open;
  std::function<void(std::string_view message, bool binary)> on_message;
  std::function<void()> on_close;
};

// Looks at an upgrade request and refuses it (the Response is sent and no WebSocket is opened:
// e.g. 401) or accepts it.
struct UpgradeDecision {
  std::optional<Response> refuse;
  WebSocketCallbacks accept;
};
using UpgradeHandler = std::function<UpgradeDecision(Request&)>;

// Routes by method and path pattern. Patterns are literal segments and "{name}" segments, matched
// segment by segment ("/pacs/studies/{study_id}"); a final "{name...}" matches the rest of the
// path, slashes included (for static files). Literal segments win over parameters.
// A path that matches no pattern is 404 (or, for GET/HEAD, the fallback's answer: SetFallback);
// one that matches with another method is 405 with Allow.
// HEAD falls back to GET. Exceptions from handlers become 500 (logged), never a crash.
class Router {
 public:
  void Add(std::string_view method, std::string_view pattern, Handler handler);
  Response Dispatch(Request& request) const;
  // WebSocket endpoints, by exact path ("/ws"). A GET with "Upgrade: websocket" to that path goes
  // to `handler`; other requests to it are 426 Upgrade Required. The handler and the
  // connection's callbacks run on an I/O thread, so they must be quick; with `blocking` (they
  // may wait on a database or the network) they run on the handler pool instead, the callbacks
  // still one at a time and in order per connection.
  struct WebSocketRoute {
    UpgradeHandler handler;
    bool blocking = false;
  };
  void AddWebSocket(std::string_view path, UpgradeHandler handler, bool blocking = false);
  const WebSocketRoute* FindWebSocket(std::string_view path) const;
  // Called for a GET or HEAD whose path no route matches, where Dispatch would answer 404; its
  // response is sent instead (e.g. static files, http/static_files.h). Not called for a path
  // some route matches with another method (405 stays), nor for WebSocket paths or malformed
  // paths. The handler answers 404 itself for what it does not serve. One fallback; a later
  // call replaces it. Like Add, call it before the router serves.
  void SetFallback(Handler handler);
  // Decides, after a route matched and before its handler runs, whether the request may reach it:
  // `guard` sees the request with `route` (the pattern) and `method` set, and returns nullopt to
  // let it through or the response to send instead (401, 403). Not called for 404/405 answers,
  // the fallback (static files) or WebSocket upgrades, which their handlers guard themselves.
  // One guard; a later call replaces it. Like Add, call it before the router serves.
  using Guard = std::function<std::optional<Response>(const Request&)>;
  void SetGuard(Guard guard);
  // For a request whose body has not been read yet (method, target, headers set): the guard's
  // refusal, if its route's guard refuses it, so the server can answer without reading a body it
  // would throw away; nullopt otherwise (Dispatch decides everything else, 404 and 405 included).
  std::optional<Response> Admit(Request& request) const;
  // Every route as (method, pattern), in the order added, patterns as given to Add; a WebSocket
  // endpoint as ("GET", path). The fallback is not a route. For checks that the API's description
  // (GET /openapi.json) matches what is served.
  std::vector<std::pair<std::string, std::string>> Routes() const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    bool rest = false;
    Handler handler;
  };
  // The route a request's method and path select (nullptr: none), its parameters, and the
  // methods of the routes matching the path (for 405's Allow).
  struct Found {
    const Route* route = nullptr;
    HeaderList params;
    std::set<std::string> allowed;
    std::string_view raw_path;  // into the request's target or path
    bool malformed = false;     // a segment is not valid percent-encoding
  };
  Found Find(const Request& request) const;

  std::vector<Route> routes_;
  std::vector<std::pair<std::string, WebSocketRoute>> websockets_;
  Handler fallback_;  // empty: none
  Guard guard_;       // empty: every matched route is reachable
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  // Origins (e.g. "https://viewer.example.org") whose pages may call the API from a browser
  // (CORS); "*" allows any; empty (the default) allows none but the server's own pages.
  std::vector<std::string> cors_origins;
  uint16_t port = 8080;  // 0 picks a free port; see Server::port()
  // Threads running route handlers, which may block (disk, database): 0 = one per core. The
  // I/O threads (accept, HTTP parsing, WebSocket traffic and upgrade handlers) are io_threads:
  // 0 = one per core. UpgradeHandlers and WebSocket callbacks run on I/O threads, so they must
  // be quick (memory, or a short local read).
  int threads = 0;
  int io_threads = 0;
  uint64_t body_limit = 512ull << 20;  // bytes; larger bodies get 413 before they are read
  uint32_t header_limit = 64 << 10;
  std::chrono::milliseconds header_timeout{10'000};  // to receive a complete request header
  std::chrono::milliseconds body_timeout{300'000};   // to receive the body once headers are in
  std::chrono::milliseconds idle_timeout{60'000};    // keep-alive wait for the next request
  std::chrono::milliseconds shutdown_grace{10'000};  // in-flight requests get this long on stop
  bool stop_on_signals = true;                       // SIGINT/SIGTERM trigger a graceful Stop()
  // WebSocket: largest incoming message (a bigger one closes the connection with 1009); a ping
  // when nothing was received for ws_ping_interval, and a close when still nothing after twice
  // that (a peer that stopped answering); outgoing messages queued per connection at most.
  size_t ws_max_message = 64 << 10;
  std::chrono::milliseconds ws_ping_interval{30'000};
  size_t ws_max_queued = 1024;
};

// A running server. Start binds and listens before it returns (so port() is the real port and a
// taken port is an error, not a later crash), then serves on `threads` threads.
class Server {
 public:
  static core::Result<std::unique_ptr<Server>> Start(const ServerOptions& options,
                                                     std::shared_ptr<const Router> router);
  virtual ~Server() = default;  // stops (gracefully) if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  virtual uint16_t port() const = 0;
  virtual std::string host() const = 0;
  // Graceful: stop accepting, let in-flight requests finish (up to shutdown_grace), close idle
  // keep-alive connections, join the threads. Idempotent; callable from any thread.
  virtual void Stop() = 0;
  // Blocks until the server has stopped (by Stop() or a signal).
  virtual void Wait() = 0;

 protected:
  Server() = default;
};

// Percent-decoding of a URL component; '+' is a space only when `plus_is_space` (query strings).
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space);

}  // namespace imgpipe::http
