// fuzz_ws_frames: bytes from a WebSocket client, through the server's frame parser
// (http::internal::FrameParser, max message 1 KiB). The input is parsed twice, at once and one
// byte at a time: both must give the same events (the parser keeps its state across reads).
// Checks what it hands out: data messages within the limit, text UTF-8, control payloads of at
// most 125 bytes, an error always with its close code and a reason.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/websocket_frame.h"

namespace {

using imgpipe::http::internal::FrameEvent;
using imgpipe::http::internal::FrameParser;
using imgpipe::http::internal::IsValidUtf8;

constexpr size_t kMaxMessage = 1024;

struct Seen {
  FrameEvent::Kind kind;
  bool binary;
  uint16_t code;
  std::string payload;
  bool operator==(const Seen&) const = default;
};

void Check(const FrameEvent& event) {
  switch (event.kind) {
    case FrameEvent::Kind::kMessage:
      if (event.payload.size() > kMaxMessage) std::abort();
      if (!event.binary && !IsValidUtf8(event.payload)) std::abort();
      break;
    case FrameEvent::Kind::kPing:
    case FrameEvent::Kind::kPong:
      if (event.payload.size() > 125) std::abort();
      break;
    case FrameEvent::Kind::kClose:
      if (event.payload.size() > 123 || !IsValidUtf8(event.payload)) std::abort();
      break;
    case FrameEvent::Kind::kError:
      if (event.close_code == 0 || event.payload.empty()) std::abort();
      break;
    case FrameEvent::Kind::kNone:
      break;
  }
}

// Parses `data` in pieces of `step` bytes until an error or a close; returns the events.
std::vector<Seen> Parse(std::string_view data, size_t step) {
  FrameParser parser(kMaxMessage);
  std::vector<Seen> seen;
  for (size_t at = 0; at < data.size(); at += step) {
    std::string_view rest = data.substr(at, step);
    while (!rest.empty()) {
      FrameEvent event;
      const size_t used = parser.Parse(rest, event);
      if (used > rest.size()) std::abort();
      rest.remove_prefix(used);
      Check(event);
      if (event.kind == FrameEvent::Kind::kNone) {
        if (!rest.empty()) std::abort();  // "more bytes needed" only once all were taken
        continue;
      }
      seen.push_back({event.kind, event.binary, event.close_code, std::string(event.payload)});
      if (event.kind == FrameEvent::Kind::kError || event.kind == FrameEvent::Kind::kClose) {
        return seen;
      }
    }
    parser.Trim();
  }
  return seen;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (bytes.empty()) return 0;
  if (Parse(bytes, bytes.size()) != Parse(bytes, 1)) std::abort();
  return 0;
}
