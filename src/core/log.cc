#include "core/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cassert>
#include <chrono>
#include <cstdio>
#include <memory>

#include "core/log_file.h"

namespace imgpipe::core {
namespace {

thread_local std::string t_request_id;
thread_local const ScopedLogFields* t_fields = nullptr;  // the innermost scope, if any

}  // namespace

// Reads the current thread's fields for the formatters (a friend of ScopedLogFields).
class LogFieldsReader {
 public:
  static std::string_view JobId() {
    for (const ScopedLogFields* f = t_fields; f != nullptr; f = f->outer_) {
      if (!f->job_id_.empty()) return f->job_id_;
    }
    return {};
  }
  static std::string_view Client() {
    for (const ScopedLogFields* f = t_fields; f != nullptr; f = f->outer_) {
      if (!f->client_.empty()) return f->client_;
    }
    return {};
  }
  // Calls fn(field) for each extra field, innermost scope first; a key seen in an inner scope
  // is skipped in the outer ones.
  template <typename Fn>
  static void ForEachExtra(Fn&& fn) {
    for (const ScopedLogFields* f = t_fields; f != nullptr; f = f->outer_) {
      for (const ScopedLogFields::Field& field : f->extra_) {
        if (ShadowedByInner(f, field.key)) continue;
        fn(field);
      }
    }
  }

 private:
  static bool ShadowedByInner(const ScopedLogFields* scope, const std::string& key) {
    for (const ScopedLogFields* f = t_fields; f != scope; f = f->outer_) {
      for (const ScopedLogFields::Field& field : f->extra_) {
        if (field.key == key) return true;
      }
    }
    return false;
  }
};

namespace {

void Append(spdlog::memory_buf_t& dest, std::string_view s) {
  dest.append(s.data(), s.data() + s.size());
}

// A text value as it appears after "key=": bare when it is plain, else quoted and escaped.
void AppendTextValue(std::string& out, std::string_view value, bool number) {
  bool plain = number || (!value.empty() && value.find_first_of(" \"=\\") == std::string::npos);
  for (char c : value) plain = plain && static_cast<unsigned char>(c) > 0x20;
  if (plain) {
    out += value;
    return;
  }
  out += '"';
  AppendJsonEscaped(out, value);
  out += '"';
}

// %* in a pattern: the current request id.
class RequestIdFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    Append(dest, CurrentRequestId());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<RequestIdFlag>();
  }
};

// %& in a pattern: " job_id=J client=C key=value ..." for the fields that are set ("" if none).
class FieldsFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    if (t_fields == nullptr) return;
    std::string out;
    auto add = [&out](std::string_view key, std::string_view value, bool number) {
      out += ' ';
      out += key;
      out += '=';
      AppendTextValue(out, value, number);
    };
    if (auto job = LogFieldsReader::JobId(); !job.empty()) add("job_id", job, false);
    if (auto client = LogFieldsReader::Client(); !client.empty()) add("client", client, false);
    LogFieldsReader::ForEachExtra(
        [&](const ScopedLogFields::Field& f) { add(f.key, f.value, f.number); });
    Append(dest, out);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<FieldsFlag>();
  }
};

// One JSON object per line: {"ts","level","req","job_id","client","msg",...extra}.
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    auto t = msg.time;
    auto secs = time_point_cast<seconds>(t);
    auto ms = duration_cast<milliseconds>(t - secs).count();
    std::time_t tt = system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char ts[64];
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms));
    std::string line = "{\"ts\":\"";
    line += ts;
    line += "\",\"level\":\"";
    auto level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.size());
    line += "\",\"req\":\"";
    AppendJsonEscaped(line, CurrentRequestId());
    line += '"';
    if (t_fields != nullptr) {
      if (auto job = LogFieldsReader::JobId(); !job.empty()) AddString(line, "job_id", job);
      if (auto client = LogFieldsReader::Client(); !client.empty()) {
        AddString(line, "client", client);
      }
    }
    AddString(line, "msg", std::string_view(msg.payload.data(), msg.payload.size()));
    if (t_fields != nullptr) {
      LogFieldsReader::ForEachExtra([&line](const ScopedLogFields::Field& f) {
        if (f.number) {
          line += ",\"";
          AppendJsonEscaped(line, f.key);
          line += "\":";
          line += f.value;
        } else {
          AddString(line, f.key, f.value);
        }
      });
    }
    line += "}\n";
    Append(dest, line);
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }

 private:
  static void AddString(std::string& line, std::string_view key, std::string_view value) {
    line += ",\"";
    AppendJsonEscaped(line, key);
    line += "\":\"";
    AppendJsonEscaped(line, value);
    line += '"';
  }
};

std::unique_ptr<spdlog::formatter> MakeFormatter(bool json) {
  if (json) return std::make_unique<JsonFormatter>();
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<RequestIdFlag>('*').add_flag<FieldsFlag>('&').set_pattern(
      "%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%*] %v%&");
  return f;
}

bool IsReservedKey(std::string_view key) {
  return key == "ts" || key == "level" || key == "req" || key == "msg" || key == "job_id" ||
         key == "client";
}

// The length of the valid UTF-8 sequence starting at s[i] (a byte >= 0x80), or 0 when it is not
// one (stray continuation byte, truncated, overlong, surrogate, beyond U+10FFFF).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n = 0;
  uint32_t cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

}  // namespace

Status InitLogging(const LogOptions& options) {
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (!options.file.empty()) {
    IMGPIPE_ASSIGN_OR_RETURN(spdlog::sink_ptr file,
                             internal::NewDailyFileSink(options.file, options.retention_days));
    sinks.push_back(std::move(file));
  }
  auto logger = std::make_shared<spdlog::logger>("imgpipe", sinks.begin(), sinks.end());
  logger->set_formatter(MakeFormatter(options.json));
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  // A file's lines reach the disk within a second even at info level (stderr is unbuffered).
  if (!options.file.empty()) spdlog::flush_every(std::chrono::seconds(1));
  return Status::Ok();
}

std::string_view CurrentRequestId() {
  if (t_request_id.empty()) return "-";
  return t_request_id;
}

ScopedRequestId::ScopedRequestId(std::string_view id) : previous_(t_request_id) {
  t_request_id.assign(id);
}

ScopedRequestId::~ScopedRequestId() { t_request_id = std::move(previous_); }

ScopedLogFields::ScopedLogFields(const LogFields& fields)
    : job_id_(fields.job_id), client_(fields.client), outer_(t_fields) {
  extra_.reserve(fields.extra.size());
  for (const LogField& f : fields.extra) {
    assert(!IsReservedKey(f.key));
    extra_.push_back(
        Field{IsReservedKey(f.key) ? "field_" + std::string(f.key) : std::string(f.key),
              f.value.text(), f.value.number()});
  }
  t_fields = this;
}

ScopedLogFields::~ScopedLogFields() { t_fields = outer_; }

std::string JsonEscape(std::string_view s) {
  std::string out;
  AppendJsonEscaped(out, s);
  return out;
}

void AppendJsonEscaped(std::string& out, std::string_view s) {
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') continue;
    if (c >= 0x80) {
      if (size_t n = Utf8SequenceLength(s, i); n > 0) {
        i += n - 1;
        continue;
      }
    }
    out.append(s.data() + start, i - start);
    start = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c >= 0x80) {
          out += "\\ufffd";  // one replacement character per invalid byte
        } else {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        }
    }
  }
  out.append(s.data() + start, s.size() - start);
}

}  // namespace imgpipe::core
