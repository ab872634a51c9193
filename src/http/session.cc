// The per-connection coroutine (model: Beast's advanced_server_flex_awaitable, plain HTTP only)
// and the SessionHub that lets Stop() find and close connections.
#include "http/session.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "core/log.h"
#include "http/cors.h"
#include "http/handler_pool.h"
#include "http/message.h"
#include "http/websocket.h"
#include "metrics/metrics.h"

namespace imgpipe::http::internal {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

namespace {

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// After an error response the peer may still be sending (a too-large body): read and discard
// this much for this long before closing, so the close does not reset the connection and destroy
// the response before the peer reads it.
constexpr size_t kLingerBytes = 1 << 20;
constexpr std::chrono::milliseconds kLingerTime{1000};

// The HTTP status to answer a failed read with, or 0 to close silently (timeouts, peer gone).
int StatusForReadError(const beast::error_code& ec) {
  if (ec == bhttp::error::header_limit) return 431;
  if (ec == bhttp::error::body_limit) return 413;
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return 0;
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) {
    return 400;  // any other parse error: a malformed request
  }
  return 0;
}

core::Status StatusForHttp(int status) {
  switch (status) {
    case 413:
      return core::Status::PayloadTooLarge("request body is larger than the limit");
    case 431:
      return core::Status::InvalidArgument("request header is larger than the limit");
    default:
      return core::Status::InvalidArgument("malformed HTTP request");
  }
}

class RemoveGuard {
 public:
  RemoveGuard(SessionHub& hub, const Connection* c) : hub_(hub), connection_(c) {}
  ~RemoveGuard() {
    if (connection_ != nullptr) hub_.Remove(connection_);
  }
  // Another guard (the WebSocket phase's) takes over.
  void Release() { connection_ = nullptr; }

 private:
  SessionHub& hub_;
  const Connection* connection_;
};

std::string RemoteOf(tcp::socket& socket) {
  beast::error_code ec;
  tcp::endpoint endpoint = socket.remote_endpoint(ec);
  if (ec) return "-";
  std::string address = endpoint.address().to_string();
  if (endpoint.address().is_v6()) address = "[" + address + "]";
  return address + ":" + std::to_string(endpoint.port());
}

// HTTP requests by method, route pattern and status, and their latency (request start to the
// response ready to send).
struct HttpMetrics {
  metrics::Family<metrics::Counter>& requests = metrics::Global().CounterFamily(
      "imgpipe_http_requests_total", "HTTP requests answered, by method, route and status.",
      {"method", "route", "status"});
  metrics::Family<metrics::Histogram>& duration = metrics::Global().HistogramFamily(
      "imgpipe_http_request_duration_seconds",
      "Time from a request's start to its response ready to send, by method and route.",
      {"method", "route"}, metrics::LatencyBuckets());
};

HttpMetrics& Metrics() {
  static HttpMetrics* m = new HttpMetrics();
  return *m;
}

// The method as a label: the standard ones, else "other" (a client picks the method freely).
std::string_view MethodLabel(std::string_view method) {
  for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
    if (method == known) return known;
  }
  return "other";
}

// Writes `response`, logs the access line, counts it under `route` (Request::route) and returns
// whether the write succeeded.
asio::awaitable<bool> Send(SessionHub& hub, Connection& c, Response response,
                           std::string_view method, std::string_view raw_path,
                           std::string_view route, unsigned version, bool keep_alive,
                           const std::string& request_id,
                           std::chrono::steady_clock::time_point start) {
  const int status = response.status;
  BeastResponse message =
      ToBeast(std::move(response), version, method == "HEAD", keep_alive, request_id);
  const size_t bytes = message.body().size();
  // Counted before the write: a client that reads the response and then scrapes /metrics sees
  // its request counted (the latency is to the response ready, not to the last byte sent).
  const std::string_view method_label = MethodLabel(method);
  Metrics().requests.Labels({method_label, route, std::to_string(status)}).Inc();
  Metrics()
      .duration.Labels({method_label, route})
      .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  c.stream.expires_after(hub.options().body_timeout);
  auto [ec, written] = co_await bhttp::async_write(c.stream, message, kAsTuple);
  (void)written;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  core::ScopedRequestId scoped(request_id);
  spdlog::info("{} {} {} {}B {}ms{}", method, raw_path, status, bytes, ms,
               ec ? " (write failed: " + ec.message() + ")" : std::string());
  co_return !ec;
}

// Answers a request that could not be read with an error response; the connection then ends.
asio::awaitable<bool> Fail(SessionHub& hub, Connection& c, int status, const BeastRequest& message,
                           std::string request_id, std::chrono::steady_clock::time_point start,
                           beast::error_code ec) {
  spdlog::debug("http read failed: {}", ec.message());
  std::string method(message.method_string());
  if (method.empty()) method = "-";
  std::string raw_path(RawPath(message.target()));
  Response response = ErrorResponse(StatusForHttp(status));
  response.status = status;  // 431 has no Status code of its own
  co_await Send(hub, c, std::move(response), method, raw_path, "unread", 11,
                /*keep_alive=*/false, request_id, start);
  co_return false;
}

// Half-closes, then discards what the peer still sends (bounded), so it can read our response.
asio::awaitable<void> LingeringClose(Connection& c) {
  beast::error_code ec;
  c.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  c.stream.expires_after(kLingerTime);
  std::array<char, 16 << 10> sink;
  size_t total = 0;
  while (total < kLingerBytes) {
    auto [read_ec, n] = co_await c.stream.async_read_some(asio::buffer(sink), kAsTuple);
    if (read_ec) break;
    total += n;
  }
}

// An accepted WebSocket upgrade, handed from the HTTP loop to RunSession.
struct PendingUpgrade {
  std::string key;  // Sec-WebSocket-Key
  std::string remote;
  std::string leftover;  // bytes the client sent after its request
  WebSocketCallbacks callbacks;
};

struct ServeOutcome {
  bool orderly = true;  // false: an error response was sent while the peer may still be sending
  std::optional<PendingUpgrade> upgrade;
};

ServeOutcome Closed(bool orderly = true) {
  ServeOutcome outcome;
  outcome.orderly = orderly;
  return outcome;
}

// Serves requests until the connection should close or turns into a WebSocket. The upgrade is
// returned rather than run from here so that this frame (the request parser, the read buffer,
// the last request) is freed before the connection's long WebSocket life: an idle WebSocket
// costs only what it needs.
asio::awaitable<ServeOutcome> ServeRequests(SessionHub& hub,
                                            std::shared_ptr<Connection> connection) {
  Connection& c = *connection;
  const ServerOptions& options = hub.options();
  const std::string remote = RemoteOf(c.stream.socket());
  beast::flat_buffer buffer;
  for (bool first = true;; first = false) {
    if (hub.stopping()) co_return Closed();
    c.idle = true;
    if (!first && buffer.size() == 0) {
      // Keep-alive: wait up to idle_timeout for the first byte of the next request.
      c.stream.expires_after(options.idle_timeout);
      auto [ec, n] = co_await c.stream.async_read_some(buffer.prepare(4096), kAsTuple);
      if (ec) co_return Closed();
      buffer.commit(n);
    }

    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(options.header_limit);
    parser.body_limit(options.body_limit);
    c.stream.expires_after(options.header_timeout);
    auto [header_ec, header_n] =
        co_await bhttp::async_read_header(c.stream, buffer, parser, kAsTuple);
    (void)header_n;
    c.idle = false;
    auto start = std::chrono::steady_clock::now();
    BeastRequest& message = parser.get();
    std::string request_id = ChooseRequestId(message["x-request-id"]);

    if (header_ec) {
      int status = StatusForReadError(header_ec);
      if (status == 0) co_return Closed();
      co_return Closed(co_await Fail(hub, c, status, message, request_id, start, header_ec));
    }
    if (!parser.is_done()) {
      // A request its route's guard refuses is answered before its body is read: a client
      // without the right credential cannot make the server read and hold a body up to the limit.
      Request early;
      early.remote = remote;
      early.request_id = request_id;
      if (BuildRequest(message, early).ok()) {
        std::optional<Response> refused;
        {
          core::ScopedRequestId scoped(request_id);
          refused = hub.router().Admit(early);
        }
        if (refused) {
          internal::AddCorsHeaders(early, options.cors_origins, *refused);
          co_await Send(hub, c, std::move(*refused), early.method, RawPath(early.target),
                        early.route, message.version(), /*keep_alive=*/false, request_id, start);
          co_return Closed(/*orderly=*/false);
        }
      }
      if (beast::iequals(message[bhttp::field::expect], "100-continue")) {
        bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, message.version()};
        c.stream.expires_after(options.body_timeout);
        auto [ec, n] = co_await bhttp::async_write(c.stream, go_on, kAsTuple);
        if (ec) co_return Closed();
      }
      c.stream.expires_after(options.body_timeout);
      auto [body_ec, body_n] = co_await bhttp::async_read(c.stream, buffer, parser, kAsTuple);
      (void)body_n;
      if (body_ec) {
        int status = StatusForReadError(body_ec);
        if (status == 0) co_return Closed();
        co_return Closed(co_await Fail(hub, c, status, message, request_id, start, body_ec));
      }
    }

    Request request;
    request.remote = remote;
    request.request_id = request_id;
    const unsigned version = message.version();
    bool keep_alive = message.keep_alive();
    core::Status built = BuildRequest(message, request);
    const Router::WebSocketRoute* upgrade = nullptr;
    if (built.ok() && boost::beast::websocket::is_upgrade(message)) {
      upgrade = hub.router().FindWebSocket(request.path);
    }
    if (upgrade != nullptr) {
      UpgradeDecision decision;
      // A malformed handshake is refused before the handler sees it.
      decision.refuse = CheckWebSocketHandshake(message);
      if (!decision.refuse && !upgrade->blocking) {
        decision = DecideUpgrade(upgrade->handler, request);
      } else if (!decision.refuse) {  // blocking: the handler and the callbacks on the pool
        decision = co_await OnHandlerPool<UpgradeDecision>(
            hub, [&] { return DecideUpgrade(upgrade->handler, request); });
        decision.accept =
            CallbacksOnHandlerPool(hub.handler_executor(), std::move(decision.accept));
      }
      if (decision.refuse) {  // refused: no WebSocket is opened
        co_await Send(hub, c, std::move(*decision.refuse), request.method, RawPath(request.target),
                      request.path, version, /*keep_alive=*/false, request_id, start);
        co_return Closed();
      }
      {
        core::ScopedRequestId scoped(request_id);
        spdlog::info("{} {} 101 websocket", request.method, RawPath(request.target));
      }
      ServeOutcome upgraded;
      const auto leftover = buffer.data();
      upgraded.upgrade =
          PendingUpgrade{std::string(message[bhttp::field::sec_websocket_key]), remote,
                         std::string(static_cast<const char*>(leftover.data()), leftover.size()),
                         std::move(decision.accept)};
      co_return upgraded;
    }
    Response response;
    if (!built.ok()) {
      response = ErrorResponse(built);
      keep_alive = false;
    } else if (auto preflight = internal::CorsPreflight(request, hub.options().cors_origins)) {
      response = std::move(*preflight);
      request.route = "cors preflight";
    } else {
      response = co_await OnHandlerPool<Response>(hub, [&] { return DispatchNow(hub, request); });
    }
    if (built.ok()) internal::AddCorsHeaders(request, hub.options().cors_origins, response);
    if (auto connection = response.Header("Connection");
        connection && beast::iequals(*connection, "close")) {
      keep_alive = false;
    }
    keep_alive = keep_alive && !hub.stopping();
    bool sent = co_await Send(hub, c, std::move(response), request.method, RawPath(request.target),
                              built.ok() ? std::string_view(request.route) : "unread", version,
                              keep_alive, request_id, start);
    if (!sent) co_return Closed();
    if (!keep_alive) co_return Closed(built.ok());
  }
}

}  // namespace

SessionHub::SessionHub(ServerOptions options, std::shared_ptr<const Router> router)
    : options_(std::move(options)), router_(std::move(router)) {
  Metrics();
}

bool SessionHub::Add(const std::shared_ptr<Connection>& connection) {
  std::lock_guard lock(mu_);
  if (stopping()) return false;
  connections_.emplace(connection.get(), connection);
  return true;
}

void SessionHub::Remove(const Connection* connection) {
  std::lock_guard lock(mu_);
  connections_.erase(connection);
  if (EmptyLocked()) empty_cv_.notify_all();
}

bool SessionHub::AddWebSocket(WebSocketSession* session, std::weak_ptr<WebSocketSession> owner) {
  std::lock_guard lock(mu_);
  if (stopping()) return false;
  websockets_.emplace(session, std::move(owner));
  return true;
}

void SessionHub::RemoveWebSocket(const WebSocketSession* session) {
  std::lock_guard lock(mu_);
  websockets_.erase(session);
  if (EmptyLocked()) empty_cv_.notify_all();
}

void SessionHub::SweepWebSockets() {
  std::vector<std::pair<std::weak_ptr<WebSocketSession>, WebSocketSession::Due>> due;
  {
    const int64_t now = SteadyNowMs();
    std::lock_guard lock(mu_);
    for (const auto& [session, owner] : websockets_) {
      WebSocketSession::Due d = session->Check(now);
      if (d != WebSocketSession::Due::kNothing) due.emplace_back(owner, d);
    }
  }
  // Outside the lock: a session dropped here removes itself, which takes the lock.
  for (auto& [owner, d] : due) {
    if (auto session = owner.lock()) session->Act(d);
  }
}

void SessionHub::BeginStop() {
  {
    std::lock_guard lock(mu_);
    stopping_.store(true, std::memory_order_release);
  }
  PostClose(/*only_idle=*/true);
}

void SessionHub::CloseAll() { PostClose(/*only_idle=*/false); }

void SessionHub::PostClose(bool only_idle) {
  std::vector<std::weak_ptr<WebSocketSession>> websockets;
  {
    std::lock_guard lock(mu_);
    for (const auto& [ptr, connection] : connections_) {
      asio::post(connection->stream.get_executor(), [connection = connection, only_idle] {
        if (only_idle && !connection->idle) return;
        beast::error_code ec;
        connection->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
        connection->stream.close();
      });
    }
    websockets.reserve(websockets_.size());
    for (const auto& [session, owner] : websockets_) websockets.push_back(owner);
  }
  // A stopping server closes WebSockets at once, as idle connections: their clients reconnect
  // and resume, so a shutdown never waits the grace period for them.
  for (auto& owner : websockets) {
    if (auto session = owner.lock()) session->Abort("server stopping");
  }
}

bool SessionHub::WaitEmpty(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return empty_cv_.wait_until(lock, deadline, [&] { return EmptyLocked(); });
}

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

asio::awaitable<void> RunSession(std::shared_ptr<SessionHub> hub,
                                 std::shared_ptr<Connection> connection) {
  RemoveGuard guard(*hub, connection.get());
  bool orderly = true;
  try {
    ServeOutcome outcome = co_await ServeRequests(*hub, connection);
    orderly = outcome.orderly;
    if (outcome.upgrade) {
      // The socket leaves the HTTP connection (its stream, timers and this coroutine) for a
      // WebSocket that keeps only what an idle connection needs; it sends the 101.
      PendingUpgrade upgrade = std::move(*outcome.upgrade);
      outcome.upgrade.reset();
      StartWebSocket(hub, connection->stream.release_socket(), std::move(upgrade.remote),
                     upgrade.key, std::move(upgrade.leftover), std::move(upgrade.callbacks));
      co_return;
    }
  } catch (const std::exception& e) {
    spdlog::error("http session failed: {}", e.what());
  }
  if (!orderly) {
    co_await LingeringClose(*connection);
  } else {
    beast::error_code ec;
    connection->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }
  connection->stream.close();
}

}  // namespace imgpipe::http::internal
