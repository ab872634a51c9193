#include "core/log_file.h"

#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/daily_file_sink.h>

#include <ctime>
#include <filesystem>
#include <mutex>
#include <system_error>

namespace imgpipe::core::internal {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

std::tm LocalTm(Clock::time_point t) {
  std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  return tm;
}

// "YYYY-MM-DD" of the local date `days_before` days before `t`'s.
std::string LocalDate(Clock::time_point t, int days_before) {
  std::tm tm = LocalTm(t);
  using namespace std::chrono;
  sys_days day = sys_days(year_month_day(year(tm.tm_year + 1900), month(tm.tm_mon + 1),
                                         std::chrono::day(tm.tm_mday))) -
                 days(days_before);
  year_month_day ymd(day);
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return text;
}

// The next local midnight after `t`.
Clock::time_point NextMidnight(Clock::time_point t) {
  std::tm tm = LocalTm(t);
  tm.tm_hour = 0;
  tm.tm_min = 0;
  tm.tm_sec = 0;
  tm.tm_mday += 1;
  tm.tm_isdst = -1;
  return Clock::from_time_t(std::mktime(&tm));
}

bool IsDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

// spdlog's daily sink (writing, rotation) behind one lock, pruning at each local midnight.
class RetainingDailySink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  RetainingDailySink(std::string path, int retention_days)
      : path_(std::move(path)),
        retention_days_(retention_days),
        inner_(path_, /*rotation_hour=*/0, /*rotation_minute=*/0) {
    Clock::time_point now = Clock::now();
    PruneDailyLogs(path_, now, retention_days_);
    next_prune_ = NextMidnight(now);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    inner_.log(msg);  // opens the new day's file first when the line's date passed midnight
    if (msg.time >= next_prune_) {
      next_prune_ = NextMidnight(msg.time);
      PruneDailyLogs(path_, msg.time, retention_days_);
    }
  }
  void flush_() override { inner_.flush(); }
  void set_pattern_(const std::string& pattern) override { inner_.set_pattern(pattern); }
  void set_formatter_(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_.set_formatter(std::move(formatter));
  }

 private:
  const std::string path_;
  const int retention_days_;
  spdlog::sinks::daily_file_sink_st inner_;
  Clock::time_point next_prune_;
};

}  // namespace

Result<std::shared_ptr<spdlog::sinks::sink>> NewDailyFileSink(const std::string& path,
                                                              int retention_days) {
  try {
    return std::shared_ptr<spdlog::sinks::sink>(
        std::make_shared<RetainingDailySink>(path, retention_days));
  } catch (const std::exception& e) {  // spdlog reports a file it cannot open by throwing
    return Status::Unavailable("cannot open log file " + path + ": " + e.what());
  }
}

int PruneDailyLogs(const std::string& path, Clock::time_point now, int retention_days) {
  if (retention_days <= 0) return 0;
  // The same split spdlog's daily sink names its files with.
  auto [base, ext] = spdlog::details::file_helper::split_by_extension(path);
  fs::path base_path(base);
  const std::string prefix = base_path.filename().string() + "_";
  fs::path dir = base_path.parent_path();
  if (dir.empty()) dir = ".";
  const std::string cutoff = LocalDate(now, retention_days);
  int deleted = 0;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.size() != prefix.size() + 10 + ext.size() || !name.starts_with(prefix) ||
        !name.ends_with(ext)) {
      continue;
    }
    std::string date = name.substr(prefix.size(), 10);
    if (!IsDate(date) || date >= cutoff) continue;
    std::error_code remove_ec;
    if (fs::remove(entry.path(), remove_ec)) ++deleted;
  }
  return deleted;
}

}  // namespace imgpipe::core::internal
