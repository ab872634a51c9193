// Status and Result<T>: the error values that cross module seams.
//
// A Status is ok or carries a code and a human-readable message. The codes are few on purpose;
// http/error_map.cc is the ONE place that maps them to HTTP statuses. Exceptions are for bugs and
// third-party code only, caught at the edge and turned into Status::Internal.
//
// Thread-safety: values; safe to copy between threads.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace imgpipe::core {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,       // the request itself is wrong (bad id, bad parameter, malformed input)
  kNotFound,              // the named thing does not exist
  kAlreadyExists,         // create of something that exists and must not be replaced
  kConflict,              // state does not allow the operation (e.g. cancel a finished job)
  kPermissionDenied,      // authenticated but not allowed
  kUnauthenticated,       // credentials missing or wrong
  kUnsupportedMediaType,  // the body is not a kind we accept (e.g. not DICOM)
  kPayloadTooLarge,       // the body is larger than the configured limit
  kUnprocessable,         // well-formed but semantically unusable (e.g. DICOM without pixels)
  kResourceExhausted,     // rate limited or a capacity limit reached
  kUnavailable,           // a dependency is down or we are shutting down; retry later
  kInternal,              // a bug or an unexpected failure of a dependency
};

// Short snake_case name of a code, as used in JSON error bodies ("not_found").
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status Conflict(std::string m) { return {StatusCode::kConflict, std::move(m)}; }
  static Status PermissionDenied(std::string m) {
    return {StatusCode::kPermissionDenied, std::move(m)};
  }
  static Status Unauthenticated(std::string m) {
    return {StatusCode::kUnauthenticated, std::move(m)};
  }
  static Status UnsupportedMediaType(std::string m) {
    return {StatusCode::kUnsupportedMediaType, std::move(m)};
  }
  static Status PayloadTooLarge(std::string m) {
    return {StatusCode::kPayloadTooLarge, std::move(m)};
  }
  static Status Unprocessable(std::string m) { return {StatusCode::kUnprocessable, std::move(m)}; }
  static Status ResourceExhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "not_found: no such study" (or "ok").
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context` ("reading x: ...").
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Result<T>: a T or a non-ok Status (abseil's StatusOr, trimmed).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit on purpose
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit on purpose
    assert(!status_.ok() && "Result constructed from an ok Status without a value");
    if (status_.ok()) status_ = Status::Internal("Result built from ok status without value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  // REQUIRES: ok()
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace imgpipe::core

// Returns early from the enclosing function with the Status of `expr` when it is not ok.
#define IMGPIPE_RETURN_IF_ERROR(expr)     \
  do {                                    \
    ::imgpipe::core::Status _st = (expr); \
    if (!_st.ok()) return _st;            \
  } while (0)

#define IMGPIPE_CONCAT_INNER(a, b) a##b
#define IMGPIPE_CONCAT(a, b) IMGPIPE_CONCAT_INNER(a, b)
// IMGPIPE_ASSIGN_OR_RETURN(auto x, Foo()): assigns the value or returns the error.
#define IMGPIPE_ASSIGN_OR_RETURN(lhs, expr) \
  IMGPIPE_ASSIGN_OR_RETURN_IMPL(IMGPIPE_CONCAT(_res_, __LINE__), lhs, expr)
#define IMGPIPE_ASSIGN_OR_RETURN_IMPL(res, lhs, expr) \
  auto res = (expr);                                  \
  if (!res.ok()) return res.status();                 \
  lhs = std::move(res).value()
