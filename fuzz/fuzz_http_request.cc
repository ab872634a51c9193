// fuzz_http_request: raw bytes from a socket on the server's request path. Beast's request parser
// with the server's limits (http::ServerOptions defaults), then http::internal::BuildRequest
// (target, percent-decoded path and query, headers), the WebSocket upgrade lookup, and
// Router::Dispatch on a router with the API's kinds of patterns ("{id}" segments, a "{rest...}"
// tail, literal-over-parameter precedence, 405s) and the static-files fallback. A multipart
// body goes through pacs::ParseMultipart with the boundary from its Content-Type, as STOW-RS and
// POST /pacs/images do.
//
// Oracles besides the sanitizers: the static-files fallback never serves a byte of a file
// outside its root (a secret file beside the root, also reachable through a symlink inside it),
// and every multipart part lies inside the body it was parsed from.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "core/log.h"
#include "http/http.h"
#include "http/message.h"
#include "http/static_files.h"
#include "pacs/multipart.h"

namespace {

using namespace imgpipe;
namespace bhttp = boost::beast::http;

constexpr std::string_view kSecret = "TOP-SECRET-OUTSIDE-ROOT";

http::Router* router = nullptr;

// Echoes what the handler saw, so the accessors run on every routed request.
http::Response Echo(http::Request& request) {
  std::string body = request.route;
  for (const auto& [name, value] : request.path_params) body += name + "=" + value + ";";
  for (std::string_view q : {"client_id", "limit", "frame", "wc", "ww", "size", "format"}) {
    if (auto v = request.Query(q)) body += std::string(*v) + ";";
  }
  if (auto v = request.Header("x-client-id")) body += std::string(*v);
  return http::Response::Json(200, core::JsonEscape(body));
}

// The multipart path of STOW-RS / POST /pacs/images, up to the ingest of each part.
http::Response Multipart(http::Request& request) {
  std::string content_type(request.Header("content-type").value_or(""));
  if (pacs::MediaType(content_type) != "multipart/related") return Echo(request);
  (void)pacs::ContentTypeParam(content_type, "type");
  auto parts = pacs::ParseMultipart(request.body, pacs::ContentTypeParam(content_type, "boundary"));
  if (!parts.ok()) return http::ErrorResponse(parts.status());
  const char* begin = request.body.data();
  const char* end = begin + request.body.size();
  for (const pacs::Part& part : *parts) {
    if (part.body.data() < begin || part.body.data() + part.body.size() > end) std::abort();
    (void)pacs::MediaType(part.content_type);
  }
  return http::Response::Json(200, std::to_string(parts->size()));
}

void BuildRouter() {
  namespace fs = std::filesystem;
  static const fs::path base =
      fs::temp_directory_path() / ("imgpipe-fuzz-http-" + std::to_string(getpid()));
  std::atexit([] {
    std::error_code ignored;
    fs::remove_all(base, ignored);
  });
  fs::create_directories(base / "root" / "assets");
  std::ofstream(base / "root" / "index.html") << "<html>index</html>";
  std::ofstream(base / "root" / "assets" / "app.js") << "console.log(1)";
  std::ofstream(base / "secret.txt") << kSecret;
  std::error_code ec;
  fs::create_symlink(base / "secret.txt", base / "root" / "link.txt", ec);

  router = new http::Router;
  for (const char* pattern :
       {"/pacs/studies", "/pacs/studies/{study_id}", "/pacs/studies/{study_id}/series/{series_id}",
        "/pacs/studies/{study_id}/series/{series_id}/images/{image_id}/preview", "/pacs/preview",
        "/api/jobs", "/api/jobs/{job_id}", "/api/results/{job_id}/{name...}",
        "/api/queues/{name}/dlq", "/healthz", "/files/{path...}", "/files/fixed/{id}"}) {
    router->Add("GET", pattern, Echo);
  }
  router->Add("DELETE", "/api/jobs/{job_id}", Echo);
  router->Add("POST", "/api/process/{algorithm}", Echo);
  router->Add("POST", "/pacs/images", Multipart);
  router->Add("POST", "/dicomweb/studies", Multipart);
  router->Add("POST", "/dicomweb/studies/{study_id}", Multipart);
  router->AddWebSocket("/ws", [](http::Request& request) {
    http::UpgradeDecision decision;
    if (!request.Query("client_id")) {
      decision.refuse = http::ErrorResponse(core::Status::Unauthenticated("client_id"));
    }
    return decision;
  });
  router->SetFallback(http::StaticFiles({.root = (base / "root").string()}));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  BuildRouter();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const http::ServerOptions limits;
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(limits.header_limit);
  parser.body_limit(limits.body_limit);
  parser.eager(true);
  boost::asio::const_buffer input(data, size);
  boost::beast::error_code ec;
  while (input.size() > 0 && !parser.is_done()) {
    size_t used = parser.put(input, ec);
    if (ec == bhttp::error::need_more) {
      ec = {};
      break;
    }
    if (ec) return 0;
    input += used;
  }
  if (!parser.is_done()) {
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;
  }
  http::internal::BeastRequest& message = parser.get();
  (void)http::internal::ChooseRequestId(message["x-request-id"]);
  const bool upgrade = boost::beast::websocket::is_upgrade(message);
  http::Request request;
  if (!http::internal::BuildRequest(message, request).ok()) return 0;
  if (upgrade) {
    if (const http::Router::WebSocketRoute* route = router->FindWebSocket(request.path)) {
      (void)route->handler(request);
      return 0;
    }
  }
  http::Response response = router->Dispatch(request);
  // A file the fallback served (status 200; never an echo of the request) from outside its root.
  if (request.route == "static" && response.status == 200 &&
      response.body.find(kSecret) != std::string::npos) {
    std::abort();
  }
  return 0;
}
