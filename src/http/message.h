// Internal to the http module: conversions between Beast messages and Request/Response.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>
#include <string_view>

#include "core/status.h"
#include "http/http.h"

namespace imgpipe::http::internal {

using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;
using BeastResponse = boost::beast::http::response<boost::beast::http::string_body>;

// Fills method, target, path (decoded), query (decoded), headers (lowercased) and body; the body
// is moved out of `message`. InvalidArgument for a malformed target, path or query.
core::Status BuildRequest(BeastRequest& message, Request& request);

// The raw path of a target: everything before the first '?'.
std::string_view RawPath(std::string_view target);

// The incoming X-Request-Id when acceptable, else a fresh id.
std::string ChooseRequestId(std::string_view incoming);

// Turns `response` into a Beast response: the handler's headers (minus the framing ones, which
// the server owns), Server, Date, X-Request-Id, Content-Length (except for 1xx/204/304, which
// have no body). For HEAD the Content-Length of the GET body is kept and the body dropped.
BeastResponse ToBeast(Response&& response, unsigned version, bool head, bool keep_alive,
                      std::string_view request_id);

// IMF-fixdate (RFC 9110 5.6.7) of now, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string HttpDateNow();

}  // namespace imgpipe::http::internal
