#include "app/client_common.h"

#include <gtest/gtest.h>

namespace imgpipe::app::client {
namespace {

TEST(ClientArgsTest, ParsesValuesBooleansAndRepeats) {
  std::string error;
  auto args = ParseArgs(
      {"clahe", "--study", "S", "--param=a=1", "--param", "b=x", "--json", "--scope=series"},
      {"study", "param", "scope"}, {"json"}, &error);
  ASSERT_TRUE(args) << error;
  EXPECT_EQ(args->positional, std::vector<std::string>{"clahe"});
  EXPECT_EQ(args->Get("study"), "S");
  EXPECT_EQ(args->Get("scope"), "series");
  EXPECT_EQ(args->flags.at("param"), (std::vector<std::string>{"a=1", "b=x"}));
  EXPECT_TRUE(args->Has("json"));
  EXPECT_FALSE(args->Get("image"));
}

TEST(ClientArgsTest, UsageErrorsNameTheFlag) {
  std::string error;
  EXPECT_FALSE(ParseArgs({"--study"}, {"study"}, {}, &error));
  EXPECT_EQ(error, "--study needs a value");
  EXPECT_FALSE(ParseArgs({"--bogus", "1"}, {"study"}, {}, &error));
  EXPECT_EQ(error, "unknown flag --bogus");
  EXPECT_FALSE(ParseArgs({"--json=yes"}, {}, {"json"}, &error));
  EXPECT_EQ(error, "--json takes no value");
}

TEST(ClientEndpointsTest, FromTheEnvironmentElseTheListenAddress) {
  Config config;
  config.listen = "0.0.0.0:9000";
  std::string error;
  auto defaults = ResolveEndpoints(config, {}, &error);
  ASSERT_TRUE(defaults) << error;
  EXPECT_EQ(defaults->api_base, "http://127.0.0.1:9000/api");
  EXPECT_EQ(defaults->ws_endpoint, "ws://127.0.0.1:9000/ws");
  EXPECT_EQ(defaults->origin, "http://127.0.0.1:9000");

  auto api_only = ResolveEndpoints(config, {{"API_BASE", "http://pacs.lan:81/api/"}}, &error);
  ASSERT_TRUE(api_only) << error;
  EXPECT_EQ(api_only->api_base, "http://pacs.lan:81/api");
  EXPECT_EQ(api_only->ws_endpoint, "ws://pacs.lan:81/ws");
  EXPECT_EQ(api_only->origin, "http://pacs.lan:81");

  auto both = ResolveEndpoints(
      config, {{"API_BASE", "http://a:1/api"}, {"WS_ENDPOINT", "ws://b:2/ws"}}, &error);
  ASSERT_TRUE(both) << error;
  EXPECT_EQ(both->ws_endpoint, "ws://b:2/ws");

  EXPECT_FALSE(ResolveEndpoints(config, {{"API_BASE", "https://a/api"}}, &error));
  EXPECT_NE(error.find("API_BASE"), std::string::npos);
  EXPECT_FALSE(ResolveEndpoints(config, {{"WS_ENDPOINT", "http://a/ws"}}, &error));
  EXPECT_NE(error.find("WS_ENDPOINT"), std::string::npos);
  config.listen = "nonsense";
  EXPECT_FALSE(ResolveEndpoints(config, {}, &error));
}

TEST(ClientUrlEncodeTest, KeepsOnlyUnreserved) {
  EXPECT_EQ(UrlEncode("abc-._~XYZ09"), "abc-._~XYZ09");
  EXPECT_EQ(UrlEncode("a b/c?d&e=f"), "a%20b%2Fc%3Fd%26e%3Df");
  EXPECT_EQ(UrlEncode("\xff"), "%FF");
}

}  // namespace
}  // namespace imgpipe::app::client
