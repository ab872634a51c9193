// The RFC 6455 codec on its own: the RFC's own examples, fragmentation, every protocol error a
// client can make, UTF-8, and bytes arriving one at a time.
#include "http/websocket_frame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/websocket_test_client.h"

namespace imgpipe::http::internal {
namespace {

using Kind = FrameEvent::Kind;

std::string ClientFrame(uint8_t first, const std::string& payload) {
  return wstest::MaskedClientFrame(first, payload, {0x37, 0xfa, 0x21, 0x3d});
}

struct Seen {
  Kind kind;
  std::string payload;
  bool binary = false;
  uint16_t code = 0;
};

// Feeds `bytes` in pieces of `step` bytes (0: all at once) and collects the events.
std::vector<Seen> ParseAll(FrameParser& parser, const std::string& bytes, size_t step = 0) {
  std::vector<Seen> seen;
  size_t at = 0;
  while (at < bytes.size()) {
    const size_t piece = step == 0 ? bytes.size() - at : std::min(step, bytes.size() - at);
    std::string_view rest(bytes.data() + at, piece);
    while (!rest.empty()) {
      FrameEvent event;
      const size_t used = parser.Parse(rest, event);
      rest.remove_prefix(used);
      if (event.kind != Kind::kNone) {
        seen.push_back({event.kind, std::string(event.payload), event.binary, event.close_code});
        if (event.kind == Kind::kError || event.kind == Kind::kClose) return seen;
      } else {
        EXPECT_TRUE(rest.empty());
      }
    }
    at += piece;
  }
  return seen;
}

TEST(WebSocketFrame, Rfc6455MaskedHello) {
  // RFC 6455 5.7: a single-frame masked text message "Hello".
  const std::string bytes("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  FrameParser parser(1024);
  auto seen = ParseAll(parser, bytes);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, Kind::kMessage);
  EXPECT_EQ(seen[0].payload, "Hello");
  EXPECT_FALSE(seen[0].binary);
}

TEST(WebSocketFrame, ServerHeadersMatchTheRfcExamples) {
  // RFC 6455 5.7: unmasked "Hello" is 0x81 0x05; 256 bytes binary is 0x82 0x7E 0x0100; 64 KiB
  // binary is 0x82 0x7F 0x0000000000010000.
  EXPECT_EQ(EncodeFrame(Opcode::kText, "Hello"), std::string("\x81\x05Hello", 7));
  std::array<char, 10> header;
  ASSERT_EQ(EncodeFrameHeader(Opcode::kBinary, 256, header), 4u);
  EXPECT_EQ(std::string(header.data(), 4), std::string("\x82\x7e\x01\x00", 4));
  ASSERT_EQ(EncodeFrameHeader(Opcode::kBinary, 65536, header), 10u);
  EXPECT_EQ(std::string(header.data(), 10), std::string("\x82\x7f\0\0\0\0\0\x01\0\0", 10));
  ASSERT_EQ(EncodeFrameHeader(Opcode::kText, 125, header), 2u);
  EXPECT_EQ(static_cast<uint8_t>(header[1]), 125);
}

TEST(WebSocketFrame, FragmentsWithAPingBetweenArriveAsOneMessageByteByByte) {
  const std::string bytes = ClientFrame(0x01, "Hel") + ClientFrame(0x89, "are you there") +
                            ClientFrame(0x00, "lo, ") + ClientFrame(0x80, "world");
  for (size_t step : {size_t{0}, size_t{1}, size_t{3}, size_t{7}}) {
    FrameParser parser(1024);
    auto seen = ParseAll(parser, bytes, step);
    ASSERT_EQ(seen.size(), 2u) << "step " << step;
    EXPECT_EQ(seen[0].kind, Kind::kPing);
    EXPECT_EQ(seen[0].payload, "are you there");
    EXPECT_EQ(seen[1].kind, Kind::kMessage);
    EXPECT_EQ(seen[1].payload, "Hello, world");
  }
}

TEST(WebSocketFrame, LongBinaryMessagesUseExtendedLengths) {
  for (size_t n : {size_t{125}, size_t{126}, size_t{65535}, size_t{65536}, size_t{200'000}}) {
    std::string payload(n, '\0');
    for (size_t i = 0; i < n; ++i) payload[i] = static_cast<char>(i * 7);
    FrameParser parser(1 << 20);
    auto seen = ParseAll(parser, ClientFrame(0x82, payload), 1000);
    ASSERT_EQ(seen.size(), 1u) << n;
    EXPECT_TRUE(seen[0].binary);
    EXPECT_EQ(seen[0].payload, payload);
  }
}

TEST(WebSocketFrame, CloseFrames) {
  FrameParser empty(64);
  auto seen = ParseAll(empty, ClientFrame(0x88, ""));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, Kind::kClose);
  EXPECT_EQ(seen[0].code, 1005);

  FrameParser with_reason(64);
  seen = ParseAll(with_reason, ClientFrame(0x88, ClosePayload(1001, "bye")));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, Kind::kClose);
  EXPECT_EQ(seen[0].code, 1001);
  EXPECT_EQ(seen[0].payload, "bye");
}

struct BadCase {
  const char* name;
  std::string bytes;
  uint16_t code;
};

TEST(WebSocketFrame, EveryProtocolErrorIsAnErrorWithItsCloseCode) {
  std::string unmasked("\x81\x02hi", 4);
  std::string non_minimal("\x81\xfe\x00\x01\x00\x00\x00\x00x", 9);
  std::vector<BadCase> cases = {
      {"unmasked", unmasked, 1002},
      {"rsv1 without an extension", ClientFrame(0xc1, "hi"), 1002},
      {"unknown opcode 3", ClientFrame(0x83, "hi"), 1002},
      {"unknown opcode 0xb", ClientFrame(0x8b, "hi"), 1002},
      {"fragmented ping", ClientFrame(0x09, "hi"), 1002},
      {"ping over 125 bytes", ClientFrame(0x89, std::string(126, 'p')), 1002},
      {"continuation first", ClientFrame(0x80, "hi"), 1002},
      {"text inside a fragmented message", ClientFrame(0x01, "a") + ClientFrame(0x81, "b"), 1002},
      {"length not in shortest form", non_minimal, 1002},
      {"one-byte close payload", ClientFrame(0x88, std::string(1, '\x03')), 1002},
      {"close code 1005 on the wire", ClientFrame(0x88, ClosePayload(1005, "")), 1002},
      {"close code 999", ClientFrame(0x88, ClosePayload(999, "")), 1002},
      {"too big in one frame", ClientFrame(0x82, std::string(65, 'x')), 1009},
      {"too big across fragments",
       ClientFrame(0x02, std::string(40, 'x')) + ClientFrame(0x80, std::string(40, 'x')), 1009},
      {"text not UTF-8", ClientFrame(0x81, "\xc3\x28"), 1007},
      {"UTF-8 cut between fragments and never finished",
       ClientFrame(0x01, "\xe2\x82") + ClientFrame(0x80, "x"), 1007},
      {"close reason not UTF-8", ClientFrame(0x88, ClosePayload(1000, "") + "\xff"), 1007},
  };
  for (const BadCase& c : cases) {
    FrameParser parser(64);
    auto seen = ParseAll(parser, c.bytes);
    ASSERT_FALSE(seen.empty()) << c.name;
    EXPECT_EQ(seen.back().kind, Kind::kError) << c.name;
    EXPECT_EQ(seen.back().code, c.code) << c.name;
    EXPECT_FALSE(seen.back().payload.empty()) << c.name;
  }
}

TEST(WebSocketFrame, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa8 \xe2\x82\xac \xf0\x9f\x98\x80"));  // è € 😀
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));                        // U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));                               // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));                           // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));                           // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));                       // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));                               // cut short
  EXPECT_FALSE(IsValidUtf8("\x80"));                                   // lone continuation
  EXPECT_FALSE(IsValidUtf8("\xff"));
}

TEST(WebSocketFrame, ClosePayloadIsCutToAControlFrameWithoutSplittingACharacter) {
  const std::string reason(200, 'r');
  EXPECT_EQ(ClosePayload(1000, reason).size(), 125u);
  std::string accents;
  for (int i = 0; i < 100; ++i) accents += "\xc3\xa8";  // 2 bytes each
  const std::string cut = ClosePayload(1008, accents);
  EXPECT_LE(cut.size(), 125u);
  EXPECT_TRUE(IsValidUtf8(std::string_view(cut).substr(2)));
  EXPECT_EQ(static_cast<uint8_t>(cut[0]), 1008 >> 8);
  EXPECT_EQ(static_cast<uint8_t>(cut[1]), 1008 & 0xff);
}

TEST(WebSocketFrame, HandshakeAcceptKey) {
  // RFC 6455 1.3's example.
  EXPECT_EQ(WebSocketAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_TRUE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_FALSE(IsValidWebSocketKey(""));
  EXPECT_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZQ"));    // no padding
  EXPECT_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25j!Q=="));  // not base64
  EXPECT_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZSE="));  // 17 bytes
}

TEST(WebSocketFrame, DeliveredMessageStorageIsReleasedByTrim) {
  FrameParser parser(1 << 20);
  auto seen = ParseAll(parser, ClientFrame(0x82, std::string(100'000, 'x')));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_GE(parser.RetainedBytes(), 99'000u);
  parser.Trim();
  EXPECT_EQ(parser.RetainedBytes(), 0u);
  // Still usable afterwards.
  seen = ParseAll(parser, ClientFrame(0x81, "again"));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].payload, "again");
}

}  // namespace
}  // namespace imgpipe::http::internal
