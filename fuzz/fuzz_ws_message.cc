// fuzz_ws_message: a WebSocket client message on /ws, parsed as the push session parses it
// (push::ParseClientMessage), text and binary. Checks the parse's contract on what it accepts.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "push/client_message.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using imgpipe::push::ClientMessage;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto message = imgpipe::push::ParseClientMessage(text, /*binary=*/false);
  if (message.ok() && message->action == ClientMessage::Action::kResume && message->last_seq < 0) {
    std::abort();  // the session would replay from a negative sequence number
  }
  if (!message.ok() && message.status().message().empty()) std::abort();  // the client gets "why"
  if (imgpipe::push::ParseClientMessage(text, /*binary=*/true).ok()) std::abort();
  return 0;
}
