// An upstream DICOMweb PACS behind the local one (docs/dicom-networking.md "Upstream PACS"): a
// Pacs that serves the local archive and, beside it, the studies of a remote QIDO-RS/WADO-RS
// server, so images that live in an existing PACS can be previewed and processed without an
// import.
//
// Rules (the contract of WithUpstream's Pacs, beyond pacs.h):
//  - A study holding an instance stored here by an ingest (HTTP, STOW, DIMSE, demo) is local: it
//    is served from the local index alone. Any other study is asked upstream, also when some of
//    its instances were already fetched (their local copies are then served).
//  - GetInstance is local first: an instance stored here (fetched before, or ingested) is served
//    without the upstream, which is how cached images stay readable while the upstream is down.
//  - ReadFile/Preview of an `upstream` instance fetch it with WADO-RS (any transfer syntax, no
//    transcoding), store it through Ingest (the cache; remembered as fetched, so its study stays
//    upstream), then serve the local copy. Concurrent reads of one instance fetch it once.
//  - FindStudies: local matches first, then upstream matches not held here, one page across the
//    two (the upstream page starts at max(0, offset - local total)). A page may hold fewer than
//    `limit` items when upstream matches are also held here. `total` is exact when the upstream
//    page ended short, else -1 (unknown). When the upstream does not answer, the local matches
//    are served and Page::warning says so.
//  - Errors: the upstream unreachable, timing out, 5xx, or a malformed or oversized reply:
//    Unavailable naming the upstream; 404 (or an empty match): NotFound.
//
// Thread-safety: as Pacs.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "db/database.h"
#include "pacs/pacs.h"

namespace imgpipe::pacs {

struct UpstreamOptions {
  std::string base_url;  // http://host:port/dicom-web (no trailing slash needed)
  // Sent as the Authorization header when not empty (e.g. "Basic ..."); a secret, never logged.
  std::string authorization;
  std::chrono::milliseconds timeout{10'000};  // per upstream request, connect to last byte
  uint64_t max_instance_bytes = 1ull << 30;   // a larger WADO-RS reply is refused
  uint64_t max_query_bytes = 32ull << 20;     // a larger QIDO-RS reply is refused
};

// Wraps `local` (which reads and writes `db`, both outliving the result). Creates the table that
// remembers fetched instances. InvalidArgument when base_url is not an http:// URL.
core::Result<std::unique_ptr<Pacs>> WithUpstream(std::unique_ptr<Pacs> local, db::Database& db,
                                                 UpstreamOptions options);

}  // namespace imgpipe::pacs
