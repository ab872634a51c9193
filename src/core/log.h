// Process-wide logging on spdlog, to stderr (stdout carries the start-up lines scripts parse).
//
// Every line carries the id of the request being served on this thread, if any: the HTTP server
// sets it with ScopedRequestId around each (synchronous) handler call, so code deep in any module
// logs with spdlog::info(...) and still gets the request id.
#pragma once

#include <string>
#include <string_view>

namespace imgpipe::core {

struct LogOptions {
  std::string level = "info";  // trace, debug, info, warn, error, off
  bool json = false;           // one JSON object per line instead of text
};

// Installs the default logger. Safe to call more than once (the last call wins).
void InitLogging(const LogOptions& options);

// The request id of the current thread ("-" when none).
std::string_view CurrentRequestId();

// Sets the current thread's request id for its lifetime; restores the previous one after.
class ScopedRequestId {
 public:
  explicit ScopedRequestId(std::string_view id);
  ~ScopedRequestId();
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

 private:
  std::string previous_;
};

// Escapes `s` for use inside a JSON string literal (no surrounding quotes).
std::string JsonEscape(std::string_view s);
// Appends the escaped form of `s` to `out` (no allocation when `s` needs no escaping).
void AppendJsonEscaped(std::string& out, std::string_view s);

}  // namespace imgpipe::core
