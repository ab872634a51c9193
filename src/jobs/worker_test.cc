// The worker pool against real stores (SQLite, or PostgreSQL in worker_postgres_test), the real
// queue service and the PACS holding demo images: outcomes, outputs, retries, dead letters,
// cancellation, leases.
#include "jobs/worker.h"

#include <gtest/gtest.h>

#include <thread>

#include "jobs/test_stores.h"

namespace imgpipe::jobs {
namespace {

using core::Status;
using core::StatusCode;
using namespace std::chrono_literals;

// A test algorithm whose DoRun is a lambda.
class FnAlgorithm : public algorithms::Algorithm {
 public:
  using Fn = std::function<core::Result<algorithms::Output>(const algorithms::Image&,
                                                            const algorithms::RunContext&)>;
  FnAlgorithm(std::string name, Fn fn) : fn_(std::move(fn)) {
    info_.name = std::move(name);
    info_.description = "test";
    info_.scopes = {"image", "series", "study"};
  }
  const algorithms::AlgorithmInfo& info() const override { return info_; }

 protected:
  core::Result<algorithms::Output> DoRun(const algorithms::Image& image, const algorithms::Params&,
                                         const algorithms::RunContext& ctx) const override {
    return fn_(image, ctx);
  }

 private:
  algorithms::AlgorithmInfo info_;
  Fn fn_;
};

algorithms::Output Copy(const algorithms::Image& image) {
  algorithms::Output out;
  out.image = image;
  return out;
}

// Counters the test algorithms share with the tests.
std::atomic<int> g_flaky_runs{0};
std::atomic<int> g_slow_runs{0};
std::atomic<int> g_blocking_started{0};

const algorithms::Registry& TestRegistry() {
  static const algorithms::Registry* registry = [] {
    auto r = algorithms::Registry::WithBuiltIns();
    auto add = [&](std::string name, FnAlgorithm::Fn fn) {
      (void)r->Add(std::make_unique<FnAlgorithm>(std::move(name), std::move(fn)));
    };
    add("unprocessable", [](auto&, auto&) -> core::Result<algorithms::Output> {
      return Status::Unprocessable("this image is not for me");
    });
    add("flaky", [](auto& image, auto&) -> core::Result<algorithms::Output> {
      if (++g_flaky_runs <= 2) return Status::Unavailable("transient trouble");
      return Copy(image);
    });
    add("broken", [](auto&, auto&) -> core::Result<algorithms::Output> {
      return Status::Internal("always broken");
    });
    add("blocking", [](auto&, auto& ctx) -> core::Result<algorithms::Output> {
      ++g_blocking_started;
      while (!ctx.cancelled()) std::this_thread::sleep_for(5ms);
      return Status::Unavailable("cancelled");
    });
    add("slow", [](auto& image, auto&) -> core::Result<algorithms::Output> {
      ++g_slow_runs;
      std::this_thread::sleep_for(1200ms);
      return Copy(image);
    });
    return r.release();
  }();
  return *registry;
}

class WorkerTest : public testing::StoresTest {
 protected:
  WorkerTest() : StoresTest("worker-test") {}

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenStores());
    for (const dicom::DemoFile& f : testing::DemoFiles()) {
      if (f.name.rfind("ct/", 0) != 0 || ct_.size() >= 4) continue;  // 4 CT slices
      ASSERT_NO_FATAL_FAILURE(Ingest(f, &ct_.emplace_back()));
      sources_.push_back(f.bytes);
    }
    g_flaky_runs = 0;
    g_slow_runs = 0;
    g_blocking_started = 0;
  }

  void TearDown() override {
    if (pool_) pool_->Stop();
  }

  // The job service with `queue_options`, and a client.
  void StartJobs(queue::QueueOptions queue_options = {}) {
    JobServiceOptions options;
    options.queue_options = queue_options;
    auto jobs = JobService::Create(*db_, *queues_, *pacs_, options, TestRegistry());
    ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
    jobs_ = std::move(*jobs);
    auto client = jobs_->Provision();
    ASSERT_TRUE(client.ok());
    client_ = *client;
  }

  void StartPool(WorkerOptions options = {}) {
    options.backoff = 20ms;
    options.poll_wait = 200ms;
    options.heartbeat = 50ms;
    auto pool = WorkerPool::Start(*jobs_, *queues_, *pacs_, *blobs_, TestRegistry(), options);
    ASSERT_TRUE(pool.ok()) << pool.status().ToString();
    pool_ = std::move(*pool);
  }

  std::string Submit(std::string algorithm, std::string scope = "image",
                     boost::json::value params = nullptr) {
    SubmitRequest r;
    r.algorithm = std::move(algorithm);
    r.study_id = ct_[0].study_id;
    r.series_id = ct_[0].series_id;
    r.image_id = ct_[0].image_id;
    r.scope = std::move(scope);
    r.client_id = client_;
    r.params = std::move(params);
    auto submitted = jobs_->Submit(r);
    EXPECT_TRUE(submitted.ok()) << submitted.status().ToString();
    return submitted.ok() ? submitted->job.job_id : "";
  }

  // Polls the job until `done` holds (at most 60 s: a failure, not a timing assertion).
  JobRecord WaitFor(const std::string& job_id, const std::function<bool(const JobRecord&)>& done) {
    JobRecord job;
    for (int i = 0; i < 6000; ++i) {
      auto got = jobs_->GetJob(job_id);
      EXPECT_TRUE(got.ok()) << got.status().ToString();
      if (!got.ok()) break;
      job = *got;
      if (done(job)) return job;
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "job " << job_id << " stuck in " << job.status << " " << job.error;
    return job;
  }

  JobRecord WaitTerminal(const std::string& job_id) {
    return WaitFor(job_id, [](const JobRecord& j) { return IsTerminal(j.status); });
  }

  // Every message on the results queue, acknowledged.
  std::vector<boost::json::object> DrainResults() {
    std::vector<boost::json::object> out;
    while (true) {
      queue::ReceiveOptions options;
      options.max_messages = 10;
      auto messages = queues_->Receive(kResultsQueue, options);
      EXPECT_TRUE(messages.ok());
      if (!messages.ok() || messages->empty()) return out;
      for (const auto& m : *messages) {
        EXPECT_EQ(m.group_id, client_);
        out.push_back(boost::json::parse(m.body).as_object());
        EXPECT_TRUE(queues_->Delete(kResultsQueue, m.receipt).ok());
      }
    }
  }

  std::vector<std::string> OutputKeys(const std::string& job_id) {
    std::vector<std::string> keys;
    EXPECT_TRUE(blobs_
                    ->List("results/" + job_id + "/",
                           [&](const blob::BlobInfo& b) {
                             keys.push_back(b.key);
                             return true;
                           })
                    .ok());
    return keys;
  }

  queue::QueueStats StatsOf(const std::string& queue) {
    auto stats = queues_->Stats(queue);
    EXPECT_TRUE(stats.ok());
    return stats.ok() ? *stats : queue::QueueStats{};
  }

  std::unique_ptr<JobService> jobs_;
  std::unique_ptr<WorkerPool> pool_;
  std::vector<pacs::InstanceRecord> ct_;
  std::vector<std::string> sources_;
  std::string client_;
};

TEST_F(WorkerTest, ImageJobWritesOutputsAndPublishesOneResult) {
  StartJobs();
  StartPool();
  std::string id = Submit("threshold", "image", boost::json::parse(R"({"method":"otsu"})"));
  JobRecord job = WaitTerminal(id);
  ASSERT_EQ(job.status, kStatusSucceeded) << job.error;
  EXPECT_EQ(job.attempts, 1);
  EXPECT_GT(job.duration_ms, 0);
  EXPECT_GT(job.finished_at_ms, 0);
  auto outputs = boost::json::parse(job.outputs_json).as_object();
  EXPECT_EQ(outputs.at("image"), boost::json::value("/api/results/" + id + "/image.png"));
  EXPECT_EQ(outputs.at("dicom"), boost::json::value("/api/results/" + id + "/result.dcm"));
  EXPECT_TRUE(outputs.contains("mask"));
  EXPECT_TRUE(outputs.contains("overlay"));
  EXPECT_EQ(outputs.at("seg"), boost::json::value("/api/results/" + id + "/seg.dcm"));
  EXPECT_TRUE(boost::json::parse(job.summary_json).as_object().contains("threshold"));

  auto png = blobs_->Get("results/" + id + "/image.png");
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(png->substr(0, 8), std::string("\x89PNG\r\n\x1a\n"));
  // The derived DICOM: a new instance in a new series of the source's study.
  auto dcm = blobs_->Get("results/" + id + "/result.dcm");
  ASSERT_TRUE(dcm.ok());
  auto info = dicom::ParseInstance(*dcm);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->study_instance_uid, ct_[0].study_id);
  EXPECT_NE(info->series_instance_uid, ct_[0].series_id);
  EXPECT_NE(info->sop_instance_uid, ct_[0].image_id);
  EXPECT_EQ(info->rows, 512);

  auto results = DrainResults();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].at("type"), "result");
  EXPECT_EQ(results[0].at("job_id"), boost::json::value(id));
  EXPECT_EQ(results[0].at("status"), "succeeded");
  EXPECT_EQ(results[0].at("outputs"), boost::json::value(outputs));
  // The request is acknowledged (after the outcome commits: wait for it).
  for (int i = 0; i < 1000 && StatsOf(QueueName("threshold")).deleted == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  queue::QueueStats stats = StatsOf(QueueName("threshold"));
  EXPECT_EQ(stats.visible + stats.in_flight, 0);
  EXPECT_EQ(stats.deleted, 1);
}

TEST_F(WorkerTest, DeidentifyKeepsPixelsAndReplacesIdentity) {
  StartJobs();
  StartPool();
  std::string id = Submit("deidentify");
  JobRecord job = WaitTerminal(id);
  ASSERT_EQ(job.status, kStatusSucceeded) << job.error;
  auto dcm = blobs_->Get("results/" + id + "/result.dcm");
  ASSERT_TRUE(dcm.ok());
  auto info = dicom::ParseInstance(*dcm);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->patient_name, "ANONYMOUS");
  EXPECT_NE(info->study_instance_uid, ct_[0].study_id);
  EXPECT_NE(info->sop_instance_uid, ct_[0].image_id);
  auto a = dicom::DecodeFrame(*dcm, 1);
  auto b = dicom::DecodeFrame(sources_[0], 1);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->pixels, b->pixels);
}

TEST_F(WorkerTest, SeriesJobRunsEveryImageWithProgress) {
  StartJobs();
  WorkerOptions options;
  options.image_parallelism = 2;
  StartPool(options);
  std::string id = Submit("deidentify", "series");
  JobRecord job = WaitTerminal(id);
  ASSERT_EQ(job.status, kStatusSucceeded) << job.error;
  EXPECT_EQ(job.progress_done, 4);
  EXPECT_EQ(job.progress_total, 4);
  auto manifest = blobs_->Get("results/" + id + "/manifest.json");
  ASSERT_TRUE(manifest.ok());
  auto images = boost::json::parse(*manifest).at("images").as_array();
  ASSERT_EQ(images.size(), 4u);
  // One job, one pseudonymous study and series for every image.
  std::set<std::string> studies, series;
  for (int i = 1; i <= 4; ++i) {
    auto dcm = blobs_->Get("results/" + id + "/" + std::to_string(i) + "/result.dcm");
    ASSERT_TRUE(dcm.ok()) << i;
    auto info = dicom::ParseInstance(*dcm);
    ASSERT_TRUE(info.ok());
    studies.insert(info->study_instance_uid);
    series.insert(info->series_instance_uid);
  }
  EXPECT_EQ(studies.size(), 1u);
  EXPECT_EQ(series.size(), 1u);
  auto results = DrainResults();
  ASSERT_GE(results.size(), 2u);  // at least the last progress event, then the result
  EXPECT_EQ(results[results.size() - 2].at("type"), "progress");
  EXPECT_EQ(results[results.size() - 2].at("done"), 4);
  EXPECT_EQ(results.back().at("type"), "result");
  EXPECT_EQ(results.back().at("status"), "succeeded");
}

// A series job's masks: ONE multi-frame SEG at the top level, frame i = image i's mask (the
// threshold's result image is its mask), in the job's own SEG series.
TEST_F(WorkerTest, SeriesSegmentationWritesOneSegForTheSeries) {
  StartJobs();
  StartPool();
  std::string id = Submit("threshold", "series", boost::json::parse(R"({"method":"otsu"})"));
  JobRecord job = WaitTerminal(id);
  ASSERT_EQ(job.status, kStatusSucceeded) << job.error;
  auto outputs = boost::json::parse(job.outputs_json).as_object();
  EXPECT_EQ(outputs.at("seg"), boost::json::value("/api/results/" + id + "/seg.dcm"));
  auto manifest = blobs_->Get("results/" + id + "/manifest.json");
  ASSERT_TRUE(manifest.ok());
  auto segs = boost::json::parse(*manifest).at("segmentations").as_array();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].at("frames"), 4);
  EXPECT_EQ(segs[0].at("series_id"), boost::json::value(ct_[0].series_id));
  auto seg = blobs_->Get("results/" + id + "/seg.dcm");
  ASSERT_TRUE(seg.ok());
  auto info = dicom::ParseInstance(*seg);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->sop_class_uid, "1.2.840.10008.5.1.4.1.1.66.4");
  EXPECT_EQ(info->number_of_frames, 4);
  EXPECT_EQ(info->study_instance_uid, ct_[0].study_id);
  for (int i = 1; i <= 4; ++i) {
    auto result = blobs_->Get("results/" + id + "/" + std::to_string(i) + "/result.dcm");
    ASSERT_TRUE(result.ok());
    auto sc = dicom::ParseInstance(*result);
    ASSERT_TRUE(sc.ok());
    EXPECT_NE(sc->series_instance_uid, info->series_instance_uid);
    auto mask = dicom::DecodeFrame(*result, 1);
    auto frame = dicom::DecodeFrame(*seg, i);
    ASSERT_TRUE(mask.ok() && frame.ok()) << i;
    ASSERT_EQ(mask->pixels.size(), frame->pixels.size());
    size_t differ = 0, inside = 0;
    for (size_t p = 0; p < mask->pixels.size(); ++p) {
      differ += (mask->pixels[p] != 0) != (frame->pixels[p] != 0);
      inside += frame->pixels[p] != 0;
    }
    EXPECT_EQ(differ, 0u) << "frame " << i;
    EXPECT_GT(inside, 0u) << "frame " << i;
  }
  // No per-image SEG.
  EXPECT_FALSE(blobs_->Get("results/" + id + "/1/seg.dcm").ok());
}

TEST_F(WorkerTest, StudySegmentationWritesASegPerSeries) {
  StartJobs();
  StartPool();
  std::string id = Submit("threshold", "study", boost::json::parse(R"({"method":"otsu"})"));
  JobRecord job = WaitTerminal(id);
  ASSERT_EQ(job.status, kStatusSucceeded) << job.error;
  auto outputs = boost::json::parse(job.outputs_json).as_object();
  EXPECT_FALSE(outputs.contains("seg"));
  EXPECT_EQ(outputs.at("seg-1"), boost::json::value("/api/results/" + id + "/seg-1.dcm"));
  auto seg = blobs_->Get("results/" + id + "/seg-1.dcm");
  ASSERT_TRUE(seg.ok());
  auto info = dicom::ParseInstance(*seg);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->number_of_frames, 4);
}

TEST_F(WorkerTest, UnprocessableFailsAtOnceWithoutRetry) {
  StartJobs();
  StartPool();
  std::string id = Submit("unprocessable");
  JobRecord job = WaitTerminal(id);
  EXPECT_EQ(job.status, kStatusFailed);
  EXPECT_EQ(job.error_code, "unprocessable");
  EXPECT_EQ(job.error, "this image is not for me");
  EXPECT_EQ(job.attempts, 1);
  EXPECT_TRUE(OutputKeys(id).empty());
  auto results = DrainResults();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].at("status"), "failed");
  EXPECT_EQ(results[0].at("error").at("code"), "unprocessable");
  EXPECT_EQ(StatsOf(QueueName("unprocessable")).dead_letters, 0);
}

TEST_F(WorkerTest, TransientErrorsAreRetriedUntilSuccess) {
  StartJobs();
  StartPool();
  std::string id = Submit("flaky");
  JobRecord job = WaitTerminal(id);
  EXPECT_EQ(job.status, kStatusSucceeded) << job.error;
  EXPECT_EQ(job.attempts, 3);
  EXPECT_EQ(g_flaky_runs.load(), 3);
  EXPECT_EQ(DrainResults().size(), 1u);
}

TEST_F(WorkerTest, RetriesExhaustedFailTheJobAndDeadLetterTheMessage) {
  queue::QueueOptions q;
  q.max_receive_count = 2;
  StartJobs(q);
  StartPool();
  std::string id = Submit("broken");
  JobRecord job = WaitTerminal(id);
  EXPECT_EQ(job.status, kStatusFailed);
  EXPECT_EQ(job.attempts, 2);
  EXPECT_NE(job.error.find("gave up after 2 attempts"), std::string::npos) << job.error;
  // The next receive moves the message to the dead-letter queue.
  for (int i = 0; i < 500 && StatsOf(QueueName("broken")).dead_letters == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(StatsOf(QueueName("broken")).dead_letters, 1);
  auto results = DrainResults();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].at("status"), "failed");
}

TEST_F(WorkerTest, CancelStopsARunningJobAndPublishesOnce) {
  StartJobs();
  StartPool();
  std::string id = Submit("blocking");
  WaitFor(id, [](const JobRecord& j) { return j.status == kStatusRunning; });
  while (g_blocking_started == 0) std::this_thread::sleep_for(5ms);
  auto cancelled = jobs_->Cancel(id, client_);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  EXPECT_EQ(cancelled->status, kStatusCancelled);
  // The worker acknowledges the message once the run has stopped.
  for (int i = 0; i < 1000 && StatsOf(QueueName("blocking")).deleted == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(StatsOf(QueueName("blocking")).deleted, 1);
  EXPECT_EQ(jobs_->GetJob(id)->status, kStatusCancelled);
  auto results = DrainResults();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].at("status"), "cancelled");
  EXPECT_TRUE(OutputKeys(id).empty());
  // Cancelling again, or someone else's job: refused.
  EXPECT_EQ(jobs_->Cancel(id, client_).status().code(), StatusCode::kConflict);
  EXPECT_EQ(jobs_->Cancel(id, "someone-else").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(jobs_->Cancel("nope", client_).status().code(), StatusCode::kNotFound);
}

TEST_F(WorkerTest, CancelledWhileQueuedNeverRuns) {
  StartJobs();
  std::string id = Submit("slow");
  ASSERT_TRUE(jobs_->Cancel(id, client_).ok());
  StartPool();
  for (int i = 0; i < 1000 && StatsOf(QueueName("slow")).deleted == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(StatsOf(QueueName("slow")).deleted, 1);
  EXPECT_EQ(g_slow_runs.load(), 0);
  EXPECT_EQ(DrainResults().size(), 1u);
}

TEST_F(WorkerTest, AMessageHeldByADeadWorkerIsRunOnceAfterItsLease) {
  queue::QueueOptions q;
  q.visibility_timeout = 1000ms;
  StartJobs(q);
  std::string id = Submit("window_level");
  // A worker that received the message and died: nobody acknowledges or extends it.
  auto held = queues_->Receive(QueueName("window_level"), {});
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(held->size(), 1u);
  StartPool();
  JobRecord job = WaitTerminal(id);
  EXPECT_EQ(job.status, kStatusSucceeded) << job.error;
  EXPECT_EQ(job.attempts, 2);
  EXPECT_EQ(DrainResults().size(), 1u);
  // The dead worker's receipt is stale now.
  EXPECT_EQ(queues_->Delete(QueueName("window_level"), (*held)[0].receipt).code(),
            StatusCode::kNotFound);
}

TEST_F(WorkerTest, HeartbeatKeepsALongRunFromBeingDeliveredTwice) {
  queue::QueueOptions q;
  q.visibility_timeout = 300ms;  // the run takes 1.2 s
  StartJobs(q);
  WorkerOptions options;
  options.concurrency = 2;  // a second receiver would take the message if its lease ran out
  StartPool(options);
  std::string id = Submit("slow");
  JobRecord job = WaitTerminal(id);
  EXPECT_EQ(job.status, kStatusSucceeded);
  EXPECT_EQ(job.attempts, 1);
  EXPECT_EQ(g_slow_runs.load(), 1);
  EXPECT_EQ(DrainResults().size(), 1u);
}

TEST_F(WorkerTest, StopReleasesRunningJobsForAnotherWorker) {
  StartJobs();
  StartPool();
  std::string id = Submit("blocking");
  WaitFor(id, [](const JobRecord& j) { return j.status == kStatusRunning; });
  while (g_blocking_started == 0) std::this_thread::sleep_for(5ms);
  pool_->Stop();
  JobRecord job = *jobs_->GetJob(id);
  EXPECT_EQ(job.status, kStatusQueued);
  queue::QueueStats stats = StatsOf(QueueName("blocking"));
  EXPECT_EQ(stats.visible, 1);
  EXPECT_EQ(stats.in_flight, 0);
  EXPECT_TRUE(DrainResults().empty());
}

TEST_F(WorkerTest, DeadLetteredWithoutAVerdictIsFailedBySweep) {
  queue::QueueOptions q;
  q.max_receive_count = 1;
  q.visibility_timeout = 0ms;
  StartJobs(q);
  std::string id = Submit("window_level");
  // A worker that died on its only delivery; the next receive dead-letters the message.
  auto first = queues_->Receive(QueueName("window_level"), {});
  ASSERT_TRUE(first.ok() && first->size() == 1u);
  auto second = queues_->Receive(QueueName("window_level"), {});
  ASSERT_TRUE(second.ok() && second->empty());
  ASSERT_EQ(StatsOf(QueueName("window_level")).dead_letters, 1);
  WorkerOptions options;
  options.dead_letter_sweep = 50ms;
  StartPool(options);
  JobRecord job = WaitTerminal(id);
  EXPECT_EQ(job.status, kStatusFailed);
  EXPECT_NE(job.error.find("dead-lettered"), std::string::npos) << job.error;
  EXPECT_EQ(DrainResults().size(), 1u);
}

TEST_F(WorkerTest, UnknownAlgorithmAndBadConcurrencyAreRefused) {
  StartJobs();
  WorkerOptions options;
  options.algorithms = {"nope"};
  EXPECT_EQ(
      WorkerPool::Start(*jobs_, *queues_, *pacs_, *blobs_, TestRegistry(), options).status().code(),
      StatusCode::kNotFound);
  options.algorithms = {};
  options.concurrency = 0;
  EXPECT_EQ(
      WorkerPool::Start(*jobs_, *queues_, *pacs_, *blobs_, TestRegistry(), options).status().code(),
      StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace imgpipe::jobs
