// Test-only: a tiny blocking RFC 6455 client over a real socket on 127.0.0.1, for the http
// module's WebSocket tests.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "http/http.h"

namespace imgpipe::http::wstest {

// A client frame: `first` is its first byte as given (FIN, RSV bits, opcode), then the length
// in its shortest form, the mask and the masked payload.
inline std::string MaskedClientFrame(uint8_t first, const std::string& payload,
                                     std::array<uint8_t, 4> mask = {0x12, 0x34, 0x56, 0x78}) {
  std::string frame(1, static_cast<char>(first));
  const uint64_t n = payload.size();
  if (n < 126) {
    frame += static_cast<char>(0x80 | n);
  } else if (n < 65536) {
    frame += static_cast<char>(0x80 | 126);
    frame += static_cast<char>(n >> 8);
    frame += static_cast<char>(n & 0xff);
  } else {
    frame += static_cast<char>(0x80 | 127);
    for (int i = 7; i >= 0; --i) frame += static_cast<char>((n >> (8 * i)) & 0xff);
  }
  frame.append(reinterpret_cast<const char*>(mask.data()), 4);
  for (size_t i = 0; i < n; ++i) frame += static_cast<char>(payload[i] ^ mask[i % 4]);
  return frame;
}

class WsClient {
 public:
  // `receive_buffer` > 0 shrinks the socket's receive buffer (a slow reader fills up sooner).
  // `handshake_headers` replace the standard Sec-WebSocket-Key and -Version lines; `after`
  // goes out in the same write as the request.
  WsClient(uint16_t port, const std::string& target, int receive_buffer = 0,
           std::string handshake_headers = kStandardHeaders, const std::string& after = "") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return;
    Write("GET " + target +
          " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          handshake_headers + "\r\n" + after);
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return;
    }
    status_ = std::stoi(buffer_.substr(9, 3));
    head_ = buffer_.substr(0, end + 4);
    buffer_.erase(0, end + 4);
  }
  static constexpr const char* kStandardHeaders =
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
  ~WsClient() { ::close(fd_); }
  int status() const { return status_; }
  // The response's status line and headers.
  const std::string& head() const { return head_; }
  // Whether the server closed the connection (a read returned 0), as opposed to a read timeout.
  bool ended() const { return ended_; }

  // A masked frame (clients must mask), FIN set unless `fin` is false.
  void SendFrame(const std::string& payload, uint8_t opcode = 0x1, bool fin = true) {
    Write(MaskedFrame(payload, opcode, fin));
  }
  static std::string MaskedFrame(const std::string& payload, uint8_t opcode = 0x1,
                                 bool fin = true) {
    return MaskedClientFrame(static_cast<uint8_t>((fin ? 0x80 : 0) | opcode), payload);
  }

  // The next frame from the server: {opcode, payload}; opcode -1 when the connection ended.
  std::pair<int, std::string> ReadFrame() {
    if (!Need(2)) return {-1, ""};
    const int opcode = buffer_[0] & 0x0f;
    uint64_t n = static_cast<uint8_t>(buffer_[1]) & 0x7f;
    size_t header = 2;
    if (n == 126 || n == 127) {
      const size_t bytes = n == 126 ? 2 : 8;
      if (!Need(2 + bytes)) return {-1, ""};
      n = 0;
      for (size_t i = 0; i < bytes; ++i) n = (n << 8) | static_cast<uint8_t>(buffer_[2 + i]);
      header += bytes;
    }
    if (!Need(header + n)) return {-1, ""};
    std::string payload = buffer_.substr(header, n);
    buffer_.erase(0, header + n);
    return {opcode, payload};
  }

  void Write(const std::string& data) {
    for (size_t sent = 0; sent < data.size();) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

 private:
  bool Need(size_t n) {
    while (buffer_.size() < n) {
      if (!Fill()) return false;
    }
    return true;
  }
  bool Fill() {
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n == 0) ended_ = true;
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  int status_ = 0;
  bool ended_ = false;
  std::string head_;
  std::string buffer_;
};

inline int CloseCode(const std::string& payload) {
  if (payload.size() < 2) return 0;
  return (static_cast<uint8_t>(payload[0]) << 8) | static_cast<uint8_t>(payload[1]);
}

// A server with one endpoint, /ws?who=...: refused unless who is given; echoes messages; "flood"
// starts a sender that queues 4 KiB messages until Send refuses one; "bye" sends "last one",
// then closes with 4000.
class WebSocketTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(std::chrono::seconds(30)); }

  void StartServer(std::chrono::milliseconds ping_interval) {
    if (server_) server_->Stop();
    router_ = std::make_shared<Router>();
    router_->AddWebSocket("/ws", [this](Request& r) {
      UpgradeDecision d;
      if (!r.Query("who")) {
        d.refuse = ErrorResponse(core::Status::Unauthenticated("who?"));
        return d;
      }
      auto self = std::make_shared<std::shared_ptr<WebSocketConnection>>();
      d.accept.on_open = [self](std::shared_ptr<WebSocketConnection> c) { *self = std::move(c); };
      d.accept.on_message = [this, self](std::string_view text, bool binary) {
        if (text == "bye") {
          (*self)->Send("last one");
          (*self)->Close(4000, "bye");
          return;
        }
        if (text == "flood") {
          flooder_ = std::thread([this, c = *self] {
            const std::string big(4096, 'x');
            for (int i = 0; i < 200'000; ++i) {
              if (!c->Send(big)) {
                refused_at_ = i;
                return;
              }
            }
          });
          return;
        }
        (*self)->Send(std::string(binary ? "binary:" : "text:") + std::string(text));
      };
      d.accept.on_close = [this, self] {
        ++closed_;
        self->reset();
      };
      return d;
    });
    ServerOptions options;
    options.port = 0;
    options.threads = 2;
    options.stop_on_signals = false;
    options.ws_max_message = 1024;
    options.ws_max_queued = 64;
    options.ws_ping_interval = ping_interval;
    auto server = Server::Start(options, router_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }
  void TearDown() override {
    server_->Stop();
    if (flooder_.joinable()) flooder_.join();
  }

  std::shared_ptr<Router> router_;
  std::unique_ptr<Server> server_;
  std::thread flooder_;
  std::atomic<int> refused_at_{-1};
  std::atomic<int> closed_{0};
};

}  // namespace imgpipe::http::wstest
