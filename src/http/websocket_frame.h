// Internal to the http module: the RFC 6455 wire format as a server sees it. No sockets here:
// the parser consumes bytes as they arrive and the encoder writes frame headers, so both are
// tested on their own and the connection code only moves bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace imgpipe::http::internal {

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xa,
};

// Close codes the server sends (RFC 6455 section 7.4.1).
inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseGoingAway = 1001;
inline constexpr uint16_t kCloseProtocolError = 1002;
inline constexpr uint16_t kCloseInvalidPayload = 1007;  // text that is not UTF-8
inline constexpr uint16_t kClosePolicyViolation = 1008;
inline constexpr uint16_t kCloseTooBig = 1009;

// What one step of the parser produced.
struct FrameEvent {
  enum class Kind {
    kNone,     // more bytes are needed
    kMessage,  // a whole data message: `payload`, text unless `binary`
    kPing,     // `payload`: to be echoed in a pong
    kPong,
    kClose,  // the client's close frame: `close_code` (1005 when it sent none) and `payload`
    kError,  // the client broke the protocol: close with `close_code`, `payload` says why
  };
  Kind kind = Kind::kNone;
  bool binary = false;
  uint16_t close_code = 0;
  std::string_view payload;  // valid until the next Parse call
};

// Parses frames from a client: masked (an unmasked frame is an error), no extensions (no RSV
// bits), control frames unfragmented and at most 125 bytes, fragmented data messages assembled
// up to `max_message` bytes (past it: kError 1009), text checked to be UTF-8 (kError 1007).
// After a kError or kClose the parser must not be fed again.
// Memory: nothing is kept between messages except a message in progress, so an idle connection's
// parser owns no heap storage.
class FrameParser {
 public:
  explicit FrameParser(size_t max_message) : max_message_(max_message) {}

  // Consumes a prefix of `data` and returns its length; `event` is what completed in it (at most
  // one event per call: call again with the rest).
  size_t Parse(std::string_view data, FrameEvent& event);
  // Frees the storage of the last delivered message (its payload view dies): call it once the
  // bytes at hand are parsed, so an idle connection keeps no buffer.
  void Trim();
  // Heap bytes the parser holds (its buffers' capacity beyond the in-object small-string space).
  size_t RetainedBytes() const;

 private:
  size_t HeaderSize() const;
  bool StartFrame(FrameEvent& event);  // the header is complete: check it; false on error
  void FinishFrame(FrameEvent& event);

  const size_t max_message_;
  std::array<uint8_t, 14> header_{};  // the current frame's header, as it arrives
  uint8_t header_bytes_ = 0;
  bool in_payload_ = false;
  Opcode opcode_ = Opcode::kContinuation;  // of the current frame
  bool fin_ = false;
  uint64_t remaining_ = 0;  // payload bytes of the current frame still to come
  std::array<uint8_t, 4> mask_{};
  uint8_t mask_offset_ = 0;
  bool in_message_ = false;  // a fragmented data message has begun
  bool message_binary_ = false;
  std::string message_;     // the data message being assembled (released after each)
  std::string control_;     // the control frame's payload (at most 125 bytes)
  bool delivered_ = false;  // message_ was handed out: release it on the next call
};

// Writes the header of an unmasked server frame with FIN set into `out`; returns its length
// (2, 4 or 10).
size_t EncodeFrameHeader(Opcode opcode, uint64_t payload_size, std::array<char, 10>& out);
// A whole unmasked server frame.
std::string EncodeFrame(Opcode opcode, std::string_view payload);
// A close frame's payload: the code, then `reason` cut to fit a control frame.
std::string ClosePayload(uint16_t code, std::string_view reason);

// Whether `text` is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool IsValidUtf8(std::string_view text);

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 section 4.2.2).
std::string WebSocketAccept(std::string_view key);
// Whether `key` is a valid Sec-WebSocket-Key: base64 of 16 bytes.
bool IsValidWebSocketKey(std::string_view key);

}  // namespace imgpipe::http::internal
