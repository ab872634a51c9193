// The blocking client (client.h): each call drives a private io_context until its operation
// completes or its deadline passes. Completion handlers only write state that outlives them
// (the call's locals while the call runs the context, the WebSocketClient's members otherwise);
// a call that gives up returns without running the context again, so no handler runs late.
#include "http/client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <string>
#include <utility>

namespace imgpipe::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kUserAgent = "imgpipe";
constexpr size_t kMaxWebSocketMessage = 16 << 20;

struct Endpoint {
  std::string host;         // to resolve: a name or an address, without brackets
  std::string port;         // digits
  std::string host_header;  // as in the URL: "host:port" or "[::1]:port"
  std::string target;       // path and query, "/" at least
  std::string display;      // "host:port" for messages
};

core::Result<Endpoint> ParseUrl(std::string_view url, bool websocket) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    return core::Status::InvalidArgument("not a URL: \"" + std::string(url) + "\"");
  }
  const auto want = websocket ? boost::urls::scheme::ws : boost::urls::scheme::http;
  if (parsed->scheme_id() != want) {
    return core::Status::InvalidArgument(std::string("only ") + (websocket ? "ws://" : "http://") +
                                         " URLs are supported, not \"" + std::string(url) + "\"");
  }
  Endpoint ep;
  ep.host = parsed->host_address();
  if (ep.host.empty()) {
    return core::Status::InvalidArgument("URL has no host: \"" + std::string(url) + "\"");
  }
  ep.port = parsed->has_port() && !parsed->port().empty() ? std::string(parsed->port()) : "80";
  if (ep.port.find_first_not_of("0123456789") != std::string::npos || ep.port.size() > 5 ||
      std::stoi(ep.port) > 65535) {
    return core::Status::InvalidArgument("bad port in URL \"" + std::string(url) + "\"");
  }
  ep.host_header = std::string(parsed->encoded_host_and_port());
  ep.target = std::string(parsed->encoded_target());
  if (ep.target.empty()) ep.target = "/";
  ep.display = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]:" + ep.port
                                                      : ep.host + ":" + ep.port;
  return ep;
}

// Runs `ioc` until `done` is set or `deadline` passes; false when `done` is still unset.
bool RunUntil(asio::io_context& ioc, const bool& done, Clock::time_point deadline) {
  while (!done) {
    if (ioc.stopped()) ioc.restart();
    if (ioc.run_one_until(deadline) == 0 && !done) {
      if (Clock::now() >= deadline || ioc.stopped()) return false;
    }
  }
  return true;
}

core::Status TimedOut(const Endpoint& ep, std::chrono::milliseconds timeout) {
  return core::Status::Unavailable("no answer from " + ep.display + " within " +
                                   std::to_string(timeout.count()) + " ms");
}

// Resolves `ep` and connects `stream` to it before `deadline`.
core::Status ConnectStream(asio::io_context& ioc, beast::tcp_stream& stream, const Endpoint& ep,
                           Clock::time_point deadline, std::chrono::milliseconds timeout) {
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  bool done = false;
  tcp::resolver::results_type endpoints;
  resolver.async_resolve(ep.host, ep.port,
                         [&](const beast::error_code& e, tcp::resolver::results_type r) {
                           ec = e;
                           endpoints = std::move(r);
                           done = true;
                         });
  if (!RunUntil(ioc, done, deadline)) return TimedOut(ep, timeout);
  if (ec) return core::Status::Unavailable("cannot resolve " + ep.host + ": " + ec.message());
  done = false;
  stream.async_connect(endpoints, [&](const beast::error_code& e, const tcp::endpoint&) {
    ec = e;
    done = true;
  });
  if (!RunUntil(ioc, done, deadline)) return TimedOut(ep, timeout);
  if (ec) return core::Status::Unavailable("cannot connect to " + ep.display + ": " + ec.message());
  return core::Status::Ok();
}

class WebSocketClientImpl final : public WebSocketClient {
 public:
  core::Status Open(const Endpoint& ep, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    display_ = ep.display;
    IMGPIPE_RETURN_IF_ERROR(
        ConnectStream(ioc_, beast::get_lowest_layer(ws_), ep, deadline, timeout));
    ws_.set_option(websocket::stream_base::timeout{.handshake_timeout = timeout,
                                                   .idle_timeout = websocket::stream_base::none(),
                                                   .keep_alive_pings = false});
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(bhttp::field::user_agent, kUserAgent); }));
    ws_.read_message_max(kMaxWebSocketMessage);
    websocket::response_type response;
    beast::error_code ec;
    bool done = false;
    ws_.async_handshake(response, ep.host_header, ep.target, [&](const beast::error_code& e) {
      ec = e;
      done = true;
    });
    if (!RunUntil(ioc_, done, deadline)) return TimedOut(ep, timeout);
    if (ec == websocket::error::upgrade_declined) {
      return core::Status::Unavailable("the server refused the WebSocket upgrade: HTTP " +
                                       std::to_string(response.result_int()) + " " +
                                       response.body().substr(0, 200));
    }
    if (ec) return core::Status::Unavailable("WebSocket handshake failed: " + ec.message());
    ws_.text(true);
    return core::Status::Ok();
  }

  core::Result<std::optional<std::string>> ReadText(std::chrono::milliseconds timeout) override {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (broken_) return core::Status::Unavailable(why_);
      if (!read_pending_) {
        read_pending_ = true;
        read_done_ = false;
        ws_.async_read(buffer_, [this](const beast::error_code& e, size_t) {
          read_ec_ = e;
          read_done_ = true;
        });
      }
      if (!RunUntil(ioc_, read_done_, deadline)) return std::optional<std::string>();
      read_pending_ = false;
      if (read_ec_) {
        if (read_ec_ == websocket::error::closed) {
          const std::string reason(ws_.reason().reason.data(), ws_.reason().reason.size());
          Break("the server closed the WebSocket (" + std::to_string(ws_.reason().code) +
                (reason.empty() ? "" : " " + reason) + ")");
        } else {
          Break("WebSocket to " + display_ + " broken: " + read_ec_.message());
        }
        continue;
      }
      std::string message = beast::buffers_to_string(buffer_.data());
      buffer_.consume(buffer_.size());
      if (ws_.got_text()) return std::optional<std::string>(std::move(message));
    }
  }

  core::Status SendText(std::string_view text, std::chrono::milliseconds timeout) override {
    if (broken_) return core::Status::Unavailable(why_);
    write_done_ = false;
    ws_.async_write(asio::buffer(text.data(), text.size()),
                    [this](const beast::error_code& e, size_t) {
                      write_ec_ = e;
                      write_done_ = true;
                    });
    if (!RunUntil(ioc_, write_done_, Clock::now() + timeout)) {
      // The write may still be in progress: the stream cannot take another one.
      Break("WebSocket write to " + display_ + " timed out");
      beast::get_lowest_layer(ws_).close();
      return core::Status::Unavailable(why_);
    }
    if (write_ec_) {
      Break("WebSocket write to " + display_ + " failed: " + write_ec_.message());
      return core::Status::Unavailable(why_);
    }
    return core::Status::Ok();
  }

  void Close(std::chrono::milliseconds timeout) override {
    if (broken_) return;
    Break("the WebSocket was closed");
    close_done_ = false;
    ws_.async_close(websocket::close_code::normal,
                    [this](const beast::error_code&) { close_done_ = true; });
    RunUntil(ioc_, close_done_, Clock::now() + timeout);
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  void Break(std::string why) {
    broken_ = true;
    why_ = std::move(why);
  }

  asio::io_context ioc_;  // first: destroyed after the stream that uses it
  websocket::stream<beast::tcp_stream> ws_{ioc_};
  beast::flat_buffer buffer_;
  std::string display_;
  bool read_pending_ = false, read_done_ = false, write_done_ = false, close_done_ = false;
  beast::error_code read_ec_, write_ec_;
  bool broken_ = false;
  std::string why_;
};

}  // namespace

std::optional<std::string_view> ClientResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

core::Result<ClientResponse> Fetch(std::string_view method, std::string_view url,
                                   std::string_view body, const HeaderList& headers,
                                   const FetchOptions& options) {
  IMGPIPE_ASSIGN_OR_RETURN(Endpoint ep, ParseUrl(url, /*websocket=*/false));
  const bhttp::verb verb = bhttp::string_to_verb(method);
  if (verb == bhttp::verb::unknown) {
    return core::Status::InvalidArgument("unknown HTTP method " + std::string(method));
  }
  const auto deadline = Clock::now() + options.timeout;
  asio::io_context ioc;  // first: destroyed after the stream that uses it
  beast::tcp_stream stream(ioc);
  IMGPIPE_RETURN_IF_ERROR(ConnectStream(ioc, stream, ep, deadline, options.timeout));

  bhttp::request<bhttp::string_body> request(verb, ep.target, 11);
  request.set(bhttp::field::host, ep.host_header);
  request.set(bhttp::field::user_agent, kUserAgent);
  request.set(bhttp::field::connection, "close");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = std::string(body);
  if (!body.empty() || verb == bhttp::verb::post || verb == bhttp::verb::put) {
    request.prepare_payload();
  }
  beast::error_code ec;
  bool done = false;
  bhttp::async_write(stream, request, [&](const beast::error_code& e, size_t) {
    ec = e;
    done = true;
  });
  if (!RunUntil(ioc, done, deadline)) return TimedOut(ep, options.timeout);
  if (ec) return core::Status::Unavailable("sending to " + ep.display + ": " + ec.message());

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(64 << 10);
  parser.body_limit(options.body_limit);
  if (verb == bhttp::verb::head) parser.skip(true);
  done = false;
  bhttp::async_read(stream, buffer, parser, [&](const beast::error_code& e, size_t) {
    ec = e;
    done = true;
  });
  if (!RunUntil(ioc, done, deadline)) return TimedOut(ep, options.timeout);
  if (ec == bhttp::error::body_limit) {
    return core::Status::Unavailable("the reply from " + ep.display + " is larger than " +
                                     std::to_string(options.body_limit) + " bytes");
  }
  if (ec) {
    return core::Status::Unavailable("no valid HTTP reply from " + ep.display + ": " +
                                     ec.message());
  }
  auto& message = parser.get();
  ClientResponse response;
  response.status = message.result_int();
  for (const auto& field : message) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    response.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  response.body = std::move(message.body());
  return response;
}

core::Result<std::unique_ptr<WebSocketClient>> WebSocketClient::Connect(
    std::string_view url, std::chrono::milliseconds timeout) {
  IMGPIPE_ASSIGN_OR_RETURN(Endpoint ep, ParseUrl(url, /*websocket=*/true));
  auto client = std::make_unique<WebSocketClientImpl>();
  IMGPIPE_RETURN_IF_ERROR(client->Open(ep, timeout));
  return std::unique_ptr<WebSocketClient>(std::move(client));
}

}  // namespace imgpipe::http
