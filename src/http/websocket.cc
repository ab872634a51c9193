// WebSocket connections: the handshake, a read side that waits for readiness with no buffer and
// parses what arrives, and a bounded outgoing queue drained by one write at a time (several
// queued messages go out in one write). Heartbeats come from the hub's sweep (session.cc).
#include "http/websocket.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <mutex>
#include <string>
#include <vector>

#include "http/websocket_frame.h"

namespace imgpipe::http::internal {
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr size_t kReadChunk = 4096;           // on the stack of the reading thread, never kept
constexpr size_t kWriteBatch = 64 << 10;      // bytes of queued messages joined into one write
constexpr int64_t kCloseHandshakeMs = 5'000;  // a peer gets this long to answer our close

class WsConnection;
// The connection whose strand callback this thread is running, if any.
thread_local const WsConnection* tls_running = nullptr;

struct RunningHere {
  explicit RunningHere(const WsConnection* connection) : saved(tls_running) {
    tls_running = connection;
  }
  ~RunningHere() { tls_running = saved; }
  RunningHere(const RunningHere&) = delete;
  RunningHere& operator=(const RunningHere&) = delete;
  const WsConnection* saved;
};

class WsConnection final : public WebSocketConnection,
                           public WebSocketSession,
                           public std::enable_shared_from_this<WsConnection> {
 public:
  WsConnection(std::shared_ptr<SessionHub> hub, tcp::socket socket, std::string remote,
               WebSocketCallbacks callbacks)
      : hub_(std::move(hub)),
        socket_(std::move(socket)),
        remote_(std::move(remote)),
        callbacks_(std::move(callbacks)),
        parser_(hub_->options().ws_max_message),
        max_queued_(hub_->options().ws_max_queued),
        ping_after_ms_(hub_->options().ws_ping_interval.count()) {}

  ~WsConnection() override { hub_->RemoveWebSocket(this); }

  // On the strand. `handshake`: the 101 response; it leaves in one write with what on_open sends.
  void Start(std::string handshake, std::string leftover) {
    RunningHere running(this);
    error_code ec;
    socket_.non_blocking(true, ec);
    last_received_ms_.store(SteadyNowMs());
    if (ec || !hub_->AddWebSocket(this, weak_from_this())) {
      Finish(ec ? ec.message() : "server stopping");
      return;
    }
    spdlog::info("websocket {}: open", remote_);
    {
      std::lock_guard lock(mu_);
      priority_ = std::move(handshake);
      writing_ = true;  // claimed until on_open has queued its messages
    }
    opened_ = true;
    if (auto on_open = std::move(callbacks_.on_open)) on_open(shared_from_this());
    WriteNext();
    if (!leftover.empty() && !Consume(leftover)) return;
    ArmRead();
  }

  bool Send(std::string text) override {
    bool start_writer = false;
    {
      std::lock_guard lock(mu_);
      if (closing_) return false;
      if (queue_.size() - queue_head_ >= max_queued_) {
        const size_t waiting = queue_.size() - queue_head_;
        spdlog::warn("websocket {}: {} messages waiting; disconnecting a client too slow to read",
                     remote_, waiting);
        SetReasonLocked("too slow: " + std::to_string(waiting) + " messages waiting");
        closing_ = true;
        ClearQueueLocked();
        // A close frame would wait behind the blocked write: drop the connection instead. The
        // client resumes when it reconnects.
        PostAbort();
        return false;
      }
      queue_.push_back(std::move(text));
      start_writer = ClaimWriterLocked();
    }
    if (start_writer) StartWrite();
    return true;
  }

  void Close(int code, std::string reason) override {
    bool start_writer;
    {
      std::lock_guard lock(mu_);
      if (closing_) return;
      SetReasonLocked("closed by the server (" + std::to_string(code) + " " + reason + ")");
      RequestCloseLocked(static_cast<uint16_t>(code), reason, /*discard_queue=*/false);
      start_writer = ClaimWriterLocked();
    }
    if (start_writer) StartWrite();
  }

  const std::string& remote() const override { return remote_; }

  std::string CloseReason() const override {
    std::lock_guard lock(mu_);
    return reason_;
  }

  Due Check(int64_t now_ms) const override {
    if (finished_flag_.load(std::memory_order_relaxed) || ping_after_ms_ <= 0) {
      return Due::kNothing;
    }
    const int64_t closing_since = closing_since_ms_.load(std::memory_order_relaxed);
    if (closing_since != 0 && now_ms - closing_since >= kCloseHandshakeMs) return Due::kAbort;
    const int64_t silent = now_ms - last_received_ms_.load(std::memory_order_relaxed);
    if (silent >= 2 * ping_after_ms_) return Due::kAbort;
    if (silent >= ping_after_ms_ && !ping_sent_.load(std::memory_order_relaxed)) {
      return Due::kPing;
    }
    return Due::kNothing;
  }

  void Act(Due due) override {
    if (due == Due::kPing) {
      ping_sent_.store(true, std::memory_order_relaxed);
      bool start_writer;
      {
        std::lock_guard lock(mu_);
        start_writer = QueueControlLocked(Opcode::kPing, "") && ClaimWriterLocked();
      }
      if (start_writer) StartWrite();
    } else if (due == Due::kAbort) {
      const bool handshake = closing_since_ms_.load(std::memory_order_relaxed) != 0;
      Abort(handshake ? "no answer to the close frame" : "no answer to pings");
    }
  }

  void Abort(std::string reason) override {
    {
      std::lock_guard lock(mu_);
      SetReasonLocked(std::move(reason));
      closing_ = true;
      ClearQueueLocked();
    }
    PostAbort();
  }

 private:
  // ---- read side (on the strand) ----

  void ArmRead() {
    socket_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this()](const error_code& ec) { self->OnReadable(ec); });
  }

  void OnReadable(const error_code& wait_ec) {
    RunningHere running(this);
    if (finished_) return;
    if (wait_ec) return Finish(wait_ec.message());
    last_received_ms_.store(SteadyNowMs(), std::memory_order_relaxed);
    ping_sent_.store(false, std::memory_order_relaxed);
    std::array<char, kReadChunk> chunk;
    while (true) {
      error_code ec;
      const size_t n = socket_.read_some(asio::buffer(chunk), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) break;
      if (ec) {
        return Finish(ec == asio::error::eof ? "connection closed by the client without a close"
                                             : ec.message());
      }
      if (!discard_input_ && !Consume(std::string_view(chunk.data(), n))) return;
      if (n < chunk.size()) break;
    }
    parser_.Trim();
    ArmRead();
  }

  // Feeds `bytes` to the parser and acts on what completes; false once the connection finished.
  bool Consume(std::string_view bytes) {
    while (!bytes.empty() && !discard_input_) {
      FrameEvent event;
      bytes.remove_prefix(parser_.Parse(bytes, event));
      switch (event.kind) {
        case FrameEvent::Kind::kNone:
        case FrameEvent::Kind::kPong:
          break;
        case FrameEvent::Kind::kMessage:
          Deliver(event.payload, event.binary);
          break;
        case FrameEvent::Kind::kPing: {
          bool start_writer;
          {
            std::lock_guard lock(mu_);
            start_writer = QueueControlLocked(Opcode::kPong, event.payload) && ClaimWriterLocked();
          }
          if (start_writer) StartWrite();
          break;
        }
        case FrameEvent::Kind::kClose:
          if (!OnPeerClose(event.close_code)) return false;
          break;
        case FrameEvent::Kind::kError:
          OnProtocolError(event.close_code, event.payload);
          break;
      }
    }
    return true;
  }

  void Deliver(std::string_view message, bool binary) {
    if (!callbacks_.on_message) return;
    try {
      callbacks_.on_message(message, binary);
    } catch (const std::exception& e) {
      spdlog::error("websocket {}: message handler threw: {}", remote_, e.what());
    }
  }

  // The client's close frame: echoed (the queue is dropped), or, when it answers ours, the end.
  // False when the connection finished here.
  bool OnPeerClose(uint16_t code) {
    discard_input_ = true;
    bool start_writer = false;
    bool answered_ours;
    {
      std::lock_guard lock(mu_);
      SetReasonLocked("closed by the client (" + std::to_string(code) + ")");
      answered_ours = close_requested_;
      if (!answered_ours) {
        // Echo its code (RFC 6455 5.5.1); 1005 means it sent none, which we may not send back.
        RequestCloseLocked(code == 1005 ? kCloseNormal : code, "", /*discard_queue=*/true);
        start_writer = ClaimWriterLocked();
      }
    }
    if (answered_ours) {
      Finish("");
      return false;
    }
    if (start_writer) StartWrite();
    return true;
  }

  void OnProtocolError(uint16_t code, std::string_view why) {
    discard_input_ = true;
    spdlog::info("websocket {}: closing with {}: {}", remote_, code, why);
    bool start_writer;
    {
      std::lock_guard lock(mu_);
      SetReasonLocked(code == kCloseTooBig ? std::string("message too big (1009)")
                                           : std::to_string(code) + ": " + std::string(why));
      RequestCloseLocked(code, why, /*discard_queue=*/true);
      start_writer = ClaimWriterLocked();
    }
    if (start_writer) StartWrite();
  }

  // The end, once: the socket closes, the hub forgets it, on_close runs.
  void Finish(std::string reason) {
    if (finished_) return;
    finished_ = true;
    finished_flag_.store(true, std::memory_order_relaxed);
    {
      std::lock_guard lock(mu_);
      SetReasonLocked(reason.empty() ? "connection closed" : std::move(reason));
      closing_ = true;
      ClearQueueLocked();
      std::string().swap(priority_);
    }
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    hub_->RemoveWebSocket(this);
    if (opened_ && callbacks_.on_close) callbacks_.on_close();
    callbacks_ = {};  // they may hold what holds this connection
  }

  // ---- write side ----

  // True when the caller must start the writer (none runs). Under mu_.
  bool ClaimWriterLocked() {
    if (writing_ || finished_flag_.load(std::memory_order_relaxed)) return false;
    writing_ = true;
    return true;
  }

  // Runs the claimed writer: at once when called on this connection's strand (from its own
  // callbacks: no hand-off to another thread), else posted to it.
  void StartWrite() {
    if (tls_running == this) return WriteNext();
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->WriteNext(); });
  }

  void PostAbort() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      error_code ec;
      self->socket_.shutdown(tcp::socket::shutdown_both, ec);
      self->socket_.close(ec);  // the pending wait fails: OnReadable finishes
    });
  }

  // A ping or pong goes out before queued messages. False (nothing queued) once closing.
  bool QueueControlLocked(Opcode opcode, std::string_view payload) {
    if (close_requested_ || closing_) return false;
    priority_ += EncodeFrame(opcode, payload);
    return true;
  }

  // No more messages are accepted; the close frame goes after the queue (or at once).
  void RequestCloseLocked(uint16_t code, std::string_view reason, bool discard_queue) {
    closing_ = true;
    if (close_requested_) return;
    close_requested_ = true;
    if (discard_queue) ClearQueueLocked();
    close_frame_ = EncodeFrame(Opcode::kClose, ClosePayload(code, reason));
    closing_since_ms_.store(SteadyNowMs(), std::memory_order_relaxed);
  }

  // On the strand, with writing_ claimed: sends the priority bytes, then up to kWriteBatch bytes
  // of queued messages, then the close frame once the queue is empty; until nothing is left or
  // the socket is full. Each write is tried at once (the socket is non-blocking): one that fits
  // in the socket's buffer ends here, with no completion handed through the io_context (which
  // would wake another thread); only what does not fit waits for the reactor.
  void WriteNext() {
    while (ComposeNext()) {
      error_code ec;
      const size_t n = socket_.write_some(asio::buffer(out_), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again ||
          (!ec && n < out_.size())) {
        const size_t sent = ec ? 0 : n;
        asio::async_write(
            socket_, asio::buffer(out_.data() + sent, out_.size() - sent),
            [self = shared_from_this()](const error_code& e, size_t) { self->OnWritten(e); });
        return;
      }
      if (!AfterWrite(ec)) return;
    }
  }

  // Fills out_ with what goes next; false (the writer stops) when there is nothing.
  bool ComposeNext() {
    std::lock_guard lock(mu_);
    out_.clear();
    if (finished_) {
      writing_ = false;
      return false;
    }
    if (!priority_.empty()) out_.swap(priority_);
    while (queue_head_ < queue_.size() && out_.size() < kWriteBatch) {
      const std::string& message = queue_[queue_head_];
      std::array<char, 10> header;
      out_.append(header.data(), EncodeFrameHeader(Opcode::kText, message.size(), header));
      out_.append(message);
      ++queue_head_;
    }
    if (queue_head_ == queue_.size()) {
      ClearQueueLocked();
    } else if (queue_head_ >= 64 && 2 * queue_head_ >= queue_.size()) {
      // A writer that never quite catches up must not grow the vector by its sent prefix.
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(queue_head_));
      queue_head_ = 0;
    }
    if (out_.empty() && !close_frame_.empty()) {
      out_.swap(close_frame_);
      close_written_ = true;
    }
    if (out_.empty()) {
      std::string().swap(out_);  // drained: an idle connection keeps no buffer
      writing_ = false;
      return false;
    }
    return true;
  }

  void OnWritten(const error_code& ec) {
    RunningHere running(this);
    if (AfterWrite(ec)) WriteNext();
  }

  // A write of out_ ended with `ec`; true when the writer goes on.
  bool AfterWrite(const error_code& ec) {
    std::lock_guard lock(mu_);
    if (!ec && !close_written_) return true;
    // Failed, or that was the close frame: nothing more to write.
    writing_ = false;
    std::string().swap(out_);
    // After answering the client's close (or failing it for a protocol error) the server closes
    // the TCP connection first (RFC 6455 7.1.1); after a close of our own, the client's
    // answering close frame (OnPeerClose) or the sweep's timeout ends it. Closing the socket
    // fails the pending wait, and the read side finishes (never from inside a callback that
    // may be sending).
    if (ec || discard_input_) {
      error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_both, ignored);
      socket_.close(ignored);
    }
    return false;
  }

  void SetReasonLocked(std::string reason) {
    if (reason_.empty()) reason_ = std::move(reason);
  }

  // Frees the queue's storage too: an idle connection holds no buffer.
  void ClearQueueLocked() {
    std::vector<std::string>().swap(queue_);
    queue_head_ = 0;
  }

  const std::shared_ptr<SessionHub> hub_;
  tcp::socket socket_;
  const std::string remote_;
  WebSocketCallbacks callbacks_;  // strand only
  FrameParser parser_;            // strand only
  const size_t max_queued_;
  const int64_t ping_after_ms_;
  bool opened_ = false;         // on_open ran; strand only
  bool finished_ = false;       // strand only
  bool discard_input_ = false;  // a close was received or a protocol error seen; strand only
  std::atomic<bool> finished_flag_{false};  // finished_, for other threads
  std::atomic<int64_t> last_received_ms_{0};
  std::atomic<bool> ping_sent_{false};        // since the last bytes received
  std::atomic<int64_t> closing_since_ms_{0};  // when the close handshake began; 0 before

  mutable std::mutex mu_;
  std::string reason_;  // why it ended; GUARDED_BY(mu_)
  // Messages waiting, from queue_head_ on. A vector (not std::deque, which allocates ~600 bytes
  // even when empty) released whenever the writer drains it.
  std::vector<std::string> queue_;  // GUARDED_BY(mu_)
  size_t queue_head_ = 0;           // GUARDED_BY(mu_)
  // Bytes sent before queued messages: the handshake's response, then pings and pongs (encoded).
  std::string priority_;          // GUARDED_BY(mu_)
  std::string close_frame_;       // encoded, sent after the queue; GUARDED_BY(mu_)
  std::string out_;               // the write in flight; GUARDED_BY(mu_) between writes
  bool writing_ = false;          // a write is in flight or posted; GUARDED_BY(mu_)
  bool closing_ = false;          // no more Sends; GUARDED_BY(mu_)
  bool close_requested_ = false;  // a close frame is queued or sent; GUARDED_BY(mu_)
  bool close_written_ = false;    // GUARDED_BY(mu_)
};

}  // namespace

std::optional<Response> CheckWebSocketHandshake(const BeastRequest& request) {
  if (request[bhttp::field::sec_websocket_version] != "13") {
    Response response = ErrorResponse(core::Status::InvalidArgument(
        "this server speaks WebSocket version 13 (Sec-WebSocket-Version)"));
    response.status = 426;
    response.SetHeader("Sec-WebSocket-Version", "13");
    return response;
  }
  if (!IsValidWebSocketKey(request[bhttp::field::sec_websocket_key])) {
    return ErrorResponse(core::Status::InvalidArgument(
        "Sec-WebSocket-Key must be 16 random bytes in base64 (RFC 6455 4.1)"));
  }
  return std::nullopt;
}

std::string WebSocketHandshakeResponse(std::string_view key) {
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " +
         WebSocketAccept(key) + "\r\nServer: imgpipe\r\n\r\n";
}

void StartWebSocket(std::shared_ptr<SessionHub> hub, tcp::socket socket, std::string remote,
                    std::string_view key, std::string leftover, WebSocketCallbacks callbacks) {
  auto connection = std::make_shared<WsConnection>(std::move(hub), std::move(socket),
                                                   std::move(remote), std::move(callbacks));
  connection->Start(WebSocketHandshakeResponse(key), std::move(leftover));
}

}  // namespace imgpipe::http::internal
