// Static files: serves one directory read-only (the web frontend's Vite build, web/dist), meant as
// the Router's fallback (Router::SetFallback) so the APIs keep every path they route.
//
// Contract of the handler StaticFiles() returns, for a GET or HEAD of request.path (decoded):
// - "/" and "/index.html" serve ROOT/index.html; other paths the file ROOT/path. Files under
//   /assets/ (content-hashed names) are cached for a year ("immutable"); everything else is
//   "no-cache" (revalidated by ETag). A strong ETag from size and mtime; If-None-Match gives 304.
// - With "Accept-Encoding: gzip" and a sibling FILE.gz, that is sent (Content-Encoding: gzip).
// - Never anything outside ROOT: a path with a ".." or "." segment, an empty segment, a dot-file
//   segment, a NUL or a backslash, or whose resolved location (symlinks followed) is not under the
//   resolved ROOT, is 404 (never 403: existence is not revealed). Only regular files, at most
//   max_file_bytes (larger ones are 404 and logged): a request holds at most one file in memory.
// - SPA fallback: a path that names no file, whose last segment has no extension (a final dot
//   followed by a letter: "1.2.840" has none) and whose first segment is not a reserved API prefix
//   (api, pacs, dicomweb, ws, metrics, healthz, readyz, version), serves index.html, so a reload of
//   a client-side route works. Anything else that names no file is the JSON 404 the router gives.
// - When ROOT has no index.html (frontend not built), index requests get a small HTML page that
//   says how to build it. StaticFiles() logs one warning for that when it is created.
// Thread-safe: the handler keeps no mutable state and reads the disk on every request.
#pragma once

#include <cstdint>
#include <string>

#include "http/http.h"

namespace imgpipe::http {

struct StaticFilesOptions {
  std::string root;                       // the directory to serve (e.g. web/dist)
  uint64_t max_file_bytes = 32ull << 20;  // larger files are refused (404, logged)
};

// REQUIRES: options.root is not empty.
Handler StaticFiles(StaticFilesOptions options);

}  // namespace imgpipe::http
