// Logging: JSON lines stay valid JSON whatever the message holds, structured fields appear where
// they are set, and the daily file rotates and deletes what is past the retention.
#include "core/log.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/log_file.h"
#include "core/temp_dir.h"

namespace imgpipe::core {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::system_clock;

// The local date of `t` minus `days_before` days, as the daily file names carry it.
std::string LocalDate(Clock::time_point t, int days_before = 0) {
  using namespace std::chrono;
  std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  year_month_day ymd(
      sys_days(year_month_day(year(tm.tm_year + 1900), month(tm.tm_mon + 1), day(tm.tm_mday))) -
      days(days_before));
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return text;
}

std::vector<std::string> ReadLines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void Touch(const fs::path& path) { std::ofstream(path) << "old\n"; }

// Logs to a file in a fresh folder for one test, then back to stderr only.
class LogFileTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(InitLogging({}).ok()); }

  Status Init(bool json, int retention_days = 1) {
    return InitLogging(
        {.level = "debug", .json = json, .file = file_, .retention_days = retention_days});
  }
  fs::path Today() const {
    return fs::path(dir_.path()) / ("app_" + LocalDate(Clock::now()) + ".log");
  }
  // The lines written so far to today's file.
  std::vector<std::string> Lines() {
    spdlog::default_logger()->flush();
    return ReadLines(Today());
  }

  TempDir dir_{"log-test"};
  std::string file_ = dir_.path() + "/app.log";
};

TEST_F(LogFileTest, JsonLinesAreValidJsonWhateverTheMessageHolds) {
  ASSERT_TRUE(Init(/*json=*/true).ok());
  const std::vector<std::string> messages = {
      "plain",
      "quotes \" and \\ backslash",
      "new\nline\r\ttab",
      std::string("nul \0 and \x01\x1f\x7f", 13),
      "valid UTF-8: caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
      "invalid: \xC3 \xFF \x80 \xED\xA0\x80 \xC0\xAF \xF4\x90\x80\x80 end \xE2\x82",
  };
  for (const std::string& m : messages) spdlog::info("{}", m);
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), messages.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    boost::system::error_code ec;
    json::value v = json::parse(lines[i], ec);  // strict: rejects invalid UTF-8 too
    ASSERT_FALSE(ec) << lines[i];
    const json::object& o = v.as_object();
    EXPECT_EQ(o.at("level"), "info");
    EXPECT_EQ(o.at("req"), "-");
    EXPECT_TRUE(o.contains("ts"));
    EXPECT_FALSE(o.contains("job_id"));  // unset fields are omitted
    EXPECT_FALSE(o.contains("client"));
    if (i < 5) {
      EXPECT_EQ(o.at("msg").as_string(), messages[i]);
    }
  }
  EXPECT_EQ(json::parse(lines[5]).at("msg").as_string(),
            "invalid: \xEF\xBF\xBD \xEF\xBF\xBD \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD "
            "\xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD end "
            "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_F(LogFileTest, JsonLinesCarryScopedFields) {
  ASSERT_TRUE(Init(/*json=*/true).ok());
  {
    ScopedRequestId request("r1");
    ScopedLogFields job({.job_id = "J1", .client = "c0ffee00", .extra = {{"seq", 42}}});
    spdlog::info("outer");
    {
      ScopedLogFields inner({.job_id = "J2", .extra = {{"seq", 43}, {"conn", "1.2.3.4:5 \"x\""}}});
      spdlog::warn("inner");
    }
    spdlog::info("outer again");
  }
  spdlog::info("none");
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 4u);
  json::object outer = json::parse(lines[0]).as_object();
  EXPECT_EQ(outer.at("req"), "r1");
  EXPECT_EQ(outer.at("job_id"), "J1");
  EXPECT_EQ(outer.at("client"), "c0ffee00");
  EXPECT_EQ(outer.at("seq"), 42);  // a number, not a string
  EXPECT_EQ(outer.at("msg"), "outer");
  json::object inner = json::parse(lines[1]).as_object();
  EXPECT_EQ(inner.at("level"), "warning");
  EXPECT_EQ(inner.at("job_id"), "J2");
  EXPECT_EQ(inner.at("client"), "c0ffee00");  // inherited from the outer scope
  EXPECT_EQ(inner.at("seq"), 43);             // the inner key replaces the outer one
  EXPECT_EQ(inner.at("conn"), "1.2.3.4:5 \"x\"");
  EXPECT_EQ(inner.size(), 8u);  // ts, level, req, job_id, client, msg, seq, conn: no duplicate
  EXPECT_EQ(json::parse(lines[2]).at("job_id"), "J1");
  json::object none = json::parse(lines[3]).as_object();
  EXPECT_FALSE(none.contains("job_id"));
  EXPECT_FALSE(none.contains("seq"));
  EXPECT_EQ(none.at("req"), "-");
}

TEST_F(LogFileTest, TextLinesShowFields) {
  ASSERT_TRUE(Init(/*json=*/false).ok());
  {
    ScopedRequestId request("r9");
    ScopedLogFields fields(
        {.job_id = "J", .client = "abcd1234", .extra = {{"seq", 7}, {"reason", "closed by peer"}}});
    spdlog::info("pushed");
  }
  spdlog::info("bare");
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find(" info [r9] pushed job_id=J client=abcd1234 seq=7 "
                          "reason=\"closed by peer\""),
            std::string::npos)
      << lines[0];
  EXPECT_TRUE(lines[1].ends_with("[-] bare")) << lines[1];
}

TEST_F(LogFileTest, StartDeletesDailyFilesPastTheRetention) {
  fs::path dir(dir_.path());
  auto now = Clock::now();
  for (int days : {1, 2, 5, 400}) Touch(dir / ("app_" + LocalDate(now, days) + ".log"));
  Touch(dir / "other.log");
  Touch(dir / "app_not-a-date.log");
  Touch(dir / ("app_" + LocalDate(now, 5) + ".txt"));  // another extension: not ours
  ASSERT_TRUE(Init(/*json=*/true, /*retention_days=*/1).ok());
  EXPECT_TRUE(fs::exists(Today()));
  EXPECT_TRUE(fs::exists(dir / ("app_" + LocalDate(now, 1) + ".log")));
  EXPECT_FALSE(fs::exists(dir / ("app_" + LocalDate(now, 2) + ".log")));
  EXPECT_FALSE(fs::exists(dir / ("app_" + LocalDate(now, 5) + ".log")));
  EXPECT_FALSE(fs::exists(dir / ("app_" + LocalDate(now, 400) + ".log")));
  EXPECT_TRUE(fs::exists(dir / "other.log"));
  EXPECT_TRUE(fs::exists(dir / "app_not-a-date.log"));
  EXPECT_TRUE(fs::exists(dir / ("app_" + LocalDate(now, 5) + ".txt")));
}

TEST_F(LogFileTest, RetentionZeroKeepsEveryFile) {
  fs::path old = fs::path(dir_.path()) / ("app_" + LocalDate(Clock::now(), 30) + ".log");
  Touch(old);
  ASSERT_TRUE(Init(/*json=*/true, /*retention_days=*/0).ok());
  EXPECT_TRUE(fs::exists(old));
  EXPECT_EQ(internal::PruneDailyLogs(file_, Clock::now(), 0), 0);
  EXPECT_TRUE(fs::exists(old));
}

// A line dated two days ahead (the logger's clock is the line's time) rotates to that day's file
// and prunes as midnight would, without waiting a day.
TEST_F(LogFileTest, RotationOpensTheNewDaysFileAndPrunes) {
  ASSERT_TRUE(Init(/*json=*/true, /*retention_days=*/1).ok());
  spdlog::info("today");
  ASSERT_EQ(Lines().size(), 1u);
  auto later = Clock::now() + std::chrono::hours(48);
  spdlog::default_logger()->log(later, spdlog::source_loc{}, spdlog::level::info, "later");
  spdlog::default_logger()->flush();
  fs::path later_file = fs::path(dir_.path()) / ("app_" + LocalDate(later) + ".log");
  std::vector<std::string> lines = ReadLines(later_file);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(json::parse(lines[0]).at("msg"), "later");
  EXPECT_FALSE(fs::exists(Today()));  // more than one day before the new day
}

TEST_F(LogFileTest, UnopenableFileIsAnErrorAndKeepsTheLogger) {
  Touch(fs::path(dir_.path()) / "plain-file");
  Status st = InitLogging({.file = dir_.path() + "/plain-file/sub/app.log"});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cannot open log file"), std::string::npos);
  spdlog::info("still logging");  // the previous logger is in place
}

TEST(LogTest, JsonEscape) {
  EXPECT_EQ(JsonEscape("a\"b\\\n\x01"), "a\\\"b\\\\\\n\\u0001");
  EXPECT_EQ(JsonEscape("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(JsonEscape("\xC3"), "\\ufffd");
  EXPECT_EQ(JsonEscape("a\xFF"
                       "b"),
            "a\\ufffdb");
  EXPECT_EQ(JsonEscape("\xE0\x80\x80"), "\\ufffd\\ufffd\\ufffd");  // overlong
}

}  // namespace
}  // namespace imgpipe::core
