// ParseClientMessage: the WebSocket client messages and the errors the client gets back.
#include "push/client_message.h"

#include <gtest/gtest.h>

#include <string>

namespace imgpipe::push {
namespace {

using core::StatusCode;

TEST(ClientMessageTest, PingAndResume) {
  auto ping = ParseClientMessage(R"({"action":"ping"})", false);
  ASSERT_TRUE(ping.ok()) << ping.status().ToString();
  EXPECT_EQ(ping->action, ClientMessage::Action::kPing);

  auto resume = ParseClientMessage(R"({"action":"resume","last_seq":41,"extra":[1]})", false);
  ASSERT_TRUE(resume.ok()) << resume.status().ToString();
  EXPECT_EQ(resume->action, ClientMessage::Action::kResume);
  EXPECT_EQ(resume->last_seq, 41);

  auto zero = ParseClientMessage(R"({"action":"resume","last_seq":0})", false);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->last_seq, 0);
}

TEST(ClientMessageTest, ErrorsCarryTheClientFacingText) {
  struct Case {
    std::string text;
    bool binary;
    std::string message;
  };
  const Case cases[] = {
      {R"({"action":"ping"})", true, "messages are JSON text"},
      {"not json", false, R"(expected {"action": "ping" | "resume"})"},
      {R"(["action","ping"])", false, R"(expected {"action": "ping" | "resume"})"},
      {R"({"action":1})", false, R"(expected {"action": "ping" | "resume"})"},
      {"", false, R"(expected {"action": "ping" | "resume"})"},
      {R"({"action":"resume"})", false, "resume needs last_seq, an integer >= 0"},
      {R"({"action":"resume","last_seq":-1})", false, "resume needs last_seq, an integer >= 0"},
      {R"({"action":"resume","last_seq":1.5})", false, "resume needs last_seq, an integer >= 0"},
      {R"({"action":"resume","last_seq":"3"})", false, "resume needs last_seq, an integer >= 0"},
      {R"({"action":"resume","last_seq":18446744073709551615})", false,
       "resume needs last_seq, an integer >= 0"},
      {R"({"action":"subscribe"})", false, "unknown action"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseClientMessage(c.text, c.binary);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << c.text;
    EXPECT_EQ(parsed.status().message(), c.message) << c.text;
  }
}

TEST(ClientMessageTest, DeepNestingIsRefusedNotRecursedInto) {
  std::string deep = R"({"action":"ping","x":)" + std::string(100000, '[') + "]}";
  auto parsed = ParseClientMessage(deep, false);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace imgpipe::push
