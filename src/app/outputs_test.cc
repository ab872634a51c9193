#include "app/outputs.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace imgpipe::app {
namespace {

TEST(OutputsTest, ComputesEveryUrlFromTheBase) {
  const auto& registry = algorithms::Registry::BuiltIn();
  DeploymentOutputs o = ComputeOutputs("http://10.0.0.5:8080", registry);
  EXPECT_EQ(o.api_base, "http://10.0.0.5:8080/api");
  EXPECT_EQ(o.pacs_api_base, "http://10.0.0.5:8080/pacs");
  EXPECT_EQ(o.ws_endpoint, "ws://10.0.0.5:8080/ws");
  EXPECT_EQ(o.dicomweb_base, "http://10.0.0.5:8080/dicomweb");
  EXPECT_EQ(o.results_queue_url, "http://10.0.0.5:8080/api/queues/results");
  ASSERT_EQ(o.queues.size(), registry.List().size());
  EXPECT_EQ(o.queues[0].algorithm, registry.List()[0]->info().name);
  bool found = false;
  for (const AlgorithmQueue& q : o.queues) {
    EXPECT_EQ(q.queue, "algo." + q.algorithm);
    EXPECT_EQ(q.url, "http://10.0.0.5:8080/api/queues/algo." + q.algorithm);
    found = found || q.algorithm == "processing_1";
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(ComputeOutputs("https://x.org", registry).ws_endpoint, "wss://x.org/ws");
}

TEST(OutputsTest, VariablesInPrintOrderWithShellSafeNames) {
  DeploymentOutputs o = ComputeOutputs("http://h:1", algorithms::Registry::BuiltIn());
  auto vars = OutputVariables(o);
  ASSERT_GE(vars.size(), 6u);
  EXPECT_EQ(vars[0].first, "PACS_API_BASE");
  EXPECT_EQ(vars[1].first, "API_BASE");
  EXPECT_EQ(vars[2].first, "WS_ENDPOINT");
  EXPECT_EQ(vars[3].first, "DICOMWEB_BASE");
  EXPECT_EQ(vars[4], std::make_pair(std::string("RESULTS_QUEUE_URL"), o.results_queue_url));
  EXPECT_EQ(vars.size(), 5 + o.queues.size());
  EXPECT_EQ(QueueVariableName("window_level"), "QUEUE_URL_window_level");
  EXPECT_EQ(QueueVariableName("my-filter.v2"), "QUEUE_URL_my_filter_v2");
}

TEST(OutputsTest, JsonHasTheDocumentedShape) {
  DeploymentOutputs o = ComputeOutputs("http://h:1", algorithms::Registry::BuiltIn());
  boost::json::object j = OutputsJson(o, "1.2.3");
  EXPECT_EQ(j.at("api_base"), "http://h:1/api");
  EXPECT_EQ(j.at("results_queue_url"), "http://h:1/api/queues/results");
  EXPECT_EQ(j.at("version"), "1.2.3");
  EXPECT_EQ(j.at("queues").as_object().at("algo.clahe"), "http://h:1/api/queues/algo.clahe");
  const auto& first = j.at("algorithms").as_array().at(0).as_object();
  EXPECT_EQ(first.at("queue_url"), j.at("queues").as_object().at(first.at("queue").as_string()));
}

TEST(OutputsTest, RequestBaseUsesAPlausibleHostHeader) {
  http::Request r;
  EXPECT_EQ(RequestBase(r, "http://127.0.0.1:8080"), "http://127.0.0.1:8080");
  r.headers = {{"host", "pacs.example.org:8443"}};
  EXPECT_EQ(RequestBase(r, "http://127.0.0.1:8080"), "http://pacs.example.org:8443");
  r.headers = {{"host", "[::1]:80"}, {"x-forwarded-proto", "https"}};
  EXPECT_EQ(RequestBase(r, "x"), "https://[::1]:80");
  for (const char* bad : {"", "a/b", "a b", "x@y", "h\"", "h?q"}) {
    r.headers = {{"host", bad}};
    EXPECT_EQ(RequestBase(r, "http://fallback:1"), "http://fallback:1") << bad;
  }
}

}  // namespace
}  // namespace imgpipe::app
