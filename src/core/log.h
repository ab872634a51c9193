// Process-wide logging on spdlog, to stderr (stdout carries the start-up lines scripts parse) and,
// when configured, to a daily file as well.
//
// Every line carries the id of the request being served on this thread, if any: the HTTP server
// sets it with ScopedRequestId around each (synchronous) handler call, so code deep in any module
// logs with spdlog::info(...) and still gets the request id. Structured fields (the job, the
// client's short hash, and a few key/values such as an event's seq) travel the same way, with
// ScopedLogFields: every line written on the thread inside the scope carries them.
//
// Line formats: text "TS LEVEL [REQ] MSG job_id=J client=C k=v", or with json one object per line,
// {"ts","level","req","job_id","client","msg",...fields} ("job_id" and "client" only when set),
// always valid JSON: everything is escaped, and invalid UTF-8 becomes U+FFFD.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace imgpipe::core {

struct LogOptions {
  std::string level = "info";  // trace, debug, info, warn, error, off
  bool json = false;           // one JSON object per line instead of text
  // Also write every line to this file, rotated daily at local midnight: "dir/imgpipe.log" writes
  // "dir/imgpipe_2026-11-29.log" (the folder is created). "" = stderr only.
  std::string file;
  // Daily files dated more than this many days before today are deleted, at start and at each
  // rotation (so a line is kept at least this long); 0 keeps every file.
  int retention_days = 1;
};

// Installs the default logger. Safe to call more than once (the last call wins). Fails (and keeps
// the previous logger) when the file cannot be opened.
Status InitLogging(const LogOptions& options);

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

// One structured field's value: text (a JSON string) or an integer (a JSON number).
class LogValue {
 public:
  LogValue(std::string_view text) : text_(text) {}    // NOLINT: implicit by design
  LogValue(const char* text) : text_(text) {}         // NOLINT
  LogValue(const std::string& text) : text_(text) {}  // NOLINT
  template <std::integral T>
  LogValue(T n) : text_(std::to_string(n)), number_(true) {}  // NOLINT

  const std::string& text() const { return text_; }
  bool number() const { return number_; }

 private:
  std::string text_;
  bool number_ = false;
};

struct LogField {
  std::string_view key;  // REQUIRES: not ts, level, req, msg, job_id or client
  LogValue value;
};

struct LogFields {
  std::string_view job_id = {};  // "" = not set
  // The client's core::ShortHash: the client id is a capability and is never logged whole.
  std::string_view client = {};
  std::initializer_list<LogField> extra = {};  // e.g. {{"seq", 42}, {"conn", "127.0.0.1:5050"}}
};

// Attaches `fields` to every line this thread writes during the scope's lifetime (the values are
// copied). Scopes nest: an inner job_id or client replaces the outer one, extra fields add up
// (an inner key replaces the same outer key). Costs a few small copies; nothing when unused.
class ScopedLogFields {
 public:
  explicit ScopedLogFields(const LogFields& fields);
  ~ScopedLogFields();
  ScopedLogFields(const ScopedLogFields&) = delete;
  ScopedLogFields& operator=(const ScopedLogFields&) = delete;

  struct Field {
    std::string key;
    std::string value;
    bool number = false;
  };

 private:
  friend class LogFieldsReader;
  std::string job_id_;
  std::string client_;
  std::vector<Field> extra_;
  const ScopedLogFields* outer_;
};

// Escapes `s` for use inside a JSON string literal (no surrounding quotes); invalid UTF-8 becomes
// U+FFFD, so the result is always valid JSON text.
std::string JsonEscape(std::string_view s);
// Appends the escaped form of `s` to `out` (no allocation when `s` needs no escaping).
void AppendJsonEscaped(std::string& out, std::string_view s);

}  // namespace imgpipe::core
