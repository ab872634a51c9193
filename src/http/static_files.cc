// Static files (see static_files.h for the contract).
//
// Safety works in two steps: the decoded path is first checked segment by segment (no "..", no
// dot-files, no empty segments, no NUL or backslash), then the candidate is resolved with
// weakly_canonical and must still lie under the resolved root, which catches symlinks that lead
// out. The resolved path is opened with O_NOFOLLOW, so a last component swapped for a symlink
// after the check is refused rather than followed.
#include "http/static_files.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/strings.h"

namespace imgpipe::http {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kIndex = "index.html";
constexpr std::string_view kNoCache = "no-cache";
constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";

// First path segments that belong to the APIs: never answered with index.html.
constexpr std::array<std::string_view, 8> kReservedPrefixes = {
    "api", "pacs", "dicomweb", "ws", "metrics", "healthz", "readyz", "version"};

// The extension of a file name, lowercased: what follows the last dot, when that holds a letter.
// "" otherwise, so DICOM UIDs in client-side routes ("/studies/1.2.840.10008") are not taken for
// file names.
std::string Extension(std::string_view name) {
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) return "";
  std::string ext = core::AsciiLower(name.substr(dot + 1));
  for (char c : ext) {
    if (c >= 'a' && c <= 'z') return ext;
  }
  return "";
}

std::string_view ContentTypeFor(std::string_view ext) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"ico", "image/x-icon"},
      {"json", "application/json"},
      {"webmanifest", "application/manifest+json"},
      {"woff2", "font/woff2"},
      {"txt", "text/plain; charset=utf-8"},
      {"map", "application/json"},
  };
  for (const auto& [e, type] : kTypes) {
    if (e == ext) return type;
  }
  return "application/octet-stream";
}

// Splits the decoded path (after its leading '/') into segments. False when the path could name
// something outside the root or hidden: "." / ".." / dot-files, empty inner segments, NUL,
// backslash. A single trailing empty segment ("/studies/") is kept, it names no file.
bool SafeSegments(std::string_view path, std::vector<std::string_view>* out) {
  if (path.empty() || path.front() != '/') return false;
  if (path.find('\0') != std::string_view::npos || path.find('\\') != std::string_view::npos) {
    return false;
  }
  path.remove_prefix(1);
  if (path.empty()) return true;
  for (;;) {
    size_t slash = path.find('/');
    std::string_view segment = path.substr(0, slash);
    bool last = slash == std::string_view::npos;
    if (segment.empty() && !last) return false;
    if (!segment.empty() && segment.front() == '.') return false;
    out->push_back(segment);
    if (last) return true;
    path.remove_prefix(slash + 1);
  }
}

// `candidate` resolved (symlinks followed); nullopt unless it lies strictly under `root`, which
// is itself resolved.
std::optional<fs::path> ResolveUnder(const fs::path& root, const fs::path& candidate) {
  std::error_code ec;
  fs::path resolved = fs::weakly_canonical(candidate, ec);
  if (ec) return std::nullopt;
  const std::string& r = root.native();
  const std::string& p = resolved.native();
  std::string prefix = (!r.empty() && r.back() == '/') ? r : r + "/";
  if (p.size() <= prefix.size() || p.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  return resolved;
}

// An open regular file: its descriptor and stat.
class OpenFile {
 public:
  OpenFile() = default;
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  ~OpenFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  // False when `path` is missing, not a regular file, or cannot be opened.
  bool Open(const fs::path& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd_ < 0) return false;
    return ::fstat(fd_, &st_) == 0 && S_ISREG(st_.st_mode);
  }

  uint64_t size() const { return static_cast<uint64_t>(st_.st_size); }

  // Strong validator: size, modification time (ns) and inode; `variant` tells encodings apart.
  std::string ETag(std::string_view variant) const {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "\"%llx-%llx%09llx-%llx%s\"",
                  static_cast<unsigned long long>(st_.st_size),
                  static_cast<unsigned long long>(st_.st_mtim.tv_sec),
                  static_cast<unsigned long long>(st_.st_mtim.tv_nsec),
                  static_cast<unsigned long long>(st_.st_ino), std::string(variant).c_str());
    return buf;
  }

  // Reads the whole file (as it was at fstat: at most size() bytes).
  bool Read(std::string* out) const {
    out->resize(size());
    size_t done = 0;
    while (done < out->size()) {
      ssize_t n = ::pread(fd_, out->data() + done, out->size() - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    out->resize(done);
    return done == size();
  }

 private:
  int fd_ = -1;
  struct stat st_ {};
};

// True when Accept-Encoding lists gzip with a non-zero quality.
bool AcceptsGzip(const Request& request) {
  std::optional<std::string_view> header = request.Header("Accept-Encoding");
  if (!header) return false;
  std::string_view rest = *header;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    size_t semi = item.find(';');
    if (core::AsciiLower(core::TrimSpace(item.substr(0, semi))) != "gzip") continue;
    if (semi == std::string_view::npos) return true;
    std::string params = core::AsciiLower(item.substr(semi + 1));
    size_t q = params.find("q=");
    if (q == std::string::npos) return true;
    std::string_view value = core::TrimSpace(std::string_view(params).substr(q + 2));
    return value.find_first_not_of("0.") != std::string_view::npos;  // "q=0", "q=0.0" refuse
  }
  return false;
}

// True when If-None-Match lists `etag` (weak comparison, RFC 9110 13.1.2) or is "*".
bool NoneMatch(const Request& request, std::string_view etag) {
  std::optional<std::string_view> header = request.Header("If-None-Match");
  if (!header) return false;
  std::string_view rest = *header;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view tag = core::TrimSpace(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
  }
  return false;
}

Response NotFound(const Request& request) {
  // The same error the router gives for an unrouted path.
  std::string_view raw = request.target.empty() ? request.path : request.target;
  return ErrorResponse(
      core::Status::NotFound("no route for " + std::string(raw.substr(0, raw.find('?')))));
}

Response NotBuiltPage() {
  static constexpr std::string_view kPage = R"(<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>imgpipe</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}
code{background:#f2f2f2;padding:0 .25em}</style></head>
<body>
<h1>imgpipe is running</h1>
<p>The web frontend is not built, so there is no page to show here yet.</p>
<p>Build it from the source tree with <code>make web</code> (or <code>scripts/build-web.sh</code>),
then reload this page. The server serves the build from its <code>web.root</code> setting
(<code>--web-root DIR</code>, <code>IMGPIPE_WEB_ROOT</code>; default <code>web/dist</code>).</p>
<p>The HTTP APIs work without it: see <code>docs/api.md</code> in the source tree, and
<a href="/healthz">/healthz</a>, <a href="/version">/version</a>.</p>
</body>
</html>
)";
  Response response = Response::Bytes(200, "text/html; charset=utf-8", std::string(kPage));
  response.SetHeader("Cache-Control", std::string(kNoCache));
  response.SetHeader("X-Content-Type-Options", "nosniff");
  return response;
}

class StaticFilesHandler {
 public:
  explicit StaticFilesHandler(StaticFilesOptions options) : options_(std::move(options)) {}

  Response operator()(Request& request) const {
    if (request.method != "GET" && request.method != "HEAD") return NotFound(request);
    std::vector<std::string_view> segments;
    if (!SafeSegments(request.path, &segments)) return NotFound(request);
    if (segments.empty() || (segments.size() == 1 && segments[0] == kIndex)) {
      return ServeIndex(request);
    }
    for (std::string_view reserved : kReservedPrefixes) {
      if (segments.front() == reserved) return NotFound(request);
    }
    std::string relative(request.path.substr(1));
    std::string_view cache =
        segments.size() > 1 && segments.front() == "assets" ? kImmutable : kNoCache;
    if (!segments.back().empty()) {
      if (std::optional<Response> file = ServeFile(request, relative, cache)) return *file;
    }
    // SPA fallback: a client-side route (no extension) gets the application.
    if (Extension(segments.back()).empty()) return ServeIndex(request);
    return NotFound(request);
  }

 private:
  Response ServeIndex(const Request& request) const {
    if (std::optional<Response> index = ServeFile(request, std::string(kIndex), kNoCache)) {
      return *index;
    }
    return NotBuiltPage();
  }

  // The file ROOT/relative (or its .gz sibling); nullopt when there is no such regular file under
  // the root.
  std::optional<Response> ServeFile(const Request& request, const std::string& relative,
                                    std::string_view cache_control) const {
    std::error_code ec;
    fs::path root = fs::weakly_canonical(fs::path(options_.root), ec);
    if (ec) return std::nullopt;
    std::optional<fs::path> path = ResolveUnder(root, root / relative);
    if (!path) return std::nullopt;
    OpenFile plain;
    if (!plain.Open(*path)) return std::nullopt;

    // A precompressed sibling: chosen when the client takes gzip; its existence alone makes the
    // response vary by Accept-Encoding.
    OpenFile gzipped;
    bool has_gzip = false;
    if (std::optional<fs::path> gz = ResolveUnder(root, root / (relative + ".gz"))) {
      has_gzip = gzipped.Open(*gz);
    }
    const bool use_gzip = has_gzip && AcceptsGzip(request);
    const OpenFile& chosen = use_gzip ? gzipped : plain;
    std::string etag = chosen.ETag(use_gzip ? "-gz" : "");

    Response response;
    response.SetHeader("Cache-Control", cache_control);
    response.SetHeader("ETag", etag);
    response.SetHeader("X-Content-Type-Options", "nosniff");
    if (has_gzip) response.SetHeader("Vary", "Accept-Encoding");
    if (NoneMatch(request, etag)) {
      response.status = 304;
      return response;
    }
    if (chosen.size() > options_.max_file_bytes) {
      spdlog::error("static file {} is {} bytes, over the {} byte limit: refused", path->string(),
                    chosen.size(), options_.max_file_bytes);
      return NotFound(request);
    }
    if (!chosen.Read(&response.body)) {
      spdlog::error("cannot read static file {}: {}", path->string(), std::strerror(errno));
      return ErrorResponse(core::Status::Internal("cannot read " + relative));
    }
    response.status = 200;
    std::string_view name = std::string_view(relative).substr(relative.rfind('/') + 1);
    response.SetHeader("Content-Type", ContentTypeFor(Extension(name)));
    if (use_gzip) response.SetHeader("Content-Encoding", "gzip");
    return response;
  }

  StaticFilesOptions options_;
};

}  // namespace

Handler StaticFiles(StaticFilesOptions options) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::path(options.root) / kIndex, ec)) {
    spdlog::warn("web frontend not built: no {}/index.html; \"/\" shows how to build it (make web)",
                 options.root);
  }
  return StaticFilesHandler(std::move(options));
}

}  // namespace imgpipe::http
