#include "http/handler_pool.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <exception>
#include <memory>
#include <string>

#include "core/log.h"

namespace imgpipe::http::internal {
namespace asio = boost::asio;
namespace {

// Runs `callback` on `strand`, logging what it throws (it must not end a pool thread).
template <typename Callback>
void PostCallback(const asio::strand<asio::any_io_executor>& strand, Callback callback) {
  asio::post(strand, [callback = std::move(callback)]() mutable {
    try {
      callback();
    } catch (const std::exception& e) {
      spdlog::error("websocket callback threw: {}", e.what());
    }
  });
}

}  // namespace

Response DispatchNow(SessionHub& hub, Request& request) {
  core::ScopedRequestId scoped(request.request_id);
  try {
    return hub.router().Dispatch(request);
  } catch (const std::exception& e) {  // Dispatch catches handler exceptions; belt and braces
    spdlog::error("dispatch threw: {}", e.what());
    return ErrorResponse(core::Status::Internal("internal error"));
  }
}

UpgradeDecision DecideUpgrade(const UpgradeHandler& handler, Request& request) {
  core::ScopedRequestId scoped(request.request_id);
  try {
    return handler(request);
  } catch (const std::exception& e) {
    spdlog::error("upgrade handler threw: {}", e.what());
    UpgradeDecision refused;
    refused.refuse = ErrorResponse(core::Status::Internal("internal error"));
    return refused;
  }
}

WebSocketCallbacks CallbacksOnHandlerPool(const asio::any_io_executor& pool,
                                          WebSocketCallbacks callbacks) {
  auto strand = asio::make_strand(pool);
  auto inner = std::make_shared<WebSocketCallbacks>(std::move(callbacks));
  WebSocketCallbacks outer;
  if (inner->on_open) {
    outer.on_open = [strand, inner](std::shared_ptr<WebSocketConnection> connection) {
      PostCallback(strand, [inner, connection] { inner->on_open(connection); });
    };
  }
  if (inner->on_message) {
    outer.on_message = [strand, inner](std::string_view text, bool binary) {
      PostCallback(strand,
                   [inner, copy = std::string(text), binary] { inner->on_message(copy, binary); });
    };
  }
  if (inner->on_close) {
    outer.on_close = [strand, inner] { PostCallback(strand, [inner] { inner->on_close(); }); };
  }
  return outer;
}

}  // namespace imgpipe::http::internal
