// Row conversions, lenient the way SQL's CAST is: text holding a number converts to it (its
// leading numeric part, like CAST('12abc' AS INTEGER) = 12), NULL is 0 or "".
#include "db/database.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

namespace imgpipe::db {

namespace {

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  return s;
}

double ParseReal(std::string_view s) {
  s = TrimLeft(s);
  double value = 0;
  std::from_chars(s.data(), s.data() + s.size(), value);
  return value;
}

// Truncates toward zero and saturates: a plain cast of an out-of-range double is undefined.
int64_t RealToInt(double d) {
  if (std::isnan(d)) return 0;
  if (d >= 9223372036854775807.0) return std::numeric_limits<int64_t>::max();
  if (d <= -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(d);
}

int64_t ParseInt(std::string_view s) {
  s = TrimLeft(s);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec == std::errc::result_out_of_range) return RealToInt(ParseReal(s));
  // "1e3" or "2.5": the text is a real number; SQL casts it through REAL.
  if (ec == std::errc() && end != s.data() + s.size() &&
      (*end == '.' || *end == 'e' || *end == 'E')) {
    return RealToInt(ParseReal(s));
  }
  return value;
}

}  // namespace

int64_t Row::Int(size_t i) const {
  const Value& v = cells_.at(i);
  if (auto* x = std::get_if<int64_t>(&v)) return *x;
  if (auto* x = std::get_if<double>(&v)) return RealToInt(*x);
  if (auto* x = std::get_if<std::string>(&v)) return ParseInt(*x);
  if (auto* x = std::get_if<Blob>(&v)) return ParseInt(x->bytes);
  return 0;
}

double Row::Real(size_t i) const {
  const Value& v = cells_.at(i);
  if (auto* x = std::get_if<double>(&v)) return *x;
  if (auto* x = std::get_if<int64_t>(&v)) return static_cast<double>(*x);
  if (auto* x = std::get_if<std::string>(&v)) return ParseReal(*x);
  if (auto* x = std::get_if<Blob>(&v)) return ParseReal(x->bytes);
  return 0;
}

std::string Row::Text(size_t i) const {
  const Value& v = cells_.at(i);
  if (auto* x = std::get_if<std::string>(&v)) return *x;
  if (auto* x = std::get_if<int64_t>(&v)) return std::to_string(*x);
  if (auto* x = std::get_if<double>(&v)) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, *x);  // shortest round-trip form
    return ec == std::errc() ? std::string(buf, end) : std::string();
  }
  if (auto* x = std::get_if<Blob>(&v)) return x->bytes;
  return "";
}

}  // namespace imgpipe::db

namespace imgpipe::db {

core::Result<std::unique_ptr<Subscription>> Database::Listen(
    std::string_view channel, std::function<void(std::string_view)> /*on_notify*/) {
  return core::Status::Unavailable(Describe() + " has no notifications between processes (" +
                                   std::string(channel) + ")");
}

bool IsTransactionConflict(const core::Status& status) {
  if (status.code() != core::StatusCode::kUnavailable) return false;
  const std::string_view message = status.message();
  return message.find("(SQLSTATE 40P01)") != std::string_view::npos ||
         message.find("(SQLSTATE 40001)") != std::string_view::npos;
}

core::Status Database::Write(bool durable, const std::function<core::Status(Transaction&)>& op) {
  // PostgreSQL rolls back one transaction of a deadlock (or a serialization failure) and advises
  // running it again; `op` may run more than once by contract. A few attempts, a short pause
  // between them so the other transaction gets through first.
  constexpr int kAttempts = 4;
  for (int attempt = 1;; ++attempt) {
    core::Status status = [&]() -> core::Status {
      IMGPIPE_ASSIGN_OR_RETURN(auto tx, Begin(durable ? TxMode::kWrite : TxMode::kWriteRelaxed));
      IMGPIPE_RETURN_IF_ERROR(op(*tx));
      return tx->Commit();
    }();
    if (status.ok() || attempt == kAttempts || !IsTransactionConflict(status)) return status;
    spdlog::debug("db: transaction conflict, running it again (attempt {}): {}", attempt + 1,
                  status.message());
    std::this_thread::sleep_for(std::chrono::milliseconds(attempt * 2));
  }
}

core::Status Database::Maintain(std::string_view statement) {
  return core::Status::InvalidArgument(Describe() + " has no maintenance statements (" +
                                       std::string(statement) + ")");
}

}  // namespace imgpipe::db
