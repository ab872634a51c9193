// The WebSocket protocol details over real sockets: the handshake's answers and refusals, pings
// both ways, the server's heartbeats, close handshakes from either side, fragmentation, and the
// protocol errors a client can make (1002, 1007).
#include <gtest/gtest.h>

#include <future>
#include <string>
#include <thread>

#include "http/websocket_test_client.h"

namespace imgpipe::http {
namespace {

using namespace std::chrono_literals;
using wstest::CloseCode;
using wstest::WebSocketTest;
using wstest::WsClient;

constexpr uint8_t kText = 0x1, kContinuation = 0x0, kClose = 0x8, kPing = 0x9, kPong = 0xa;

std::string CloseFrame(int code) {
  return {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
}

void WaitFor(const std::atomic<int>& counter, int value) {
  for (int i = 0; i < 1000 && counter.load() < value; ++i) std::this_thread::sleep_for(10ms);
}

TEST_F(WebSocketTest, HandshakeAnswersTheRfcAcceptKey) {
  WsClient client(server_->port(), "/ws?who=a");
  ASSERT_EQ(client.status(), 101);
  EXPECT_NE(client.head().find("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            std::string::npos)
      << client.head();
  EXPECT_NE(client.head().find("\r\nUpgrade: websocket\r\n"), std::string::npos);
}

TEST_F(WebSocketTest, WrongVersionIs426AndBadKeyIs400BeforeTheHandler) {
  WsClient old_version(
      server_->port(), "/ws?who=a", 0,
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n");
  EXPECT_EQ(old_version.status(), 426);
  EXPECT_NE(old_version.head().find("Sec-WebSocket-Version: 13"), std::string::npos);
  WsClient no_key(server_->port(), "/ws?who=a", 0, "Sec-WebSocket-Version: 13\r\n");
  EXPECT_EQ(no_key.status(), 400);
  WsClient short_key(server_->port(), "/ws?who=a", 0,
                     "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n");
  EXPECT_EQ(short_key.status(), 400);
  EXPECT_EQ(closed_.load(), 0);
}

TEST_F(WebSocketTest, AFrameSentWithTheHandshakeIsNotLost) {
  // The client's first frame in the same write as its request (it may not wait for the 101).
  WsClient client(server_->port(), "/ws?who=a", 0, WsClient::kStandardHeaders,
                  WsClient::MaskedFrame("early"));
  ASSERT_EQ(client.status(), 101);
  EXPECT_EQ(client.ReadFrame(), std::make_pair(int{kText}, std::string("text:early")));
}

TEST_F(WebSocketTest, ClientPingIsAnsweredWithItsPayload) {
  WsClient client(server_->port(), "/ws?who=a");
  ASSERT_EQ(client.status(), 101);
  client.SendFrame("are you there", kPing);
  EXPECT_EQ(client.ReadFrame(), std::make_pair(int{kPong}, std::string("are you there")));
}

TEST_F(WebSocketTest, FragmentedMessageArrivesWhole) {
  WsClient client(server_->port(), "/ws?who=a");
  ASSERT_EQ(client.status(), 101);
  client.SendFrame("frag", kText, /*fin=*/false);
  client.SendFrame("ping in between", kPing);
  client.SendFrame("men", kContinuation, /*fin=*/false);
  client.SendFrame("ted", kContinuation, /*fin=*/true);
  EXPECT_EQ(client.ReadFrame(), std::make_pair(int{kPong}, std::string("ping in between")));
  EXPECT_EQ(client.ReadFrame(), std::make_pair(int{kText}, std::string("text:fragmented")));
}

TEST_F(WebSocketTest, ClientCloseIsEchoedThenTheServerEndsTheConnection) {
  WsClient client(server_->port(), "/ws?who=a");
  ASSERT_EQ(client.status(), 101);
  client.SendFrame(CloseFrame(1001) + "leaving", kClose);
  auto [opcode, payload] = client.ReadFrame();
  EXPECT_EQ(opcode, kClose);
  EXPECT_EQ(CloseCode(payload), 1001);
  EXPECT_EQ(client.ReadFrame().first, -1);
  EXPECT_TRUE(client.ended());
  WaitFor(closed_, 1);
  EXPECT_EQ(closed_.load(), 1);
}

TEST_F(WebSocketTest, ServerCloseComesAfterQueuedMessagesAndWaitsForTheAnswer) {
  WsClient client(server_->port(), "/ws?who=a");
  ASSERT_EQ(client.status(), 101);
  client.SendFrame("bye");
  EXPECT_EQ(client.ReadFrame(), std::make_pair(int{kText}, std::string("last one")));
  auto [opcode, payload] = client.ReadFrame();
  EXPECT_EQ(opcode, kClose);
  EXPECT_EQ(CloseCode(payload), 4000);
  EXPECT_EQ(payload.substr(2), "bye");
  EXPECT_EQ(closed_.load(), 0);  // the handshake is not over until the client answers
  client.SendFrame(CloseFrame(4000), kClose);
  EXPECT_EQ(client.ReadFrame().first, -1);
  EXPECT_TRUE(client.ended());
  WaitFor(closed_, 1);
  EXPECT_EQ(closed_.load(), 1);
}

TEST_F(WebSocketTest, ProtocolErrorsCloseWithTheirCodes) {
  struct Case {
    const char* name;
    std::string raw;  // sent as is
    int code;
  };
  const std::string unmasked("\x81\x02hi", 4);
  // A masked text frame whose payload (mask all zero) is not UTF-8.
  const std::string bad_utf8("\x81\x82\x00\x00\x00\x00\xc3\x28", 8);
  // RSV1 set, masked, empty.
  const std::string rsv("\xc1\x80\x00\x00\x00\x00", 6);
  for (const Case& c : {Case{"unmasked", unmasked, 1002}, Case{"not UTF-8", bad_utf8, 1007},
                        Case{"reserved bit", rsv, 1002}}) {
    WsClient client(server_->port(), "/ws?who=a");
    ASSERT_EQ(client.status(), 101) << c.name;
    client.Write(c.raw);
    auto [opcode, payload] = client.ReadFrame();
    EXPECT_EQ(opcode, kClose) << c.name;
    EXPECT_EQ(CloseCode(payload), c.code) << c.name;
    EXPECT_EQ(client.ReadFrame().first, -1) << c.name;  // and the server ends it
    EXPECT_TRUE(client.ended()) << c.name;
  }
  WaitFor(closed_, 3);
  EXPECT_EQ(closed_.load(), 3);
}

TEST_F(WebSocketTest, SilentClientIsPingedThenDropped) {
  StartServer(200ms);
  WsClient client(server_->port(), "/ws?who=a");
  ASSERT_EQ(client.status(), 101);
  EXPECT_EQ(client.ReadFrame().first, kPing);  // after ~200 ms of silence
  // Never answered: dropped after twice the interval.
  EXPECT_EQ(client.ReadFrame().first, -1);
  EXPECT_TRUE(client.ended());
  WaitFor(closed_, 1);
  EXPECT_EQ(closed_.load(), 1);
}

TEST_F(WebSocketTest, ClientAnsweringPingsStaysOpen) {
  StartServer(200ms);
  WsClient client(server_->port(), "/ws?who=a");
  ASSERT_EQ(client.status(), 101);
  for (int pings = 0; pings < 4; ++pings) {  // ~4 intervals, past the 2-interval cut-off
    auto [opcode, payload] = client.ReadFrame();
    ASSERT_EQ(opcode, kPing) << "ping " << pings;
    client.SendFrame(payload, kPong);
  }
  client.SendFrame("still here");
  EXPECT_EQ(client.ReadFrame(), std::make_pair(int{kText}, std::string("text:still here")));
  EXPECT_EQ(closed_.load(), 0);
}

TEST_F(WebSocketTest, StoppingServerClosesOpenWebSockets) {
  WsClient client(server_->port(), "/ws?who=a");
  ASSERT_EQ(client.status(), 101);
  server_->Stop();
  EXPECT_EQ(client.ReadFrame().first, -1);
  EXPECT_TRUE(client.ended());
  EXPECT_EQ(closed_.load(), 1);
}

// A blocking route's upgrade handler and callbacks run on the handler pool, in order: while its
// on_message holds the only handler thread, the only I/O thread still serves another route's
// WebSocket; once released, the held connection's messages are answered in order, and on_close
// runs when the server stops.
TEST(WebSocketRouteTest, BlockingRoutesRunOnTheHandlerPoolInOrder) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> holding;
  std::atomic<int> closed{0};
  auto router = std::make_shared<Router>();
  auto echo_route = [&](bool hold) {
    return [&, hold](Request&) {
      UpgradeDecision d;
      auto self = std::make_shared<std::shared_ptr<WebSocketConnection>>();
      d.accept.on_open = [self](std::shared_ptr<WebSocketConnection> c) { *self = std::move(c); };
      d.accept.on_message = [&, self, hold](std::string_view text, bool) {
        if (hold && text == "hold") {
          holding.set_value();
          released.wait();
        }
        (*self)->Send("echo:" + std::string(text));
      };
      d.accept.on_close = [&, self] {
        ++closed;
        self->reset();
      };
      return d;
    };
  };
  router->AddWebSocket("/held", echo_route(true), /*blocking=*/true);
  router->AddWebSocket("/quick", echo_route(false));
  ServerOptions options;
  options.port = 0;
  options.threads = 1;
  options.io_threads = 1;
  options.stop_on_signals = false;
  auto server = Server::Start(options, router);
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  WsClient held((*server)->port(), "/held");
  ASSERT_EQ(held.status(), 101);
  held.SendFrame("hold");
  held.SendFrame("second");
  holding.get_future().wait();  // the handler thread is now held

  WsClient quick((*server)->port(), "/quick");
  ASSERT_EQ(quick.status(), 101);
  quick.SendFrame("hi");
  EXPECT_EQ(quick.ReadFrame(), std::make_pair(int{kText}, std::string("echo:hi")));

  release.set_value();
  EXPECT_EQ(held.ReadFrame(), std::make_pair(int{kText}, std::string("echo:hold")));
  EXPECT_EQ(held.ReadFrame(), std::make_pair(int{kText}, std::string("echo:second")));
  (*server)->Stop();
  EXPECT_EQ(closed.load(), 2);
}

}  // namespace
}  // namespace imgpipe::http
