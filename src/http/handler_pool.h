// Internal to the http module: running route code on the server's handler pool, so that the I/O
// threads never wait on it (server.cc explains the two pools).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/http.h"
#include "http/session.h"

namespace imgpipe::http::internal {

// Runs `work` on the handler pool; the session resumes on its own strand (an I/O thread) with
// the result. Two thread hops buy I/O threads that never wait on a handler: accepting, parsing
// and WebSocket traffic go on while handlers block.
template <typename T, typename Work>
boost::asio::awaitable<T> OnHandlerPool(SessionHub& hub, Work work) {
  auto run = [&work]() -> boost::asio::awaitable<T> { co_return work(); };
  co_return co_await boost::asio::co_spawn(hub.handler_executor(), run(),
                                           boost::asio::use_awaitable);
}

// Router::Dispatch for `request`, with its request id set and any exception answered 500.
Response DispatchNow(SessionHub& hub, Request& request);

// An upgrade handler's decision, with the request id set; an exception refuses with 500.
UpgradeDecision DecideUpgrade(const UpgradeHandler& handler, Request& request);

// The callbacks of a blocking WebSocket route (Router::AddWebSocket): each runs on `pool`, one
// at a time and in order per connection; what one throws is logged.
WebSocketCallbacks CallbacksOnHandlerPool(const boost::asio::any_io_executor& pool,
                                          WebSocketCallbacks callbacks);

}  // namespace imgpipe::http::internal
