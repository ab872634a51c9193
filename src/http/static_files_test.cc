// Static files through the real Router (fallback), and once through a real Server.
#include "http/static_files.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace imgpipe::http {
namespace {

namespace fs = std::filesystem;

void WriteFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

// A temp dir with ROOT (the served directory) and, beside it, a secret outside the root.
class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("IMGPIPE_TEST_TMPDIR");
    fs::path parent = base != nullptr ? fs::path(base) : fs::temp_directory_path();
    fs::create_directories(parent);
    std::string tmpl = (parent / "static-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    root_ = dir_ / "root";
    WriteFile(dir_ / "secret.txt", "TOP SECRET");
    WriteFile(root_ / "index.html", "<!doctype html><title>app</title>");
    WriteFile(root_ / "assets/app-1a2b.js", "console.log('app')");
    WriteFile(root_ / "assets/app-1a2b.js.gz", "GZIPPED-BYTES");
    WriteFile(root_ / "assets/style-3c4d.css", "body{}");
    WriteFile(root_ / "favicon.ico", "ico");
    WriteFile(root_ / ".env", "SECRET=1");
    WriteFile(root_ / "assets/.hidden.js", "hidden");
    router_.Add("GET", "/api/things", [](Request&) { return Response::Json(200, "[]"); });
    router_.Add("POST", "/api/submit", [](Request&) { return Response::Json(201, "{}"); });
    router_.SetFallback(StaticFiles({.root = root_.string()}));
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Response Do(std::string method, std::string target, HeaderList headers = {}) {
    Request request;
    request.method = std::move(method);
    request.target = std::move(target);
    auto path = PercentDecode(request.target.substr(0, request.target.find('?')), false);
    request.path = path.value_or("");
    request.headers = std::move(headers);
    return router_.Dispatch(request);
  }
  Response Get(std::string target, HeaderList headers = {}) {
    return Do("GET", std::move(target), std::move(headers));
  }
  static std::string H(const Response& r, std::string_view name) {
    return std::string(r.Header(name).value_or("<none>"));
  }
  static bool IsJson404(const Response& r) {
    return r.status == 404 && H(r, "Content-Type") == "application/json" &&
           r.body.find("\"not_found\"") != std::string::npos;
  }

  fs::path dir_, root_;
  Router router_;
};

TEST_F(StaticFilesTest, ServesIndexAtRootWithNoCache) {
  for (const char* target : {"/", "/index.html"}) {
    Response r = Get(target);
    EXPECT_EQ(r.status, 200) << target;
    EXPECT_EQ(r.body, "<!doctype html><title>app</title>");
    EXPECT_EQ(H(r, "Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(H(r, "Cache-Control"), "no-cache");
    EXPECT_EQ(H(r, "X-Content-Type-Options"), "nosniff");
    EXPECT_NE(H(r, "ETag"), "<none>");
  }
}

TEST_F(StaticFilesTest, ContentTypesByExtension) {
  const std::pair<const char*, const char*> cases[] = {
      {"a.js", "text/javascript; charset=utf-8"},
      {"a.mjs", "text/javascript; charset=utf-8"},
      {"a.css", "text/css; charset=utf-8"},
      {"a.svg", "image/svg+xml"},
      {"a.png", "image/png"},
      {"a.JPG", "image/jpeg"},
      {"a.ico", "image/x-icon"},
      {"a.json", "application/json"},
      {"a.webmanifest", "application/manifest+json"},
      {"a.woff2", "font/woff2"},
      {"a.txt", "text/plain; charset=utf-8"},
      {"a.js.map", "application/json"},
      {"a.bin", "application/octet-stream"},
      {"v1.2/noext", "application/octet-stream"},
  };
  for (const auto& [name, type] : cases) {
    WriteFile(root_ / "files" / name, "x");
    Response r = Get(std::string("/files/") + name);
    EXPECT_EQ(r.status, 200) << name;
    EXPECT_EQ(H(r, "Content-Type"), type) << name;
    EXPECT_EQ(r.body, "x");
  }
}

TEST_F(StaticFilesTest, AssetsAreImmutableOtherFilesRevalidate) {
  Response asset = Get("/assets/style-3c4d.css");
  EXPECT_EQ(asset.status, 200);
  EXPECT_EQ(H(asset, "Cache-Control"), "public, max-age=31536000, immutable");
  Response icon = Get("/favicon.ico");
  EXPECT_EQ(icon.status, 200);
  EXPECT_EQ(H(icon, "Cache-Control"), "no-cache");
}

TEST_F(StaticFilesTest, ETagAndIfNoneMatch) {
  Response first = Get("/assets/style-3c4d.css");
  std::string etag = H(first, "ETag");
  ASSERT_EQ(etag.front(), '"');  // strong
  Response again = Get("/assets/style-3c4d.css", {{"if-none-match", etag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(H(again, "ETag"), etag);
  EXPECT_EQ(Get("/assets/style-3c4d.css", {{"if-none-match", "\"x\", W/" + etag}}).status, 304);
  EXPECT_EQ(Get("/assets/style-3c4d.css", {{"if-none-match", "*"}}).status, 304);
  EXPECT_EQ(Get("/assets/style-3c4d.css", {{"if-none-match", "\"other\""}}).status, 200);
  // A rebuilt file gets a new tag, so the old one no longer matches.
  WriteFile(root_ / "assets/style-3c4d.css", "body{color:red}");
  Response changed = Get("/assets/style-3c4d.css", {{"if-none-match", etag}});
  EXPECT_EQ(changed.status, 200);
  EXPECT_NE(H(changed, "ETag"), etag);
  // The index revalidates the same way (also through the SPA fallback).
  std::string index_etag = H(Get("/"), "ETag");
  EXPECT_EQ(Get("/studies", {{"if-none-match", index_etag}}).status, 304);
}

TEST_F(StaticFilesTest, GzipSiblingOnlyWhenAccepted) {
  Response plain = Get("/assets/app-1a2b.js");
  EXPECT_EQ(plain.body, "console.log('app')");
  EXPECT_EQ(H(plain, "Content-Encoding"), "<none>");
  EXPECT_EQ(H(plain, "Vary"), "Accept-Encoding");
  Response gz = Get("/assets/app-1a2b.js", {{"accept-encoding", "br, gzip, deflate"}});
  EXPECT_EQ(gz.body, "GZIPPED-BYTES");
  EXPECT_EQ(H(gz, "Content-Encoding"), "gzip");
  EXPECT_EQ(H(gz, "Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(H(gz, "Vary"), "Accept-Encoding");
  EXPECT_NE(H(gz, "ETag"), H(plain, "ETag"));  // two representations, two tags
  Response refused = Get("/assets/app-1a2b.js", {{"accept-encoding", "gzip;q=0, deflate"}});
  EXPECT_EQ(refused.body, "console.log('app')");
  EXPECT_EQ(Get("/assets/app-1a2b.js", {{"accept-encoding", "deflate"}}).body,
            "console.log('app')");
  // No sibling: the plain file, and nothing varies.
  Response css = Get("/assets/style-3c4d.css", {{"accept-encoding", "gzip"}});
  EXPECT_EQ(css.body, "body{}");
  EXPECT_EQ(H(css, "Content-Encoding"), "<none>");
  EXPECT_EQ(H(css, "Vary"), "<none>");
}

TEST_F(StaticFilesTest, NeverServesOutsideTheRootOrHiddenFiles) {
  fs::create_symlink(dir_ / "secret.txt", root_ / "link.txt");
  fs::create_symlink(dir_, root_ / "linkdir");
  fs::create_symlink(root_ / "assets", root_ / "inside");  // stays under the root: allowed
  for (const char* target :
       {"/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt",
        "/assets/%2E%2E/%2E%2E/secret.txt", "/assets/..%2f..%2fsecret.txt", "/../etc/passwd",
        "/assets/../../../../../../etc/passwd", "/link.txt", "/linkdir/secret.txt", "/.env",
        "/assets/.hidden.js", "/assets/./style-3c4d.css", "/assets//style-3c4d.css",
        "/assets%5c..%5c..%5csecret.txt", "/a\\b.js", "/index.html%00.js", "/.", "/.."}) {
    Response r = Get(target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(r.body.find("SECRET"), std::string::npos) << target;
    EXPECT_EQ(r.body.find("<title>app"), std::string::npos) << target;  // no SPA fallback either
  }
  Response inside = Get("/inside/style-3c4d.css");
  EXPECT_EQ(inside.status, 200);
  EXPECT_EQ(inside.body, "body{}");
}

TEST_F(StaticFilesTest, HeadAnswersLikeGet) {
  Response head = Do("HEAD", "/assets/style-3c4d.css");
  EXPECT_EQ(head.status, 200);  // the server drops the body and keeps Content-Length
  EXPECT_EQ(head.body, "body{}");
  EXPECT_EQ(H(head, "Content-Type"), "text/css; charset=utf-8");
  EXPECT_EQ(Do("HEAD", "/studies/1.2.3").status, 200);
  EXPECT_TRUE(IsJson404(Do("HEAD", "/api/nothing")));
}

TEST_F(StaticFilesTest, SpaFallbackForClientRoutesOnly) {
  for (const char* target : {"/studies", "/studies/", "/studies/1.2.840.10008.5.1/series",
                             "/studies/1.2.840.113619.2.55", "/settings?tab=2", "/assets"}) {
    Response r = Get(target);
    EXPECT_EQ(r.status, 200) << target;
    EXPECT_EQ(r.body, "<!doctype html><title>app</title>") << target;
    EXPECT_EQ(H(r, "Cache-Control"), "no-cache") << target;
  }
  for (const char* target :
       {"/missing.js", "/assets/missing-9f9f.js", "/studies/report.pdf", "/api", "/api/nothing",
        "/pacs/studies", "/dicomweb/studies", "/ws", "/ws/x", "/metrics", "/healthz", "/readyz/x",
        "/version", "/api/index.html"}) {
    EXPECT_TRUE(IsJson404(Get(target))) << target;
  }
  // Routes still win, and everything but GET/HEAD keeps the router's answers.
  EXPECT_EQ(Get("/api/things").body, "[]");
  EXPECT_TRUE(IsJson404(Do("POST", "/studies")));
  EXPECT_TRUE(IsJson404(Do("DELETE", "/index.html")));
  Response not_allowed = Get("/api/submit");
  EXPECT_EQ(not_allowed.status, 405);
  EXPECT_EQ(H(not_allowed, "Allow"), "POST");
}

TEST_F(StaticFilesTest, MissingIndexShowsHowToBuild) {
  fs::remove(root_ / "index.html");
  for (const char* target : {"/", "/index.html", "/studies/1.2.3"}) {
    Response r = Get(target);
    EXPECT_EQ(r.status, 200) << target;
    EXPECT_EQ(H(r, "Content-Type"), "text/html; charset=utf-8");
    EXPECT_NE(r.body.find("not built"), std::string::npos);
    EXPECT_NE(r.body.find("make web"), std::string::npos);
    EXPECT_NE(r.body.find("scripts/build-web.sh"), std::string::npos);
    EXPECT_NE(r.body.find("docs/api.md"), std::string::npos);
  }
  EXPECT_EQ(Get("/assets/style-3c4d.css").status, 200);  // the rest is served as before
  EXPECT_TRUE(IsJson404(Get("/missing.js")));
  // A root that does not exist at all behaves the same.
  Router router;
  router.SetFallback(StaticFiles({.root = (dir_ / "nowhere").string()}));
  Request request;
  request.method = "GET";
  request.target = request.path = "/";
  Response r = router.Dispatch(request);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("make web"), std::string::npos);
}

TEST_F(StaticFilesTest, RefusesFilesOverTheSizeCap) {
  WriteFile(root_ / "assets/big-0000.js", std::string(100, 'x'));
  router_.SetFallback(StaticFiles({.root = root_.string(), .max_file_bytes = 64}));
  EXPECT_TRUE(IsJson404(Get("/assets/big-0000.js")));
  EXPECT_EQ(Get("/assets/style-3c4d.css").status, 200);
}

// One exchange over a real socket: "Connection: close", read to EOF.
std::string Exchange(uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char chunk[4096];
    ssize_t n;
    while ((n = ::recv(fd, chunk, sizeof(chunk), 0)) > 0) reply.append(chunk, n);
  }
  ::close(fd);
  return reply;
}

TEST_F(StaticFilesTest, ThroughARealServer) {
  ServerOptions options;
  options.port = 0;
  options.threads = 1;
  options.stop_on_signals = false;
  auto router = std::make_shared<Router>();
  router->SetFallback(StaticFiles({.root = root_.string()}));
  auto server = Server::Start(options, router);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  uint16_t port = (*server)->port();

  std::string get =
      Exchange(port,
               "GET /assets/app-1a2b.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
               "Connection: close\r\n\r\n");
  EXPECT_EQ(get.substr(0, 12), "HTTP/1.1 200") << get;
  EXPECT_NE(get.find("Content-Encoding: gzip\r\n"), std::string::npos) << get;
  EXPECT_TRUE(get.ends_with("\r\n\r\nGZIPPED-BYTES")) << get;

  std::string head =
      Exchange(port, "HEAD /studies/42 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(head.substr(0, 12), "HTTP/1.1 200") << head;
  EXPECT_NE(head.find("Content-Length: 33\r\n"), std::string::npos) << head;
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << head;  // no body

  std::string escape = Exchange(
      port,
      "GET /assets/%2e%2e/%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(escape.substr(0, 12), "HTTP/1.1 404") << escape;
  EXPECT_EQ(escape.find("SECRET"), std::string::npos);
  (*server)->Stop();
}

}  // namespace
}  // namespace imgpipe::http
