// Configuration: defaults < file (imgpipe.toml) < IMGPIPE_* environment < command-line flags.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace imgpipe::app {

struct Config {
  std::string listen = "127.0.0.1:8080";    // listen / IMGPIPE_LISTEN / --listen
  std::string data_dir = "./imgpipe-data";  // data_dir / IMGPIPE_DATA_DIR / --data-dir
  std::string database_url;                 // "" = sqlite file in data_dir
  // Blobs (DICOM files, job outputs): "" = the folder data_dir/blobs; "s3://bucket/prefix" = S3.
  std::string blob_url;
  std::string blob_s3_endpoint;  // "" = AWS_ENDPOINT_URL, else AWS's regional endpoint
  std::string blob_s3_region;    // "" = AWS_REGION / AWS_DEFAULT_REGION, else us-east-1
  std::string roles = "api,worker,push";
  std::string log_level = "info";
  bool log_json = false;
  // Also log to this file, rotated daily ("imgpipe.log" -> "imgpipe_2026-11-29.log"); "" = stderr
  // only. Daily files older than log_retention_days days are deleted (0 keeps them all).
  std::string log_file;
  int log_retention_days = 1;
  int http_threads = 0;     // route handlers; 0 = four per core (serve.cc)
  int http_io_threads = 0;  // accept, parsing, WebSockets; 0 = one per core
  uint64_t body_limit_mb = 512;
  // Origins whose pages may call the API from a browser (CORS), comma-separated; "*" = any;
  // "" (default) = none but imgpipe's own pages. http.cors_origins / IMGPIPE_HTTP_CORS_ORIGINS.
  std::string http_cors_origins;
  uint64_t render_cache_mb = 256;  // 0 disables the preview cache
  bool demo = false;               // serve --demo: load demo data into an empty store
  // Workers: the algorithms this process runs (comma-separated names; "" = all), and receiving
  // threads per algorithm. --algorithms / IMGPIPE_WORKERS_ALGORITHMS.
  std::string worker_algorithms;
  // A folder of external algorithm manifests (docs/algorithms.md); "" = built-ins only.
  std::string external_algorithms_dir;
  int worker_concurrency = 2;
  // Request queues: a submit is refused with 429 past max_depth waiting jobs (0: no limit); a
  // message not acknowledged within the visibility timeout is delivered again, and moved to the
  // dead-letter queue after max_receive_count deliveries.
  int64_t queue_max_depth = 10'000;
  int queue_visibility_timeout_s = 30;
  int queue_max_receive_count = 5;
  // Push: WebSocket ping interval (a connection silent for twice this is closed), largest
  // incoming message, outgoing messages queued per connection, and how long events are kept.
  int push_ping_interval_s = 30;
  int push_max_message_kb = 64;
  int push_max_queued = 1024;
  int push_retention_h = 24;
  // Limits (docs/configuration.md "Limits"; 0 turns one off): submissions per second per client
  // and per client address, new connections (provisions and WebSockets) per second per address,
  // each allowing bursts of limits_burst_s seconds' worth; jobs queued or running per client;
  // WebSocket connections open at once per client. Behind a proxy on one of
  // limits_trusted_proxies (comma-separated IPs), the address is the X-Forwarded-For it adds.
  int limits_submits_per_s_per_client = 20;
  int limits_submits_per_s_per_address = 100;
  int limits_connects_per_s_per_address = 20;
  int limits_burst_s = 5;
  int64_t limits_max_active_jobs_per_client = 1000;
  int limits_max_connections_per_client = 32;
  std::string limits_trusted_proxies = "127.0.0.1,::1";
  // JSON request bodies (POST /api/process): largest size (413 past it) and nesting depth (400).
  int limits_max_json_kb = 64;
  int limits_max_json_depth = 32;
  // Access control (docs/security.md). The admin key guards PACS writes and queue
  // administration: admin_key / IMGPIPE_ADMIN_KEY, else (not --demo) one generated at first start
  // and kept as a digest in the database. PACS reads and job submission need an API key from
  // auth_api_keys_file or a JWT signed by a key of auth_jwt_jwks_file when either is set; with
  // neither they are open. A JWT whose scope holds auth_jwt_admin_scope is also an admin.
  std::string admin_key;
  std::string auth_api_keys_file;
  std::string auth_jwt_jwks_file;
  std::string auth_jwt_issuer;
  std::string auth_jwt_audience;
  std::string auth_jwt_admin_scope = "imgpipe:admin";
  // DICOM networking (docs/dicom-networking.md). The DIMSE listener (C-ECHO, C-STORE, C-FIND) on
  // HOST:PORT ("" = off; dicom.listen / IMGPIPE_DICOM_LISTEN / --dicom-listen), answering to the
  // AE title dicom_aet (--aet); dicom_allowed_aets (comma-separated) limits the calling AE titles
  // ("" = any).
  std::string dicom_listen;
  std::string dicom_aet = "IMGPIPE";
  std::string dicom_allowed_aets;
  // Export destinations, a JSON file naming remote DICOM nodes and DICOMweb servers that jobs may
  // send their DICOM outputs to ("" = none). export.destinations_file.
  std::string export_destinations_file;
  // Threads of this process that send exports (worker role); 0: this process sends none (e.g. a
  // worker host without a route to the PACS; another process sends them). export.workers.
  int export_workers = 2;
  // Automatic processing rules, a JSON file ("" = none). rules.file.
  std::string rules_file;
  // An upstream DICOMweb PACS (its base URL, e.g. http://pacs:8042/dicom-web) whose studies the
  // PACS API also serves, fetching and caching instances on first use ("" = none).
  // pacs.upstream_url.
  std::string pacs_upstream_url;
  // Deadline of one request to the upstream PACS, connect to last byte (QIDO searches, WADO
  // retrieves). pacs.upstream_timeout_s.
  int pacs_upstream_timeout_s = 10;
  // The Authorization header value sent to the upstream PACS (e.g. "Basic dXNlcjpwYXNz"); "" sends
  // none. A secret: never logged. pacs.upstream_authorization.
  std::string pacs_upstream_authorization;
  // The web frontend's build (index.html, assets/), served at "/" by the api role. LoadConfig's
  // default is the source tree's web/dist (compiled in), so it works from any working directory;
  // "" serves no frontend. web.root / IMGPIPE_WEB_ROOT / --web-root.
  std::string web_root;
  std::string config_file;  // where the file layer came from, if any
};

// A flat view of a TOML subset: "[section]" headers and `key = value` lines (strings in double
// quotes, integers, booleans, # comments). Keys come out as "section.key".
core::Result<std::map<std::string, std::string>> ParseToml(std::string_view text);

// Builds the configuration from the layers. `flags` are already-parsed "--name value" pairs
// ("listen" -> "127.0.0.1:0"); `env` is the environment (pass environ). Unknown keys in the file
// or flags are errors (a typo must not be silently ignored).
core::Result<Config> LoadConfig(const std::map<std::string, std::string>& flags,
                                const std::map<std::string, std::string>& env);

// The environment as a map (IMGPIPE_* and the few others we read).
std::map<std::string, std::string> ProcessEnvironment();

}  // namespace imgpipe::app
