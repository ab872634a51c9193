// ExportPool end to end on SQLite: a job finished with exports, its DICOM outputs in the blob
// store, and a local HTTP server standing in for a STOW-RS service (failing first, then storing).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <mutex>
#include <thread>

#include "exporter/exporter.h"
#include "jobs/test_stores.h"

namespace imgpipe::exporter {
namespace {

class ExportPoolTest : public jobs::testing::StoresTest {
 protected:
  ExportPoolTest() : StoresTest("export-pool-test") {}

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenStores());
    ASSERT_NO_FATAL_FAILURE(Ingest(jobs::testing::DemoFiles()[0], &image_));

    // The fake STOW-RS service: answers 503 to the first `failures_` requests, then 200.
    auto router = std::make_shared<http::Router>();
    router->Add("POST", "/dicom-web/studies", [this](http::Request& r) {
      std::lock_guard lock(mu_);
      bodies_.push_back(r.body);
      content_types_.emplace_back(r.Header("content-type").value_or(""));
      if (static_cast<int>(bodies_.size()) <= failures_) {
        return http::Response::Json(503, "{}");
      }
      return http::Response::Json(200, "{}");
    });
    http::ServerOptions options;
    options.port = 0;
    options.threads = 2;
    auto server = http::Server::Start(options, router);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    base_ = "http://127.0.0.1:" + std::to_string(server_->port()) + "/dicom-web";
  }

  void TearDown() override {
    if (pool_) pool_->Stop();
    if (server_) server_->Stop();
  }

  void Start(std::vector<Destination> destinations) {
    destinations_ = std::move(destinations);
    jobs::JobServiceOptions options;
    options.export_destinations = Names(destinations_);
    auto service = jobs::JobService::Create(*db_, *queues_, *pacs_, options);
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    jobs_ = std::move(*service);
    ExportOptions export_options;
    export_options.concurrency = 1;
    export_options.poll_wait = std::chrono::milliseconds(50);
    export_options.backoff = std::chrono::milliseconds(10);
    export_options.max_backoff = std::chrono::milliseconds(40);
    if (chunk_bytes_ > 0) export_options.chunk_bytes = chunk_bytes_;
    auto pool = ExportPool::Start(*jobs_, *queues_, *blobs_, destinations_, export_options);
    ASSERT_TRUE(pool.ok()) << pool.status().ToString();
    pool_ = std::move(*pool);
  }

  Destination Web(std::string name, std::string url, int max_attempts) {
    Destination d;
    d.name = std::move(name);
    d.type = DestinationType::kDicomWeb;
    d.url = std::move(url);
    d.max_attempts = max_attempts;
    d.timeout = std::chrono::seconds(5);
    return d;
  }

  // A succeeded job exporting to `to`, with `files` as its DICOM outputs (and a PNG that is not
  // sent).
  std::string FinishedJob(std::vector<std::string> to,
                          const std::vector<std::pair<std::string, std::string>>& files) {
    jobs::SubmitRequest r;
    r.algorithm = "denoise";
    r.study_id = image_.study_id;
    r.series_id = image_.series_id;
    r.image_id = image_.image_id;
    r.scope = "image";
    r.client_id = *jobs_->Provision();
    r.export_to = std::move(to);
    auto submitted = jobs_->Submit(r);
    EXPECT_TRUE(submitted.ok()) << submitted.status().ToString();
    const std::string job_id = submitted->job.job_id;
    for (const auto& [name, bytes] : files) {
      EXPECT_TRUE(blobs_->Put("results/" + job_id + "/" + name, bytes).ok());
    }
    EXPECT_TRUE(blobs_->Put("results/" + job_id + "/image.png", "PNG").ok());
    EXPECT_TRUE(jobs_->StartRun(job_id, 1).ok());
    jobs::JobOutcome outcome;
    outcome.status = std::string(jobs::kStatusSucceeded);
    EXPECT_TRUE(jobs_->Finish(job_id, outcome).ok());
    return job_id;
  }

  // The job once all its exports are final.
  jobs::JobRecord WaitFinal(const std::string& job_id) {
    for (int i = 0; i < 1000; ++i) {
      auto job = jobs_->GetJob(job_id);
      EXPECT_TRUE(job.ok());
      bool all = !job->exports.empty();
      for (const auto& e : job->exports) {
        all = all && (e.status == "sent" || e.status == "failed");
      }
      if (all) return *job;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "exports of " << job_id << " never ended";
    return {};
  }

  std::unique_ptr<jobs::JobService> jobs_;
  std::vector<Destination> destinations_;
  std::unique_ptr<ExportPool> pool_;
  std::unique_ptr<http::Server> server_;
  std::string base_;
  pacs::InstanceRecord image_;

  std::mutex mu_;
  int failures_ = 0;        // set before the pool starts
  size_t chunk_bytes_ = 0;  // set before the pool starts; 0 = the default
  std::vector<std::string> bodies_, content_types_;
};

TEST_F(ExportPoolTest, SendsEveryDicomOutputAfterARetry) {
  failures_ = 1;
  Start({Web("web", base_, 3)});
  const std::string job_id = FinishedJob(
      {"web"}, {{"result.dcm", "DICM-A"}, {"1/result.dcm", "DICM-B"}, {"seg.dcm", "DICM-C"}});
  jobs::JobRecord job = WaitFinal(job_id);
  ASSERT_EQ(job.exports.size(), 1u);
  const jobs::ExportRecord& e = job.exports[0];
  EXPECT_EQ(e.status, "sent");
  EXPECT_EQ(e.attempts, 2);
  EXPECT_EQ(e.sent, 3);
  EXPECT_EQ(job.status, "succeeded");
  std::lock_guard lock(mu_);
  ASSERT_EQ(bodies_.size(), 2u);
  for (const char* part : {"DICM-A", "DICM-B", "DICM-C"}) {
    EXPECT_NE(bodies_[1].find(part), std::string::npos) << part;
  }
  EXPECT_EQ(bodies_[1].find("PNG"), std::string::npos);
  EXPECT_EQ(content_types_[1].rfind("multipart/related; type=\"application/dicom\"; boundary=", 0),
            0u)
      << content_types_[1];
}

TEST_F(ExportPoolTest, OutputsAreReadAndSentInChunks) {
  chunk_bytes_ = 10;  // two 6-byte instances fill a chunk
  Start({Web("web", base_, 1)});
  const std::string job_id = FinishedJob(
      {"web"}, {{"result.dcm", "DICM-A"}, {"1/result.dcm", "DICM-B"}, {"seg.dcm", "DICM-C"}});
  jobs::JobRecord job = WaitFinal(job_id);
  ASSERT_EQ(job.exports.size(), 1u);
  EXPECT_EQ(job.exports[0].status, "sent");
  EXPECT_EQ(job.exports[0].sent, 3);
  std::lock_guard lock(mu_);
  ASSERT_EQ(bodies_.size(), 2u);  // key order: 1/result.dcm, result.dcm | seg.dcm
  EXPECT_NE(bodies_[0].find("DICM-B"), std::string::npos);
  EXPECT_NE(bodies_[0].find("DICM-A"), std::string::npos);
  EXPECT_EQ(bodies_[0].find("DICM-C"), std::string::npos);
  EXPECT_NE(bodies_[1].find("DICM-C"), std::string::npos);
}

TEST_F(ExportPoolTest, GivesUpAfterMaxAttemptsWithTheLastError) {
  failures_ = 100;
  Start({Web("flaky", base_, 2), Web("dead", "http://127.0.0.1:1/dicom-web", 2)});
  const std::string job_id = FinishedJob({"flaky", "dead"}, {{"result.dcm", "DICM"}});
  jobs::JobRecord job = WaitFinal(job_id);
  ASSERT_EQ(job.exports.size(), 2u);
  for (const jobs::ExportRecord& e : job.exports) {
    EXPECT_EQ(e.status, "failed") << e.destination;
    EXPECT_EQ(e.attempts, 2) << e.destination;
    EXPECT_EQ(e.sent, 0);
    EXPECT_EQ(e.error.rfind("gave up after 2 attempts: ", 0), 0u) << e.error;
  }
  EXPECT_NE(job.exports[0].error.find("127.0.0.1:1"), std::string::npos);   // "dead"
  EXPECT_NE(job.exports[1].error.find("answered 503"), std::string::npos);  // "flaky"
  EXPECT_EQ(job.status, "succeeded");
  auto stats = queues_->Stats(jobs::kExportQueue);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->visible + stats->in_flight, 0);
  EXPECT_EQ(stats->dead_letters, 0);
}

TEST_F(ExportPoolTest, AJobWithoutDicomOutputFailsItsExport) {
  Start({Web("web", base_, 1)});
  const std::string job_id = FinishedJob({"web"}, {});
  jobs::JobRecord job = WaitFinal(job_id);
  ASSERT_EQ(job.exports.size(), 1u);
  EXPECT_EQ(job.exports[0].status, "failed");
  EXPECT_NE(job.exports[0].error.find("no DICOM output"), std::string::npos);
}

}  // namespace
}  // namespace imgpipe::exporter
