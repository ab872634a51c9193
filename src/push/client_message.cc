// Parsing of WebSocket client messages (push/client_message.h).
#include "push/client_message.h"

#include <boost/json.hpp>

namespace imgpipe::push {

namespace json = boost::json;
using core::Status;

core::Result<ClientMessage> ParseClientMessage(std::string_view text, bool binary) {
  if (binary) return Status::InvalidArgument("messages are JSON text");
  boost::system::error_code ec;
  json::value message = json::parse(text, ec);
  const json::value* action = nullptr;
  if (!ec && message.is_object()) action = message.as_object().if_contains("action");
  if (action == nullptr || !action->is_string()) {
    return Status::InvalidArgument(R"(expected {"action": "ping" | "resume"})");
  }
  ClientMessage parsed;
  if (*action == "ping") return parsed;
  if (*action == "resume") {
    const json::value* seq = message.as_object().if_contains("last_seq");
    if (seq == nullptr || !seq->is_int64() || seq->as_int64() < 0) {
      return Status::InvalidArgument("resume needs last_seq, an integer >= 0");
    }
    parsed.action = ClientMessage::Action::kResume;
    parsed.last_seq = seq->as_int64();
    return parsed;
  }
  return Status::InvalidArgument("unknown action");
}

}  // namespace imgpipe::push
