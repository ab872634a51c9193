// The messages a WebSocket client sends on /ws (DESIGN.md "WebSocket protocol"):
// {"action":"ping"} and {"action":"resume","last_seq":N}. Parsing is separate from the session so
// that it can be tested and fuzzed on its own (fuzz/fuzz_ws_message.cc).
#pragma once

#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace imgpipe::push {

struct ClientMessage {
  enum class Action { kPing, kResume };
  Action action = Action::kPing;
  int64_t last_seq = 0;  // kResume: replay the events after this one (>= 0)
};

// Parses one client message. InvalidArgument, with the text the client gets back in its
// {"type":"error"} message, for a binary message, anything but a JSON object with a string
// "action", an unknown action, or a resume without an integer last_seq >= 0. Members other than
// "action" and "last_seq" are ignored. Nesting deeper than Boost.JSON's default (32) is refused.
core::Result<ClientMessage> ParseClientMessage(std::string_view text, bool binary);

}  // namespace imgpipe::push
