// WebSocket endpoints over real sockets on 127.0.0.1, with a tiny blocking RFC 6455 client:
// refusal before the upgrade, messages both ways, the size limit (1009), and a client too slow to
// read cut off (1008 / closed) while another connection keeps flowing.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "http/websocket_test_client.h"

namespace imgpipe::http {
namespace {

using namespace std::chrono_literals;
using wstest::CloseCode;
using wstest::WebSocketTest;
using wstest::WsClient;

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
