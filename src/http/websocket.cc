// WebSocket connections (Beast websocket::stream over the session's tcp_stream): the handshake,
// the read loop, and a bounded outgoing queue drained by one writer at a time.
#include "http/websocket.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket.hpp>
#include <mutex>
#include <string>
#include <vector>

#include "http/session.h"

namespace imgpipe::http::internal {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;

namespace {

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kKeptReadBuffer = 4096;
constexpr size_t kReadChunk = 256;

class Socket final : public WebSocketConnection, public std::enable_shared_from_this<Socket> {
 public:
  Socket(std::shared_ptr<Connection> connection, std::string remote, size_t max_queued)
      : connection_(std::move(connection)),
        ws_(connection_->stream),
        remote_(std::move(remote)),
        max_queued_(max_queued) {}

  websocket::stream<beast::tcp_stream&>& ws() { return ws_; }

  bool Send(std::string text) override {
    bool accepted = true;
    {
      std::lock_guard lock(mu_);
      if (closing_) return false;
      if (queue_.size() - queue_head_ >= max_queued_) {
        spdlog::warn("websocket {}: {} messages waiting; disconnecting a client too slow to read",
                     remote_, queue_.size() - queue_head_);
        SetReasonLocked("too slow: " + std::to_string(queue_.size() - queue_head_) +
                        " messages waiting");
        closing_ = true;
        ClearQueueLocked();
        // A close frame would wait behind the blocked write: drop the connection instead (the
        // pending write and read fail, the session ends). The client resumes when it reconnects.
        asio::post(connection_->stream.get_executor(), [connection = connection_] {
          beast::error_code ec;
          connection->stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
          connection->stream.close();
        });
        return false;
      } else {
        queue_.push_back(std::move(text));
      }
    }
    StartWriter();
    return accepted;
  }

  void Close(int code, std::string reason) override {
    {
      std::lock_guard lock(mu_);
      if (closing_) return;
      RequestCloseLocked(code, std::move(reason));
    }
    StartWriter();
  }

  const std::string& remote() const override { return remote_; }

  std::string CloseReason() const override {
    std::lock_guard lock(mu_);
    return reason_;
  }

  // The read loop ended, for `reason`: nothing more may be written.
  void MarkClosed(std::string reason) {
    std::lock_guard lock(mu_);
    SetReasonLocked(std::move(reason));
    closing_ = true;
    closed_ = true;
    ClearQueueLocked();
  }

 private:
  // Frees the queue's storage too: an idle connection holds no buffer.
  void ClearQueueLocked() {
    std::vector<std::string>().swap(queue_);
    queue_head_ = 0;
  }

  void SetReasonLocked(std::string reason) {
    if (reason_.empty()) reason_ = std::move(reason);
  }

  void RequestCloseLocked(int code, std::string reason) {
    SetReasonLocked("closed by the server (" + std::to_string(code) + " " + reason + ")");
    closing_ = true;
    close_code_ = code;
    close_reason_ = std::move(reason);
  }

  // Starts the writer unless one runs. Called WITHOUT mu_ held: the coroutine may start inline
  // (co_spawn on the strand we are on) and take mu_ itself.
  void StartWriter() {
    {
      std::lock_guard lock(mu_);
      if (writing_ || closed_) return;
      writing_ = true;
    }
    asio::co_spawn(connection_->stream.get_executor(), Writer(shared_from_this()), asio::detached);
  }

  // Drains the queue, then performs a requested close; one at a time (Beast allows one write).
  static asio::awaitable<void> Writer(std::shared_ptr<Socket> self) {
    while (true) {
      std::string next;
      std::optional<websocket::close_reason> close;
      {
        std::lock_guard lock(self->mu_);
        if (self->closed_) break;
        if (self->queue_head_ < self->queue_.size()) {
          next = std::move(self->queue_[self->queue_head_++]);
          // A writer that never quite catches up must not grow the vector by its sent prefix.
          if (self->queue_head_ >= 64 && 2 * self->queue_head_ >= self->queue_.size()) {
            self->queue_.erase(self->queue_.begin(),
                               self->queue_.begin() + static_cast<ptrdiff_t>(self->queue_head_));
            self->queue_head_ = 0;
          }
        } else if (self->close_code_ != 0) {
          close = websocket::close_reason(static_cast<websocket::close_code>(self->close_code_),
                                          self->close_reason_);
          self->close_code_ = 0;
        } else {
          self->ClearQueueLocked();  // drained: give the storage back
          self->writing_ = false;
          co_return;
        }
      }
      if (close) {
        auto [ec] = co_await self->ws_.async_close(*close, kAsTuple);
        (void)ec;
        break;
      }
      self->ws_.text(true);
      auto [ec, n] = co_await self->ws_.async_write(asio::buffer(next), kAsTuple);
      (void)n;
      if (ec) break;
    }
    std::lock_guard lock(self->mu_);
    self->writing_ = false;
  }

  std::shared_ptr<Connection> connection_;
  websocket::stream<beast::tcp_stream&> ws_;
  const std::string remote_;
  const size_t max_queued_;
  mutable std::mutex mu_;
  std::string reason_;  // why it ended; GUARDED_BY(mu_)
  // Messages waiting, from queue_head_ on. A vector (not std::deque, which allocates ~600 bytes
  // even when empty) released whenever the writer drains it.
  std::vector<std::string> queue_;  // GUARDED_BY(mu_)
  size_t queue_head_ = 0;           // GUARDED_BY(mu_)
  bool writing_ = false;            // a Writer runs; GUARDED_BY(mu_)
  bool closing_ = false;            // no more Sends; GUARDED_BY(mu_)
  bool closed_ = false;             // the connection ended; GUARDED_BY(mu_)
  int close_code_ = 0;              // a close to send after the queue; GUARDED_BY(mu_)
  std::string close_reason_;
};

}  // namespace

asio::awaitable<void> RunWebSocket(SessionHub& hub, std::shared_ptr<Connection> connection,
                                   BeastRequest request, std::string remote,
                                   WebSocketCallbacks callbacks) {
  const ServerOptions& options = hub.options();
  auto socket = std::make_shared<Socket>(connection, remote, options.ws_max_queued);
  auto& ws = socket->ws();
  connection->stream.expires_never();  // the websocket's own timeouts take over
  websocket::stream_base::timeout timeout;
  timeout.handshake_timeout = std::chrono::seconds(10);
  // Beast pings once half of the idle timeout has passed without traffic, and closes the
  // connection when the whole of it passes: a ping every ws_ping_interval, closed after two.
  timeout.idle_timeout = 2 * options.ws_ping_interval;
  timeout.keep_alive_pings = true;
  ws.set_option(timeout);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(beast::http::field::server, "imgpipe"); }));
  ws.read_message_max(options.ws_max_message);
  const std::string path(RawPath(request.target()));
  auto [accept_ec] = co_await ws.async_accept(request, kAsTuple);
  request = BeastRequest();  // its headers are not needed while the connection idles
  if (accept_ec) {
    spdlog::info("websocket {}: handshake failed: {}", remote, accept_ec.message());
    co_return;
  }
  // A stopping server closes idle connections at once; an open WebSocket counts as idle (its
  // clients reconnect and resume), so a shutdown never waits the grace period for it.
  connection->idle = true;
  spdlog::info("websocket {}: open {}", remote, path);
  if (callbacks.on_open) callbacks.on_open(socket);
  // Read into a small array in this frame, not a dynamic buffer: Beast sizes a dynamic buffer
  // for the next message before any byte arrives (~1.5 KB per idle connection). Client messages
  // are small; a longer one is assembled here, chunk by chunk, up to read_message_max (Beast
  // closes with 1009 past it).
  std::array<char, kReadChunk> chunk;
  std::string message;
  std::string reason = "server stopping";
  while (!hub.stopping()) {
    auto [ec, n] = co_await ws.async_read_some(asio::buffer(chunk), kAsTuple);
    if (ec) {
      // Beast has already answered an oversized message with close 1009 (message too big).
      if (ec == websocket::error::closed) {
        reason = "closed by the client (" + std::to_string(ws.reason().code) + ")";
      } else if (ec == beast::error::timeout) {
        reason = "no answer to pings";
      } else if (ec == websocket::error::message_too_big) {
        reason = "message too big (1009)";
      } else {
        reason = ec.message();
      }
      if (ec != websocket::error::closed) {
        spdlog::info("websocket {}: closed: {}", remote, ec.message());
      }
      break;
    }
    message.append(chunk.data(), n);
    if (!ws.is_message_done()) continue;
    if (callbacks.on_message) {
      try {
        callbacks.on_message(message, !ws.got_text());
      } catch (const std::exception& e) {
        spdlog::error("websocket {}: message handler threw: {}", remote, e.what());
      }
    }
    message.clear();
    // One large message must not pin its storage for the rest of a long-lived connection.
    if (message.capacity() > kKeptReadBuffer) message.shrink_to_fit();
  }
  socket->MarkClosed(std::move(reason));
  if (callbacks.on_close) callbacks.on_close();
}

}  // namespace imgpipe::http::internal
