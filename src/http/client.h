// A small blocking HTTP/1.1 and WebSocket client (plain http:// and ws:// only), for the
// command-line client and tests. Beast/Asio stay behind this header.
//
// Every call has a deadline; none throws. Errors:
//   InvalidArgument - the URL is malformed or not http:// (ws:// for WebSocketClient)
//   Unavailable     - cannot resolve or connect, timed out, the connection broke, or the reply is
//                     not HTTP (or is larger than the body limit)
// An HTTP error status (4xx, 5xx) is not an error here: it is a ClientResponse like any other.
//
// Thread-safety: Fetch is reentrant; a WebSocketClient is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "http/http.h"

namespace imgpipe::http {

struct ClientResponse {
  int status = 0;
  HeaderList headers;  // names lowercased
  std::string body;

  std::optional<std::string_view> Header(std::string_view name) const;  // case-insensitive
};

struct FetchOptions {
  std::chrono::milliseconds timeout{30'000};  // for the whole exchange, connect to last byte
  size_t body_limit = 256ull << 20;           // a larger reply body is Unavailable
};

// One request on a fresh connection ("Connection: close"). `headers` are sent as given, after
// Host, User-Agent and (when `body` is not empty) Content-Length.
core::Result<ClientResponse> Fetch(std::string_view method, std::string_view url,
                                   std::string_view body = {}, const HeaderList& headers = {},
                                   const FetchOptions& options = {});

// One WebSocket connection to a ws:// URL. While ReadText waits, control frames are answered
// (pings get pongs), so a connection kept reading stays alive.
class WebSocketClient {
 public:
  // Resolves, connects and upgrades within `timeout`. An upgrade the server refuses (e.g. 401) is
  // Unavailable naming the HTTP status.
  static core::Result<std::unique_ptr<WebSocketClient>> Connect(std::string_view url,
                                                                std::chrono::milliseconds timeout);
  virtual ~WebSocketClient() = default;
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  // The next text message; binary messages are skipped. nullopt when none arrived within
  // `timeout` (the connection stays usable; the read continues in the next call). Unavailable
  // once the connection is closed (by either side) or broken; every later call says so too.
  virtual core::Result<std::optional<std::string>> ReadText(std::chrono::milliseconds timeout) = 0;
  // Sends one text message within `timeout`; Unavailable when the connection is gone.
  virtual core::Status SendText(std::string_view text, std::chrono::milliseconds timeout) = 0;
  // Sends a normal close (1000) and waits up to `timeout` for the peer's; idempotent.
  virtual void Close(std::chrono::milliseconds timeout) = 0;

 protected:
  WebSocketClient() = default;
};

}  // namespace imgpipe::http
