// Shared pieces of the command-line client (imgpipe provision | process | jobs | queues): its
// arguments, the endpoints it talks to, and calls to the processing API with the client's exit
// codes. Failures are printed here, once, as one line on stderr ("imgpipe: ..."); callers pass
// the exit code on.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "app/config.h"
#include "http/client.h"
#include "http/http.h"

namespace imgpipe::app::client {

// Exit codes (documented in the usage text and docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitJobFailed = 1;    // the job failed or was cancelled
inline constexpr int kExitUsage = 2;        // missing or bad flags, or a bad endpoint URL
inline constexpr int kExitRefused = 3;      // the server answered 4xx
inline constexpr int kExitUnavailable = 4;  // unreachable, timed out, 5xx, or a garbage reply

// Prints "imgpipe: MESSAGE" on stderr and returns `exit_code`.
int Fail(int exit_code, std::string_view message);

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> flags;  // every value, in order

  bool Has(const std::string& name) const { return flags.count(name) > 0; }
  // The last value of a flag, if given.
  std::optional<std::string> Get(const std::string& name) const;
};

// Parses `args` ("--name value", "--name=value", boolean "--name"); a flag not in `with_value` or
// `boolean` is a usage error naming it.
std::optional<Args> ParseArgs(const std::vector<std::string>& args,
                              const std::set<std::string>& with_value,
                              const std::set<std::string>& boolean, std::string* error);

struct Endpoints {
  std::string api_base;     // http://HOST:PORT/api
  std::string ws_endpoint;  // ws://HOST:PORT/ws
  std::string origin;       // http://HOST:PORT: output URLs ("/api/results/...") resolve here
};

// API_BASE and WS_ENDPOINT from `env` (PACS_API_BASE is read by the commands that need it);
// where unset, what `imgpipe env` prints for `config` (WS_ENDPOINT follows API_BASE's host when
// only API_BASE is set). nullopt with `error` set when a value is not an http:// (ws://) URL.
std::optional<Endpoints> ResolveEndpoints(const Config& config,
                                          const std::map<std::string, std::string>& env,
                                          std::string* error);

// Percent-encodes everything but RFC 3986 unreserved characters (a path segment or query value).
std::string UrlEncode(std::string_view text);

// One request to `url`. On a 2xx reply stores its body in *out and returns kExitOk; otherwise
// prints why and returns kExitRefused (4xx: the server's error message), kExitUnavailable
// (unreachable, timeout, 5xx) or kExitUsage (a malformed URL).
int CallBytes(std::string_view method, const std::string& url, std::string_view body,
              const http::HeaderList& headers, std::string* out, const http::FetchOptions& options);

// One call to the API at `url` (a non-empty body is sent as application/json). On a 2xx reply with
// a JSON body, stores it in *out and returns kExitOk; otherwise prints why and returns kExitRefused
// (4xx: the server's error message), kExitUnavailable (unreachable, timeout, 5xx, not JSON) or
// kExitUsage (a malformed URL).
int CallJson(std::string_view method, const std::string& url, std::string_view body,
             const http::HeaderList& headers, boost::json::value* out,
             std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The client id: --client-id, else $IMGPIPE_CLIENT_ID; nullopt when neither.
std::optional<std::string> ClientIdFrom(const Args& args,
                                        const std::map<std::string, std::string>& env);

// Prints rows as a table with a header, columns padded to their widest cell.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

// The entry points, one per command. `args` are the words after the command.
int RunProvision(const Config& config, const std::map<std::string, std::string>& env,
                 const std::vector<std::string>& args);
int RunProcess(const Config& config, const std::map<std::string, std::string>& env,
               const std::vector<std::string>& args);
int RunJobs(const Config& config, const std::map<std::string, std::string>& env,
            const std::vector<std::string>& args);
int RunQueues(const Config& config, const std::map<std::string, std::string>& env,
              const std::vector<std::string>& args);

}  // namespace imgpipe::app::client
