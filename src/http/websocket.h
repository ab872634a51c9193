// Internal to the http module: serving an accepted WebSocket upgrade (RFC 6455) on the socket of
// a finished HTTP session. The framing is ours (websocket_frame.h), not Beast's websocket::stream:
// an idle connection then costs a readiness wait and a small object, with no read buffer, no
// timer and no coroutine frame (Beast's stream kept ~5 KB per idle connection; see
// docs/benchmarks.md, "Push").
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/http.h"
#include "http/message.h"
#include "http/session.h"

namespace imgpipe::http::internal {

// A refusal for an upgrade request whose handshake fields are wrong (400 for a missing or
// malformed Sec-WebSocket-Key, 426 with "Sec-WebSocket-Version: 13" for another version), or
// nullopt when it may be accepted. `request` is an upgrade (beast::websocket::is_upgrade).
std::optional<Response> CheckWebSocketHandshake(const BeastRequest& request);

// The 101 Switching Protocols response for a request with Sec-WebSocket-Key `key`.
std::string WebSocketHandshakeResponse(std::string_view key);

// Serves a WebSocket on `socket` (whose executor is a strand; call this on it) for a request with
// Sec-WebSocket-Key `key`: registers it with `hub` (a stopping hub closes it at once), calls
// callbacks.on_open, sends the 101 with what on_open sent in one write (one packet for the
// handshake and a greeting), parses `leftover` (bytes that followed the request), then reads
// until the connection ends and calls callbacks.on_close. Returns once the first write started.
void StartWebSocket(std::shared_ptr<SessionHub> hub, boost::asio::ip::tcp::socket socket,
                    std::string remote, std::string_view key, std::string leftover,
                    WebSocketCallbacks callbacks);

}  // namespace imgpipe::http::internal
