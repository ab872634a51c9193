#include "app/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace imgpipe::app {
namespace {

TEST(ConfigTest, DefaultsWithNothingGiven) {
  auto c = LoadConfig({}, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen, "127.0.0.1:8080");
  EXPECT_EQ(c->data_dir, "./imgpipe-data");
  EXPECT_EQ(c->render_cache_mb, 256u);
}

TEST(ConfigTest, ParsesTomlSubset) {
  auto v = ParseToml(
      "# comment\nlisten = \"0.0.0.0:9000\" # trailing\n[http]\nthreads = 4\n"
      "[log]\njson = true\n");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->at("listen"), "0.0.0.0:9000");
  EXPECT_EQ(v->at("http.threads"), "4");
  EXPECT_EQ(v->at("log.json"), "true");
  EXPECT_FALSE(ParseToml("[open\n").ok());
  EXPECT_FALSE(ParseToml("novalue\n").ok());
  EXPECT_FALSE(ParseToml("a = \"unclosed\n").ok());
}

TEST(ConfigTest, FileThenEnvThenFlags) {
  std::string path = "/tmp/imgpipe-config-test-" + std::to_string(::getpid()) + ".toml";
  {
    std::ofstream f(path);
    f << "listen = \"127.0.0.1:1111\"\ndata_dir = \"/from/file\"\nrender_cache_mb = 7\n"
         "[http]\nthreads = 3\nio_threads = 1\n";
  }
  std::map<std::string, std::string> env = {{"IMGPIPE_CONFIG", path},
                                            {"IMGPIPE_DATA_DIR", "/from/env"},
                                            {"IMGPIPE_LISTEN", "127.0.0.1:2222"}};
  std::map<std::string, std::string> flags = {{"listen", "127.0.0.1:3333"}};
  auto c = LoadConfig(flags, env);
  std::remove(path.c_str());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen, "127.0.0.1:3333");  // flag beats env beats file
  EXPECT_EQ(c->data_dir, "/from/env");     // env beats file
  EXPECT_EQ(c->render_cache_mb, 7u);       // file beats default
  EXPECT_EQ(c->http_threads, 3);
  EXPECT_EQ(c->http_io_threads, 1);
}

TEST(ConfigTest, FlagNamesUseDashesAndShortForms) {
  auto c = LoadConfig({{"data-dir", "/d"},
                       {"body-limit-mb", "5"},
                       {"log-level", "debug"},
                       {"database-url", "sqlite:///x.db"}},
                      {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->data_dir, "/d");
  EXPECT_EQ(c->body_limit_mb, 5u);
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->database_url, "sqlite:///x.db");
}

TEST(ConfigTest, WebRootDefaultsToTheSourceTreeAndIsOverridable) {
  auto c = LoadConfig({}, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  // Compiled in as an absolute path, so `imgpipe serve` finds the build from any directory.
  EXPECT_EQ(c->web_root.front(), '/');
  EXPECT_TRUE(c->web_root.ends_with("/web/dist")) << c->web_root;
  auto env = LoadConfig({}, {{"IMGPIPE_WEB_ROOT", "/from/env"}});
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->web_root, "/from/env");
  auto flag = LoadConfig({{"web-root", "/from/flag"}}, {{"IMGPIPE_WEB_ROOT", "/from/env"}});
  ASSERT_TRUE(flag.ok()) << flag.status().ToString();
  EXPECT_EQ(flag->web_root, "/from/flag");
}

TEST(ConfigTest, LogFileAndRetentionFromEachLayer) {
  auto defaults = LoadConfig({}, {});
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->log_file, "");  // stderr only
  EXPECT_EQ(defaults->log_retention_days, 1);

  std::string path = ::testing::TempDir() + "/imgpipe_log_test.toml";
  {
    std::ofstream out(path);
    out << "[log]\nfile = \"/var/log/imgpipe/imgpipe.log\"\nretention_days = 7\n";
  }
  auto file = LoadConfig({{"config", path}}, {});
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->log_file, "/var/log/imgpipe/imgpipe.log");
  EXPECT_EQ(file->log_retention_days, 7);

  auto env = LoadConfig({{"config", path}},
                        {{"IMGPIPE_LOG_FILE", "/env.log"}, {"IMGPIPE_LOG_RETENTION_DAYS", "0"}});
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->log_file, "/env.log");
  EXPECT_EQ(env->log_retention_days, 0);  // 0 = keep every file

  auto flags =
      LoadConfig({{"config", path}, {"log-file", "/flag.log"}, {"log-retention-days", "3"}},
                 {{"IMGPIPE_LOG_FILE", "/env.log"}});
  std::remove(path.c_str());
  ASSERT_TRUE(flags.ok()) << flags.status().ToString();
  EXPECT_EQ(flags->log_file, "/flag.log");
  EXPECT_EQ(flags->log_retention_days, 3);

  EXPECT_FALSE(LoadConfig({{"log-retention-days", "-1"}}, {}).ok());
  EXPECT_FALSE(LoadConfig({{"log-retention-days", "soon"}}, {}).ok());
  EXPECT_FALSE(LoadConfig({}, {{"IMGPIPE_LOG_RETENTION_DAYS", "99999"}}).ok());
}

TEST(ConfigTest, UpstreamPacsSettings) {
  auto defaults = LoadConfig({}, {});
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->pacs_upstream_url, "");
  EXPECT_EQ(defaults->pacs_upstream_timeout_s, 10);
  EXPECT_EQ(defaults->pacs_upstream_authorization, "");
  auto env = LoadConfig({}, {{"IMGPIPE_PACS_UPSTREAM_URL", "http://pacs:8042/dicom-web"},
                             {"IMGPIPE_PACS_UPSTREAM_TIMEOUT_S", "3"},
                             {"IMGPIPE_PACS_UPSTREAM_AUTHORIZATION", "Basic dTpw"}});
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->pacs_upstream_url, "http://pacs:8042/dicom-web");
  EXPECT_EQ(env->pacs_upstream_timeout_s, 3);
  EXPECT_EQ(env->pacs_upstream_authorization, "Basic dTpw");
  EXPECT_FALSE(LoadConfig({}, {{"IMGPIPE_PACS_UPSTREAM_TIMEOUT_S", "0"}}).ok());
}

TEST(ConfigTest, RejectsTyposAndBadValues) {
  EXPECT_FALSE(LoadConfig({{"lisen", "x"}}, {}).ok());
  EXPECT_FALSE(LoadConfig({{"render-cache-mb", "-1"}}, {}).ok());
  EXPECT_FALSE(LoadConfig({{"log-level", "loud"}}, {}).ok());
  EXPECT_FALSE(LoadConfig({}, {{"IMGPIPE_LOG_JSON", "maybe"}}).ok());
  EXPECT_FALSE(LoadConfig({{"config", "/nonexistent/imgpipe.toml"}}, {}).ok());
}

}  // namespace
}  // namespace imgpipe::app

namespace imgpipe::app {
namespace {

TEST(ConfigTest, DicomAeTitlesAreValidated) {
  auto ok = LoadConfig({{"dicom-listen", "127.0.0.1:0"}, {"aet", "MY_SCP"}},
                       {{"IMGPIPE_DICOM_ALLOWED_AETS", "MODALITY1, CT_2"}});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->dicom_listen, "127.0.0.1:0");
  EXPECT_EQ(ok->dicom_aet, "MY_SCP");
  auto too_long = LoadConfig({{"aet", "SEVENTEEN_CHARS_X"}}, {});
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("dicom.aet"), std::string::npos)
      << too_long.status().message();
  EXPECT_FALSE(LoadConfig({{"aet", ""}}, {}).ok());
  EXPECT_FALSE(LoadConfig({{"aet", "A\\B"}}, {}).ok());
  EXPECT_FALSE(LoadConfig({}, {{"IMGPIPE_DICOM_AET", "TAB\tX"}}).ok());
  EXPECT_FALSE(LoadConfig({}, {{"IMGPIPE_DICOM_ALLOWED_AETS", "OK,BAD\\ONE"}}).ok());
}

}  // namespace
}  // namespace imgpipe::app
