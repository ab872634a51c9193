// The engine on a real database, queues and job service, with injected clocks: no sleeping.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "blob/blob_store.h"
#include "core/temp_dir.h"
#include "db/test_database.h"
#include "dicom/dicom.h"
#include "rules/rules.h"

namespace imgpipe::rules {
namespace {

using core::StatusCode;

const std::vector<dicom::DemoFile>& Demo() {
  static const auto* files = new std::vector<dicom::DemoFile>(dicom::MakeDemoDataset());
  return *files;
}

std::vector<const dicom::DemoFile*> Files(std::string_view prefix) {
  std::vector<const dicom::DemoFile*> out;
  for (const auto& f : Demo()) {
    if (f.name.starts_with(prefix)) out.push_back(&f);
  }
  return out;
}

constexpr std::string_view kRules = R"({"rules":[
  {"name":"chest-ct","when":{"Modality":"CT","BodyPartExamined":"chest"},
   "algorithm":"threshold","params":{"method":"hu_range","preset":"lung"},"quiet_seconds":10},
  {"name":"any-mr","when":{"Modality":"MR"},"algorithm":"denoise","quiet_seconds":10}
]})";

class RuleServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = db::testing::OpenTestDatabase(dir_.path());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    blobs_ = blob::NewMemBlobStore();
    pacs::PacsOptions pacs_options;
    pacs_options.now_ms = [this] { return now_.load(); };
    auto pacs = pacs::Pacs::Open(*db_, *blobs_, pacs_options);
    ASSERT_TRUE(pacs.ok()) << pacs.status().ToString();
    pacs_ = std::move(*pacs);
    auto queues = queue::NewSqlQueueService(*db_);
    ASSERT_TRUE(queues.ok()) << queues.status().ToString();
    queues_ = std::move(*queues);
    auto jobs = jobs::JobService::Create(*db_, *queues_, *pacs_);
    ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
    jobs_ = std::move(*jobs);
  }

  std::unique_ptr<RuleService> NewService() {
    auto rules = ParseRules(kRules, algorithms::Registry::BuiltIn());
    EXPECT_TRUE(rules.ok()) << rules.status().ToString();
    RuleServiceOptions options;
    options.now_ms = [this] { return now_.load(); };
    auto service = RuleService::Create(*db_, *jobs_, *pacs_, std::move(*rules), options);
    EXPECT_TRUE(service.ok()) << service.status().ToString();
    return service.ok() ? std::move(*service) : nullptr;
  }

  void Ingest(const dicom::DemoFile* f) {
    auto r = pacs_->Ingest(f->bytes);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  int Tick(RuleService& s, int64_t at) {
    auto fired = s.Tick(at);
    EXPECT_TRUE(fired.ok()) << fired.status().ToString();
    return fired.ok() ? *fired : -1;
  }

  std::vector<jobs::JobRecord> JobsOf(const std::string& client) {
    auto list = jobs_->ListJobs(client, 100);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    return list.ok() ? *list : std::vector<jobs::JobRecord>{};
  }

  core::TempDir dir_{"rules-test"};
  std::atomic<int64_t> now_{1'000};
  std::unique_ptr<db::Database> db_;
  std::unique_ptr<blob::BlobStore> blobs_;
  std::unique_ptr<pacs::Pacs> pacs_;
  std::unique_ptr<queue::QueueService> queues_;
  std::unique_ptr<jobs::JobService> jobs_;
};

TEST_F(RuleServiceTest, FiresOnceWhenAMatchingSeriesGoesQuiet) {
  Ingest(Files("mr/")[0]);  // t=1000, before the rules exist: never processed
  now_ = 2'000;
  auto service = NewService();
  ASSERT_TRUE(service->Activate().ok());
  const std::string ct_client = service->RuleClient("chest-ct");
  ASSERT_FALSE(ct_client.empty());
  EXPECT_NE(ct_client, service->RuleClient("any-mr"));
  auto subscriber = jobs_->Provision();
  ASSERT_TRUE(subscriber.ok());
  ASSERT_TRUE(service->Subscribe("chest-ct", *subscriber).ok());
  ASSERT_TRUE(service->Subscribe("chest-ct", *subscriber).ok());  // idempotent

  const auto ct = Files("ct/");
  now_ = 3'000;
  Ingest(ct[0]);
  Ingest(Files("dx/")[0]);  // DX, CHEST: not a CT
  now_ = 4'000;
  Ingest(ct[1]);
  EXPECT_EQ(Tick(*service, 13'999), 0);  // quiet for 9.999 s only
  EXPECT_TRUE(JobsOf(ct_client).empty());
  EXPECT_EQ(Tick(*service, 14'000), 1);
  EXPECT_EQ(Tick(*service, 15'000), 0);  // already fired
  auto jobs = JobsOf(ct_client);
  ASSERT_EQ(jobs.size(), 1u);
  const jobs::JobRecord& job = jobs[0];
  EXPECT_EQ(job.algorithm, "threshold");
  EXPECT_EQ(job.scope, "series");
  auto ct_again = pacs_->Ingest(ct[0]->bytes);  // a re-ingest: moves nothing, tells the ids
  ASSERT_TRUE(ct_again.ok());
  EXPECT_EQ(job.series_id, ct_again->instance.series_id);
  EXPECT_NE(job.params_json.find("\"lung\""), std::string::npos);
  EXPECT_EQ(*jobs_->Recipients(job.job_id), std::vector<std::string>{*subscriber});
  EXPECT_TRUE(JobsOf(service->RuleClient("any-mr")).empty());  // the MR predates the rule

  // More instances after the firing: no second job.
  now_ = 30'000;
  Ingest(ct[2]);
  EXPECT_EQ(Tick(*service, 60'000), 0);
  EXPECT_EQ(JobsOf(ct_client).size(), 1u);

  auto firings = service->Firings("chest-ct", 10);
  ASSERT_TRUE(firings.ok()) << firings.status().ToString();
  ASSERT_EQ(firings->size(), 1u);
  EXPECT_EQ((*firings)[0].job_id, job.job_id);
  EXPECT_EQ((*firings)[0].series_id, job.series_id);
  EXPECT_TRUE((*firings)[0].error.empty());
  EXPECT_EQ(service->Firings("nope", 10).status().code(), StatusCode::kNotFound);
}

// A new MR series after the rule exists fires it; a restarted service keeps the rule's client and
// first-seen time and fires nothing twice.
TEST_F(RuleServiceTest, RestartKeepsTheRuleAndFiresNothingTwice) {
  auto service = NewService();
  ASSERT_TRUE(service->Activate().ok());
  const std::string mr_client = service->RuleClient("any-mr");
  now_ = 5'000;
  for (const auto* f : Files("mr/")) Ingest(f);
  EXPECT_EQ(Tick(*service, 16'000), 1);
  service.reset();

  auto again = NewService();
  ASSERT_TRUE(again->Activate().ok());
  EXPECT_EQ(again->RuleClient("any-mr"), mr_client);
  EXPECT_EQ(Tick(*again, 100'000), 0);
  EXPECT_EQ(JobsOf(mr_client).size(), 1u);
}

// Several engines on one database (several api processes) fire each series once.
TEST_F(RuleServiceTest, ConcurrentEnginesFireEachSeriesOnce) {
  std::vector<std::unique_ptr<RuleService>> engines;
  for (int i = 0; i < 3; ++i) {
    engines.push_back(NewService());
    ASSERT_TRUE(engines.back()->Activate().ok());
  }
  const std::string ct_client = engines[0]->RuleClient("chest-ct");
  for (const auto& e : engines) EXPECT_EQ(e->RuleClient("chest-ct"), ct_client);
  now_ = 3'000;
  for (const auto* f : Files("ct/")) Ingest(f);
  for (const auto* f : Files("mr/")) Ingest(f);
  std::vector<std::thread> threads;
  for (auto& e : engines) {
    threads.emplace_back([&e] {
      for (int64_t t = 13'000; t < 13'010; ++t) EXPECT_TRUE(e->Tick(t).ok());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(JobsOf(ct_client).size(), 1u);
  EXPECT_EQ(JobsOf(engines[0]->RuleClient("any-mr")).size(), 1u);
  auto firings = engines[0]->Firings("chest-ct", 10);
  ASSERT_TRUE(firings.ok());
  EXPECT_EQ(firings->size(), 1u);
}

// A temporary refusal (a full queue) is not a firing: the series is tried again on later passes.
TEST_F(RuleServiceTest, AFullQueueDelaysTheFiring) {
  jobs::JobServiceOptions options;
  options.max_queue_depth = 1;
  auto jobs = jobs::JobService::Create(*db_, *queues_, *pacs_, options);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  jobs_ = std::move(*jobs);
  auto service = NewService();
  ASSERT_TRUE(service->Activate().ok());
  now_ = 3'000;
  for (const auto* f : Files("ct/")) Ingest(f);
  // Someone else's threshold job fills algo.threshold.
  auto other = jobs_->Provision();
  ASSERT_TRUE(other.ok());
  jobs::SubmitRequest filler;
  filler.algorithm = "threshold";
  filler.scope = "series";
  auto ct = pacs_->Ingest(Files("ct/")[0]->bytes);
  ASSERT_TRUE(ct.ok());
  filler.study_id = ct->instance.study_id;
  filler.series_id = ct->instance.series_id;
  filler.client_id = *other;
  ASSERT_TRUE(jobs_->Submit(filler).ok());

  EXPECT_EQ(Tick(*service, 20'000), 0);
  EXPECT_TRUE(service->Firings("chest-ct", 10)->empty());
  queue::ReceiveOptions receive;
  auto held = queues_->Receive(jobs::QueueName("threshold"), receive);
  ASSERT_TRUE(held.ok() && held->size() == 1u);
  ASSERT_TRUE(queues_->Delete(jobs::QueueName("threshold"), (*held)[0].receipt).ok());
  EXPECT_EQ(Tick(*service, 21'000), 1);
  EXPECT_EQ(JobsOf(service->RuleClient("chest-ct")).size(), 1u);
}

TEST_F(RuleServiceTest, Subscriptions) {
  auto service = NewService();
  auto client = jobs_->Provision();
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(service->Subscribe("nope", *client).code(), StatusCode::kNotFound);
  EXPECT_EQ(service->Subscribe("any-mr", "unknown-client").code(), StatusCode::kUnauthenticated);
  ASSERT_TRUE(service->Subscribe("any-mr", *client).ok());
  ASSERT_TRUE(service->Subscribe("chest-ct", *client).ok());
  EXPECT_EQ(*service->Subscriptions(*client), (std::vector<std::string>{"any-mr", "chest-ct"}));
  ASSERT_TRUE(service->Unsubscribe("any-mr", *client).ok());
  ASSERT_TRUE(service->Unsubscribe("any-mr", *client).ok());  // a no-op
  EXPECT_EQ(*service->Subscriptions(*client), std::vector<std::string>{"chest-ct"});
  EXPECT_EQ(service->Unsubscribe("nope", *client).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace imgpipe::rules
