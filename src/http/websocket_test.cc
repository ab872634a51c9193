// WebSocket endpoints over real sockets on 127.0.0.1, with a tiny blocking RFC 6455 client:
// refusal before the upgrade, messages both ways, the size limit (1009), and a client too slow to
// read cut off (1008 / closed) while another connection keeps flowing.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "http/http.h"

namespace imgpipe::http {
namespace {

using namespace std::chrono_literals;

class WsClient {
 public:
  // `receive_buffer` > 0 shrinks the socket's receive buffer (a slow reader fills up sooner).
  WsClient(uint16_t port, const std::string& target, int receive_buffer = 0) {
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
          " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return;
    }
    status_ = std::stoi(buffer_.substr(9, 3));
    buffer_.erase(0, end + 4);
  }
  ~WsClient() { ::close(fd_); }
  int status() const { return status_; }

  // A masked frame (clients must mask), FIN set.
  void SendFrame(const std::string& payload, uint8_t opcode = 0x1) {
    std::string frame(1, static_cast<char>(0x80 | opcode));
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
    const char mask[4] = {0x12, 0x34, 0x56, 0x78};
    frame.append(mask, 4);
    for (size_t i = 0; i < n; ++i) frame += static_cast<char>(payload[i] ^ mask[i % 4]);
    Write(frame);
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

 private:
  void Write(const std::string& data) {
    for (size_t sent = 0; sent < data.size();) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }
  bool Need(size_t n) {
    while (buffer_.size() < n) {
      if (!Fill()) return false;
    }
    return true;
  }
  bool Fill() {
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  int status_ = 0;
  std::string buffer_;
};

int CloseCode(const std::string& payload) {
  if (payload.size() < 2) return 0;
  return (static_cast<uint8_t>(payload[0]) << 8) | static_cast<uint8_t>(payload[1]);
}

class WebSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // /ws?who=...: refused unless who is given; echoes text; "flood" starts a sender that
    // queues 4 KiB messages until Send refuses one.
    router_->AddWebSocket("/ws", [this](Request& r) {
      UpgradeDecision d;
      if (!r.Query("who")) {
        d.refuse = ErrorResponse(core::Status::Unauthenticated("who?"));
        return d;
      }
      auto self = std::make_shared<std::shared_ptr<WebSocketConnection>>();
      d.accept.on_open = [self](std::shared_ptr<WebSocketConnection> c) { *self = std::move(c); };
      d.accept.on_message = [this, self](std::string_view text, bool binary) {
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
    auto server = Server::Start(options, router_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }
  void TearDown() override {
    server_->Stop();
    if (flooder_.joinable()) flooder_.join();
  }

  std::shared_ptr<Router> router_ = std::make_shared<Router>();
  std::unique_ptr<Server> server_;
  std::thread flooder_;
  std::atomic<int> refused_at_{-1};
  std::atomic<int> closed_{0};
};

TEST_F(WebSocketTest, RefusedUpgradeOpensNoSocket) {
  WsClient client(server_->port(), "/ws");
  EXPECT_EQ(client.status(), 401);
  EXPECT_EQ(closed_.load(), 0);
}

TEST_F(WebSocketTest, MessagesBothWays) {
  WsClient client(server_->port(), "/ws?who=a");
  ASSERT_EQ(client.status(), 101);
  client.SendFrame("hello");
  EXPECT_EQ(client.ReadFrame(), std::make_pair(1, std::string("text:hello")));
  client.SendFrame(std::string("\x01\x02", 2), 0x2);
  EXPECT_EQ(client.ReadFrame().second, std::string("binary:\x01\x02", 9));
}

// Messages longer than the server's read chunk arrive whole, and messages sent back to back
// stay apart.
TEST_F(WebSocketTest, LongAndBackToBackMessagesArriveWhole) {
  WsClient client(server_->port(), "/ws?who=a");
  ASSERT_EQ(client.status(), 101);
  std::string long_message(1000, 'z');
  for (size_t i = 0; i < long_message.size(); i += 97) long_message[i] = 'q';
  client.SendFrame(long_message);
  client.SendFrame("second");
  client.SendFrame(std::string(300, 'w'));
  EXPECT_EQ(client.ReadFrame().second, "text:" + long_message);
  EXPECT_EQ(client.ReadFrame().second, "text:second");
  EXPECT_EQ(client.ReadFrame().second, "text:" + std::string(300, 'w'));
}

TEST_F(WebSocketTest, OversizeMessageClosesWith1009) {
  WsClient client(server_->port(), "/ws?who=a");
  ASSERT_EQ(client.status(), 101);
  client.SendFrame(std::string(2000, 'y'));
  auto [opcode, payload] = client.ReadFrame();
  EXPECT_EQ(opcode, 0x8);  // close
  EXPECT_EQ(CloseCode(payload), 1009);
}

TEST_F(WebSocketTest, SlowReaderIsCutOffWhileOthersFlow) {
  WsClient slow(server_->port(), "/ws?who=slow", /*receive_buffer=*/4096);
  ASSERT_EQ(slow.status(), 101);
  WsClient fast(server_->port(), "/ws?who=fast");
  ASSERT_EQ(fast.status(), 101);
  slow.SendFrame("flood");  // and never read
  for (int i = 0; i < 1000 && refused_at_ < 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_GE(refused_at_.load(), 64);  // the bounded queue filled, then Send refused
  for (int i = 0; i < 1000 && closed_ == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(closed_.load(), 1);  // and the slow connection was dropped
  fast.SendFrame("still there?");
  EXPECT_EQ(fast.ReadFrame().second, "text:still there?");
}

}  // namespace
}  // namespace imgpipe::http
