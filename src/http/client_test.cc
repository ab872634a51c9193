// The blocking client (client.h) against a real http::Server on 127.0.0.1, and against raw
// sockets that misbehave (garbage, silence).
#include "http/client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

namespace imgpipe::http {
namespace {

using namespace std::chrono_literals;

// A listener on 127.0.0.1 that accepts one connection, reads a little, then writes `reply`
// (nothing when empty) and keeps the connection open until destroyed.
class RawServer {
 public:
  explicit RawServer(std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 4);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      (void)::recv(c, buf, sizeof(buf), 0);
      if (!reply_.empty()) (void)::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
      while (!stop_) std::this_thread::sleep_for(10ms);
      ::close(c);
    });
  }
  ~RawServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/x"; }

 private:
  std::string reply_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_->Add("GET", "/hello", [](Request& r) {
      Response response = Response::Json(200, R"({"hello":"world"})");
      response.SetHeader("X-Host-Seen", std::string(r.Header("host").value_or("")));
      return response;
    });
    router_->Add("POST", "/echo", [](Request& r) {
      return Response::Bytes(201, "text/plain",
                             std::string(r.Header("x-tag").value_or("")) + ":" + r.body);
    });
    router_->Add("GET", "/big", [](Request&) {
      return Response::Bytes(200, "text/plain", std::string(100'000, 'b'));
    });
    // /ws?who=...: refused without `who`; echoes text; "bye" makes the server close.
    router_->AddWebSocket("/ws", [](Request& r) {
      UpgradeDecision d;
      if (!r.Query("who")) {
        d.refuse = ErrorResponse(core::Status::Unauthenticated("who?"));
        return d;
      }
      auto self = std::make_shared<std::shared_ptr<WebSocketConnection>>();
      d.accept.on_open = [self](std::shared_ptr<WebSocketConnection> c) {
        c->Send("welcome");
        *self = std::move(c);
      };
      d.accept.on_message = [self](std::string_view text, bool) {
        if (text == "bye") {
          (*self)->Close(1000, "bye");
        } else {
          (*self)->Send("echo:" + std::string(text));
        }
      };
      d.accept.on_close = [self] { self->reset(); };
      return d;
    });
    ServerOptions options;
    options.port = 0;
    options.threads = 2;
    options.stop_on_signals = false;
    auto server = Server::Start(options, router_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
    ws_ = "ws://127.0.0.1:" + std::to_string(server_->port()) + "/ws";
  }
  void TearDown() override { server_->Stop(); }

  std::shared_ptr<Router> router_ = std::make_shared<Router>();
  std::unique_ptr<Server> server_;
  std::string base_, ws_;
};

TEST_F(ClientTest, GetReturnsStatusHeadersAndBody) {
  auto r = Fetch("GET", base_ + "/hello");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"hello":"world"})");
  EXPECT_EQ(r->Header("Content-Type").value_or(""), "application/json");
  EXPECT_EQ(r->Header("x-host-seen").value_or(""), "127.0.0.1:" + std::to_string(server_->port()));
}

TEST_F(ClientTest, PostSendsBodyAndHeaders) {
  auto r = Fetch("POST", base_ + "/echo", "payload", {{"X-Tag", "t1"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "t1:payload");
}

TEST_F(ClientTest, ErrorStatusIsAResponseNotAnError) {
  auto r = Fetch("GET", base_ + "/nothing-here");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("not_found"), std::string::npos);
}

TEST_F(ClientTest, BodyLargerThanTheLimitIsUnavailable) {
  auto r = Fetch("GET", base_ + "/big", {}, {}, {.body_limit = 1000});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), core::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("larger than"), std::string::npos);
  auto whole = Fetch("GET", base_ + "/big");
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->body.size(), 100'000u);
}

TEST(ClientUrlTest, BadUrlsAreInvalidArgument) {
  for (const char* url : {"", "not a url", "https://example.com/", "ftp://x/", "http://",
                          "http://127.0.0.1:99999/", "ws://127.0.0.1:1/"}) {
    auto r = Fetch("GET", url);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.status().code(), core::StatusCode::kInvalidArgument) << url;
  }
  auto ws = WebSocketClient::Connect("http://127.0.0.1:1/ws", 1s);
  ASSERT_FALSE(ws.ok());
  EXPECT_EQ(ws.status().code(), core::StatusCode::kInvalidArgument);
}

TEST(ClientNetworkTest, ClosedPortIsUnavailable) {
  // A port nobody listens on: bind one, note it, close it.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  auto r = Fetch("GET", "http://127.0.0.1:" + std::to_string(port) + "/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), core::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("cannot connect"), std::string::npos) << r.status().message();
  auto ws = WebSocketClient::Connect("ws://127.0.0.1:" + std::to_string(port) + "/ws", 2s);
  ASSERT_FALSE(ws.ok());
  EXPECT_EQ(ws.status().code(), core::StatusCode::kUnavailable);
}

TEST(ClientNetworkTest, GarbageReplyIsUnavailable) {
  RawServer server("this is not HTTP at all\r\n\r\n");
  auto r = Fetch("GET", server.url(), {}, {}, {.timeout = 5s});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), core::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("no valid HTTP reply"), std::string::npos)
      << r.status().message();
}

TEST(ClientNetworkTest, SilentServerTimesOut) {
  RawServer server("");
  auto r = Fetch("GET", server.url(), {}, {}, {.timeout = 200ms});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), core::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("within 200 ms"), std::string::npos) << r.status().message();
}

TEST_F(ClientTest, WebSocketExchangesTextAndReportsTimeoutAndClose) {
  auto ws = WebSocketClient::Connect(ws_ + "?who=me", 5s);
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  auto first = (*ws)->ReadText(5s);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ(**first, "welcome");

  // Nothing sent: a timeout, and the connection stays usable.
  auto none = (*ws)->ReadText(50ms);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  ASSERT_TRUE((*ws)->SendText("ping me", 5s).ok());
  auto echo = (*ws)->ReadText(5s);
  ASSERT_TRUE(echo.ok() && echo->has_value()) << echo.status().ToString();
  EXPECT_EQ(**echo, "echo:ping me");

  ASSERT_TRUE((*ws)->SendText("bye", 5s).ok());
  auto closed = (*ws)->ReadText(5s);
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.status().code(), core::StatusCode::kUnavailable);
  EXPECT_NE(closed.status().message().find("closed"), std::string::npos)
      << closed.status().message();
  // Still closed on the next call, without waiting.
  EXPECT_FALSE((*ws)->ReadText(5s).ok());
  EXPECT_FALSE((*ws)->SendText("more", 1s).ok());
}

TEST_F(ClientTest, WebSocketRefusedUpgradeNamesTheStatus) {
  auto ws = WebSocketClient::Connect(ws_, 5s);
  ASSERT_FALSE(ws.ok());
  EXPECT_EQ(ws.status().code(), core::StatusCode::kUnavailable);
  EXPECT_NE(ws.status().message().find("401"), std::string::npos) << ws.status().message();
}

TEST_F(ClientTest, WebSocketClientCloseIsClean) {
  auto ws = WebSocketClient::Connect(ws_ + "?who=me", 5s);
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  auto first = (*ws)->ReadText(5s);  // leaves no read pending
  ASSERT_TRUE(first.ok() && first->has_value());
  (void)(*ws)->ReadText(10ms);  // leaves a read pending: Close must still work
  (*ws)->Close(2s);
  EXPECT_FALSE((*ws)->ReadText(1s).ok());
}

}  // namespace
}  // namespace imgpipe::http
