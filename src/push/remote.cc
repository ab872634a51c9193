// RemoteEvents: other processes' stored events, as "look again" hints for local connections.
#include <spdlog/spdlog.h>

#include <charconv>
#include <limits>

#include "core/ids.h"
#include "push/push.h"

namespace imgpipe::push {

using core::Result;
using core::Status;

namespace {

// "origin\tclient_id\tseq" -> the hint for client_id, unless it came from `self` or is malformed.
std::optional<Event> HintFor(std::string_view payload, std::string_view self) {
  size_t a = payload.find('\t');
  size_t b = a == std::string_view::npos ? a : payload.find('\t', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  if (payload.substr(0, a) == self) return std::nullopt;  // published locally already
  Event hint;
  hint.client_id = std::string(payload.substr(a + 1, b - a - 1));
  std::string_view seq = payload.substr(b + 1);
  auto [end, ec] = std::from_chars(seq.data(), seq.data() + seq.size(), hint.seq);
  if (ec != std::errc() || end != seq.data() + seq.size() || hint.client_id.empty()) {
    return std::nullopt;
  }
  return hint;  // json stays empty: a hint, not the event
}

}  // namespace

Result<std::unique_ptr<RemoteEvents>> RemoteEvents::Start(db::Database& db, Hub& hub,
                                                          std::string origin) {
  std::unique_ptr<RemoteEvents> remote(new RemoteEvents());
  IMGPIPE_ASSIGN_OR_RETURN(
      remote->subscription_,
      db.Listen(kEventsChannel, [&hub, origin = std::move(origin)](std::string_view payload) {
        if (payload.empty()) {
          // The listening connection was re-established: announcements may have been missed,
          // so every local client looks again.
          for (std::string& client : hub.Clients()) {
            Event hint;
            hint.client_id = std::move(client);
            hint.seq = std::numeric_limits<int64_t>::max();
            hub.Publish(hint);
          }
          return;
        }
        // One line per event stored by the announcing batch (consumer.cc, Announce).
        while (!payload.empty()) {
          size_t eol = payload.find('\n');
          std::string_view line = payload.substr(0, eol);
          payload.remove_prefix(eol == std::string_view::npos ? payload.size() : eol + 1);
          if (std::optional<Event> hint = HintFor(line, origin)) {
            size_t receivers = hub.Publish(*hint);
            spdlog::debug("push: remote event {} of client {} hinted to {} connections", hint->seq,
                          core::ShortHash(hint->client_id), receivers);
          }
        }
      }));
  return remote;
}

RemoteEvents::~RemoteEvents() = default;

}  // namespace imgpipe::push
