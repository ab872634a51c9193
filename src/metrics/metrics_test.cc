#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>
#include <vector>

namespace imgpipe::metrics {
namespace {

TEST(MetricsTest, CounterFamilyRendersHelpTypeAndLabelledSamples) {
  Registry registry;
  auto& requests = registry.CounterFamily("imgpipe_test_requests_total", "Requests served.",
                                          {"route", "status"});
  requests.Labels({"/api/jobs", "200"}).Inc();
  requests.Labels({"/api/jobs", "200"}).Inc(2);
  requests.Labels({"/api/jobs/{job_id}", "404"}).Inc();
  EXPECT_EQ(registry.Render(),
            "# HELP imgpipe_test_requests_total Requests served.\n"
            "# TYPE imgpipe_test_requests_total counter\n"
            "imgpipe_test_requests_total{route=\"/api/jobs\",status=\"200\"} 3\n"
            "imgpipe_test_requests_total{route=\"/api/jobs/{job_id}\",status=\"404\"} 1\n");
}

TEST(MetricsTest, LabelValuesAndHelpAreEscaped) {
  Registry registry;
  registry.GaugeFamily("g", "line one\\two\nthree", {"v"}).Labels({"a\"b\\c\nd"}).Set(1.5);
  EXPECT_EQ(registry.Render(),
            "# HELP g line one\\\\two\\nthree\n# TYPE g gauge\ng{v=\"a\\\"b\\\\c\\nd\"} 1.5\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry registry;
  auto& h = registry.HistogramFamily("lat_seconds", "Latency.", {}, {0.1, 1}).Get();
  h.Observe(0.05);
  h.Observe(0.1);  // le is inclusive
  h.Observe(0.5);
  h.Observe(7);
  EXPECT_EQ(registry.Render(),
            "# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{le=\"0.1\"} 2\nlat_seconds_bucket{le=\"1\"} 3\n"
            "lat_seconds_bucket{le=\"+Inf\"} 4\nlat_seconds_sum 7.65\nlat_seconds_count 4\n");
}

TEST(MetricsTest, SameNameReturnsSameFamilyAndMismatchesThrow) {
  Registry registry;
  auto& a = registry.CounterFamily("c_total", "C.", {"x"});
  auto& b = registry.CounterFamily("c_total", "C.", {"x"});
  EXPECT_EQ(&a, &b);
  EXPECT_THROW(registry.CounterFamily("c_total", "C.", {"y"}), std::logic_error);
  EXPECT_THROW(registry.GaugeFamily("c_total", "C.", {"x"}), std::logic_error);
  EXPECT_THROW(a.Labels({"1", "2"}), std::logic_error);
}

TEST(MetricsTest, CollectorsRunAtEachRenderUntilTheirHandleGoes) {
  Registry registry;
  int calls = 0;
  {
    CollectorHandle handle = registry.AddCollector([&calls](Exposition& out) {
      ++calls;
      out.Add("q_depth", "Depth.", Type::kGauge, {{{{"queue", "results"}}, 4}});
      out.Add("q_depth", "Depth.", Type::kGauge, {{{{"queue", "algo.x"}}, 2}});
    });
    EXPECT_EQ(registry.Render(),
              "# HELP q_depth Depth.\n# TYPE q_depth gauge\nq_depth{queue=\"results\"} 4\n"
              "q_depth{queue=\"algo.x\"} 2\n");
    CollectorHandle moved = std::move(handle);
    registry.Render();
  }
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(registry.Render(), "");
  EXPECT_EQ(calls, 2);
}

TEST(MetricsTest, ValuesFormatAsPrometheusExpects) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(12345678901), "12345678901");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(1e300), "1e+300");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(0.0 / 0.0), "NaN");
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry registry;
  auto& family = registry.CounterFamily("n_total", "N.", {"t"});
  auto& h = registry.HistogramFamily("h_seconds", "H.", {}, LatencyBuckets()).Get();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        family.Labels({"same"}).Inc();
        h.Observe(0.001);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(family.Labels({"same"}).Value(), 40000);
  EXPECT_EQ(h.Read().count, 40000u);
  EXPECT_NEAR(h.Read().sum, 40.0, 1e-6);
}

TEST(MetricsTest, ProcessCollectorReportsTheStandardMetrics) {
  Registry registry;
  CollectorHandle handle = AddProcessCollector(registry);
  std::string text = registry.Render();
  for (const char* name : {"process_resident_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_cpu_seconds_total", "process_start_time_seconds"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + name), std::string::npos) << name;
  }
  // RSS is at least a megabyte for any process linked with the C++ runtime and gtest.
  size_t at = text.find("\nprocess_resident_memory_bytes ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_GT(std::stod(text.substr(at + 31)), 1e6);
}

}  // namespace
}  // namespace imgpipe::metrics
