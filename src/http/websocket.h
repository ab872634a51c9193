// Internal to the http module: serving an accepted WebSocket upgrade on a session's connection.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "http/http.h"
#include "http/message.h"
#include "http/session.h"

namespace imgpipe::http::internal {

// Completes the handshake for `request` (an upgrade the router's handler accepted), then reads
// messages until the connection closes, calling `callbacks`. The session ends with it.
boost::asio::awaitable<void> RunWebSocket(SessionHub& hub, std::shared_ptr<Connection> connection,
                                          BeastRequest request, std::string remote,
                                          WebSocketCallbacks callbacks);

}  // namespace imgpipe::http::internal
