#include "jobs/jobs.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "jobs/test_stores.h"

namespace imgpipe::jobs {
namespace {

using core::StatusCode;

using testing::DemoFiles;

// An algorithm that only takes scope "image", to test the per-algorithm scope check.
class ImageOnlyAlgorithm : public algorithms::Algorithm {
 public:
  ImageOnlyAlgorithm() {
    info_.name = "image_only";
    info_.description = "test algorithm";
    info_.scopes = {"image"};
  }
  const algorithms::AlgorithmInfo& info() const override { return info_; }

 protected:
  core::Result<algorithms::Output> DoRun(const algorithms::Image&, const algorithms::Params&,
                                         const algorithms::RunContext&) const override {
    return core::Status::Internal("not runnable");
  }

 private:
  algorithms::AlgorithmInfo info_;
};

const algorithms::Registry& TestRegistry() {
  static const auto* registry = [] {
    auto* r = new algorithms::Registry();
    (void)r->Add(std::make_unique<ImageOnlyAlgorithm>());
    return r;
  }();
  return *registry;
}

class JobsTest : public testing::StoresTest {
 protected:
  JobsTest() : StoresTest("jobs-test") {}

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenStores());
    images_.resize(2);
    for (size_t i = 0; i < images_.size(); ++i) {
      ASSERT_NO_FATAL_FAILURE(Ingest(DemoFiles()[i], &images_[i]));
    }
    StartService(JobServiceOptions{});
  }

  void StartService(const JobServiceOptions& options,
                    const algorithms::Registry& registry = algorithms::Registry::BuiltIn()) {
    service_.reset();
    auto service = JobService::Create(*db_, *queues_, *pacs_, options, registry);
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    service_ = std::move(*service);
    auto client = service_->Provision();
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = *client;
  }

  SubmitRequest ImageRequest(std::string algorithm = "denoise") const {
    SubmitRequest r;
    r.algorithm = std::move(algorithm);
    r.study_id = images_[0].study_id;
    r.series_id = images_[0].series_id;
    r.image_id = images_[0].image_id;
    r.scope = "image";
    r.client_id = client_;
    return r;
  }

  std::vector<queue::Message> ReceiveAll(std::string_view queue_name) {
    queue::ReceiveOptions options;
    options.max_messages = 10;
    auto messages = queues_->Receive(queue_name, options);
    EXPECT_TRUE(messages.ok()) << messages.status().ToString();
    return messages.ok() ? *messages : std::vector<queue::Message>{};
  }

  int64_t SentTo(std::string_view queue_name) {
    auto stats = queues_->Stats(queue_name);
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
    return stats.ok() ? stats->sent : -1;
  }

  std::unique_ptr<JobService> service_;
  std::vector<pacs::InstanceRecord> images_;
  std::string client_;
};

TEST_F(JobsTest, ProvisionStoresRandomClients) {
  EXPECT_EQ(client_.size(), 22u);
  auto other = service_->Provision();
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, client_);
  for (const std::string& id : {client_, *other}) {
    auto exists = service_->ClientExists(id);
    ASSERT_TRUE(exists.ok());
    EXPECT_TRUE(*exists);
  }
  for (const std::string id : {"", "AAAAAAAAAAAAAAAAAAAAAA", "nope"}) {
    auto exists = service_->ClientExists(id);
    ASSERT_TRUE(exists.ok());
    EXPECT_FALSE(*exists) << id;
  }
}

TEST_F(JobsTest, QueuesExistForEveryAlgorithmAndAlias) {
  auto names = queues_->ListQueues();
  ASSERT_TRUE(names.ok());
  for (const algorithms::Algorithm* a : algorithms::Registry::BuiltIn().List()) {
    EXPECT_NE(std::find(names->begin(), names->end(), QueueName(a->info().name)), names->end())
        << a->info().name;
  }
  EXPECT_NE(std::find(names->begin(), names->end(), "algo.processing_1"), names->end());
}

TEST_F(JobsTest, SubmitCreatesJobAndExactlyOneMessage) {
  SubmitRequest request = ImageRequest();
  request.params = boost::json::object{{"sigma", 2.5}};
  auto submitted = service_->Submit(request);
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  const JobRecord& job = submitted->job;
  EXPECT_FALSE(submitted->existing);
  EXPECT_EQ(job.job_id.size(), 36u);
  EXPECT_EQ(job.status, "queued");
  EXPECT_EQ(job.client_id, client_);
  EXPECT_EQ(job.image_id, images_[0].image_id);
  EXPECT_GT(job.created_at_ms, 0);

  auto stored = service_->GetJob(job.job_id);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->algorithm, "denoise");
  EXPECT_EQ(stored->study_id, images_[0].study_id);
  EXPECT_EQ(stored->series_id, images_[0].series_id);
  EXPECT_EQ(stored->image_id, images_[0].image_id);
  EXPECT_EQ(stored->scope, "image");
  EXPECT_EQ(stored->status, "queued");
  EXPECT_EQ(stored->created_at_ms, job.created_at_ms);
  EXPECT_EQ(stored->updated_at_ms, job.created_at_ms);
  EXPECT_TRUE(stored->error.empty());
  // The stored params are the validated ones: the given sigma plus the defaults.
  boost::json::value params = boost::json::parse(stored->params_json);
  ASSERT_TRUE(params.is_object());
  EXPECT_EQ(params.at("sigma").as_double(), 2.5);
  EXPECT_GT(params.as_object().size(), 1u);

  auto messages = ReceiveAll("algo.denoise");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].group_id, client_);
  EXPECT_EQ(messages[0].dedup_id, job.job_id);
  EXPECT_EQ(boost::json::parse(messages[0].body).at("job_id").as_string(), job.job_id);
  EXPECT_EQ(SentTo("algo.clahe"), 0);
}

TEST_F(JobsTest, WiderScopesStoreOnlyTheirIds) {
  SubmitRequest series = ImageRequest();
  series.scope = "series";
  auto a = service_->Submit(series);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->job.series_id, images_[0].series_id);
  EXPECT_TRUE(a->job.image_id.empty());

  SubmitRequest study = ImageRequest();
  study.scope = "study";
  study.series_id = "garbage";
  auto b = service_->Submit(study);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->job.study_id, images_[0].study_id);
  EXPECT_TRUE(b->job.series_id.empty());
  EXPECT_EQ(ReceiveAll("algo.denoise").size(), 2u);
}

TEST_F(JobsTest, EveryValidationErrorHasItsCodeAndLeavesNothing) {
  struct Case {
    std::string what;
    std::function<void(SubmitRequest&)> change;
    StatusCode code;
  };
  const std::vector<Case> cases = {
      {"unknown client", [](SubmitRequest& r) { r.client_id = "AAAAAAAAAAAAAAAAAAAAAA"; },
       StatusCode::kUnauthenticated},
      {"no client", [](SubmitRequest& r) { r.client_id.clear(); }, StatusCode::kUnauthenticated},
      {"unknown algorithm", [](SubmitRequest& r) { r.algorithm = "nope"; }, StatusCode::kNotFound},
      {"bad scope", [](SubmitRequest& r) { r.scope = "frame"; }, StatusCode::kInvalidArgument},
      {"unknown param",
       [](SubmitRequest& r) {
         r.params = boost::json::object{{"nope", 1}};
       },
       StatusCode::kInvalidArgument},
      {"param out of range",
       [](SubmitRequest& r) {
         r.params = boost::json::object{{"sigma", 1000}};
       },
       StatusCode::kInvalidArgument},
      {"params not an object", [](SubmitRequest& r) { r.params = 5; },
       StatusCode::kInvalidArgument},
      {"image id not a UID", [](SubmitRequest& r) { r.image_id = "x/../y"; },
       StatusCode::kInvalidArgument},
      {"missing series id", [](SubmitRequest& r) { r.series_id.clear(); },
       StatusCode::kInvalidArgument},
      {"unknown image", [](SubmitRequest& r) { r.image_id = "1.2.3.4"; }, StatusCode::kNotFound},
      {"image of another series", [](SubmitRequest& r) { r.series_id = "1.2.3.4"; },
       StatusCode::kNotFound},
      {"unknown series",
       [](SubmitRequest& r) {
         r.scope = "series";
         r.series_id = "1.2.3.4";
       },
       StatusCode::kNotFound},
      {"unknown study",
       [](SubmitRequest& r) {
         r.scope = "study";
         r.study_id = "1.2.3.4";
       },
       StatusCode::kNotFound},
      {"bad idempotency key", [](SubmitRequest& r) { r.idempotency_key = "with space"; },
       StatusCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    SubmitRequest request = ImageRequest();
    c.change(request);
    auto result = service_->Submit(request);
    ASSERT_FALSE(result.ok()) << c.what;
    EXPECT_EQ(result.status().code(), c.code) << c.what << ": " << result.status().ToString();
  }
  auto jobs = service_->ListJobs(client_, 100);
  ASSERT_TRUE(jobs.ok());
  EXPECT_TRUE(jobs->empty());
  EXPECT_EQ(SentTo("algo.denoise"), 0);
}

TEST_F(JobsTest, ScopeMustBeAcceptedByTheAlgorithm) {
  StartService(JobServiceOptions{}, TestRegistry());
  SubmitRequest request = ImageRequest("image_only");
  request.scope = "series";
  auto refused = service_->Submit(request);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  request.scope = "image";
  auto accepted = service_->Submit(request);
  ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
  EXPECT_EQ(ReceiveAll("algo.image_only").size(), 1u);
}

TEST_F(JobsTest, IdempotencyKeyReturnsTheFirstJobAndSendsOnce) {
  SubmitRequest request = ImageRequest();
  request.idempotency_key = "key-1";
  auto first = service_->Submit(request);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->existing);
  request.image_id = images_[1].image_id;  // even a different body returns the first job
  auto again = service_->Submit(request);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->existing);
  EXPECT_EQ(again->job.job_id, first->job.job_id);
  EXPECT_EQ(again->job.image_id, images_[0].image_id);

  // Another client's equal key is its own job.
  auto other = service_->Provision();
  ASSERT_TRUE(other.ok());
  request.client_id = *other;
  auto theirs = service_->Submit(request);
  ASSERT_TRUE(theirs.ok()) << theirs.status().ToString();
  EXPECT_FALSE(theirs->existing);
  EXPECT_NE(theirs->job.job_id, first->job.job_id);

  EXPECT_EQ(SentTo("algo.denoise"), 2);
  auto messages = ReceiveAll("algo.denoise");
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].dedup_id, client_ + ":key-1");
}

TEST_F(JobsTest, ConcurrentSubmitsWithOneKeyMakeOneJob) {
  constexpr int kThreads = 6;
  std::vector<std::string> ids(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      SubmitRequest request = ImageRequest();
      request.idempotency_key = "same";
      auto r = service_->Submit(request);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ids[i] = r->job.job_id;
    });
  }
  for (auto& t : threads) t.join();
  for (const std::string& id : ids) EXPECT_EQ(id, ids[0]);
  EXPECT_FALSE(ids[0].empty());
  EXPECT_EQ(SentTo("algo.denoise"), 1);
  auto jobs = service_->ListJobs(client_, 100);
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->size(), 1u);
}

TEST_F(JobsTest, JobAndMessageCommitTogether) {
  // The queue already holds this client's dedup id (as if a job row had been lost): the send
  // inside the transaction is a duplicate, so the job row inserted before it must roll back.
  queue::OutgoingMessage stray{"{}", client_, client_ + ":key-2"};
  ASSERT_TRUE(queues_->Send("algo.denoise", stray).ok());
  SubmitRequest request = ImageRequest();
  request.idempotency_key = "key-2";
  auto result = service_->Submit(request);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kConflict);
  auto jobs = service_->ListJobs(client_, 100);
  ASSERT_TRUE(jobs.ok());
  EXPECT_TRUE(jobs->empty());
  EXPECT_EQ(SentTo("algo.denoise"), 1);
}

// Finish with the request's receipt: the outcome, its result message and the ack commit
// together; a stale receipt (the message went to another worker) does not stop the outcome, and a
// job finished already still has its message acknowledged.
TEST_F(JobsTest, FinishAcknowledgesTheRequestWithTheOutcome) {
  const std::string queue = QueueName("denoise");
  auto first = service_->Submit(ImageRequest());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto held = ReceiveAll(queue);
  ASSERT_EQ(held.size(), 1u);
  ASSERT_TRUE(service_->StartRun(first->job.job_id, 1).ok());
  JobOutcome outcome;
  outcome.status = std::string(kStatusSucceeded);
  auto finished =
      service_->Finish(first->job.job_id, outcome, JobService::MessageAck{queue, held[0].receipt});
  ASSERT_TRUE(finished.ok()) << finished.status().ToString();
  EXPECT_TRUE(*finished);
  auto stats = queues_->Stats(queue);
  EXPECT_EQ(stats->deleted, 1);
  EXPECT_EQ(stats->in_flight, 0);
  EXPECT_EQ(service_->GetJob(first->job.job_id)->status, kStatusSucceeded);
  EXPECT_EQ(ReceiveAll(kResultsQueue).size(), 1u);

  // Stale: recorded all the same, and nothing deleted.
  auto second = service_->Submit(ImageRequest());
  ASSERT_TRUE(second.ok());
  auto second_held = ReceiveAll(queue);
  ASSERT_EQ(second_held.size(), 1u);
  finished =
      service_->Finish(second->job.job_id, outcome, JobService::MessageAck{queue, "stale-receipt"});
  ASSERT_TRUE(finished.ok()) << finished.status().ToString();
  EXPECT_TRUE(*finished);
  EXPECT_EQ(queues_->Stats(queue)->deleted, 1);
  ASSERT_TRUE(queues_->Delete(queue, second_held[0].receipt).ok());

  // Terminal already (cancelled while it ran): false, and the message acknowledged all the same.
  auto third = service_->Submit(ImageRequest());
  ASSERT_TRUE(third.ok());
  auto third_held = ReceiveAll(queue);
  ASSERT_EQ(third_held.size(), 1u);
  ASSERT_TRUE(service_->Cancel(third->job.job_id, client_).ok());
  finished = service_->Finish(third->job.job_id, outcome,
                              JobService::MessageAck{queue, third_held[0].receipt});
  ASSERT_TRUE(finished.ok()) << finished.status().ToString();
  EXPECT_FALSE(*finished);
  EXPECT_EQ(queues_->Stats(queue)->deleted, 3);
  EXPECT_EQ(service_->GetJob(third->job.job_id)->status, kStatusCancelled);
}

TEST_F(JobsTest, FullQueueIsResourceExhausted) {
  JobServiceOptions options;
  options.max_queue_depth = 2;
  StartService(options);
  ASSERT_TRUE(service_->Submit(ImageRequest()).ok());
  ASSERT_TRUE(service_->Submit(ImageRequest()).ok());
  auto refused = service_->Submit(ImageRequest());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("algo.denoise"), std::string::npos);
  // Other queues are not affected.
  EXPECT_TRUE(service_->Submit(ImageRequest("clahe")).ok());
  // A received message is in flight, not waiting: room for one more.
  queue::ReceiveOptions one;
  auto received = queues_->Receive("algo.denoise", one);
  ASSERT_TRUE(received.ok());
  ASSERT_EQ(received->size(), 1u);
  EXPECT_TRUE(service_->Submit(ImageRequest()).ok());
}

TEST_F(JobsTest, GetAndListJobs) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r = service_->Submit(ImageRequest());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ids.push_back(r->job.job_id);
  }
  auto jobs = service_->ListJobs(client_, 2);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ((*jobs)[0].job_id, ids[2]);  // newest first
  EXPECT_EQ((*jobs)[1].job_id, ids[1]);

  auto other = service_->Provision();
  ASSERT_TRUE(other.ok());
  auto none = service_->ListJobs(*other, 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  EXPECT_EQ(service_->ListJobs("unknown", 10).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(service_->ListJobs(client_, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->GetJob("no-such-job").status().code(), StatusCode::kNotFound);
}

// Recipients (SubmitRequest::notify_clients): every result and progress message goes to the
// owner and once to each recipient, grouped by that client and with its own deduplication id;
// a recipient may read the job, a stranger may not, and only the owner cancels.
TEST_F(JobsTest, RecipientsGetEveryMessageAndMayReadTheJob) {
  auto reader = service_->Provision();
  auto stranger = service_->Provision();
  ASSERT_TRUE(reader.ok() && stranger.ok());
  SubmitRequest r = ImageRequest();
  r.notify_clients = {*reader, *reader, client_};  // duplicates and the owner are dropped
  auto submitted = service_->Submit(r);
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  const JobRecord& job = submitted->job;
  auto recipients = service_->Recipients(job.job_id);
  ASSERT_TRUE(recipients.ok());
  EXPECT_EQ(*recipients, std::vector<std::string>{*reader});
  EXPECT_TRUE(*service_->MayRead(job, client_));
  EXPECT_TRUE(*service_->MayRead(job, *reader));
  EXPECT_FALSE(*service_->MayRead(job, *stranger));
  EXPECT_FALSE(*service_->MayRead(job, ""));
  auto received = service_->ListJobs(*reader, 10);  // listed for its recipients too
  ASSERT_TRUE(received.ok()) << received.status().ToString();
  ASSERT_EQ(received->size(), 1u);
  EXPECT_EQ((*received)[0].job_id, job.job_id);
  EXPECT_EQ(service_->ListJobs(*reader, 10, "succeeded")->size(), 0u);
  EXPECT_TRUE(service_->ListJobs(*stranger, 10)->empty());

  auto started = service_->StartRun(job.job_id, 1);
  ASSERT_TRUE(started.ok() && started->has_value());
  ASSERT_TRUE(service_->ReportProgress(job.job_id, 1, 2).ok());
  JobOutcome outcome;
  outcome.status = std::string(kStatusSucceeded);
  outcome.outputs["image"] = "/api/results/" + job.job_id + "/image.png";
  auto finished = service_->Finish(job.job_id, outcome);
  ASSERT_TRUE(finished.ok() && *finished);

  std::map<std::string, std::vector<std::pair<std::string, std::string>>> by_group;
  for (int round = 0; round < 3; ++round) {
    for (const queue::Message& m : ReceiveAll(kResultsQueue)) {
      auto body = boost::json::parse(m.body).as_object();
      by_group[m.group_id].emplace_back(std::string(body.at("type").as_string()), m.dedup_id);
      ASSERT_TRUE(queues_->Delete(kResultsQueue, m.receipt).ok());
    }
  }
  ASSERT_EQ(by_group.size(), 2u);
  const auto& own = by_group[client_];
  const auto& theirs = by_group[*reader];
  ASSERT_EQ(own.size(), 2u);
  ASSERT_EQ(theirs.size(), 2u);
  EXPECT_EQ(own[0].first, "progress");
  EXPECT_EQ(own[1], std::make_pair(std::string("result"), job.job_id));
  EXPECT_EQ(theirs[0].first, "progress");
  EXPECT_EQ(theirs[0].second, own[0].second + ":" + *reader);
  EXPECT_EQ(theirs[1], std::make_pair(std::string("result"), job.job_id + ":" + *reader));
}

TEST_F(JobsTest, RecipientsMustBeKnownAndOnlyTheOwnerCancels) {
  auto reader = service_->Provision();
  ASSERT_TRUE(reader.ok());
  SubmitRequest r = ImageRequest();
  r.notify_clients = {*reader, "no-such-client"};
  const int64_t sent = SentTo(QueueName("denoise"));
  EXPECT_EQ(service_->Submit(r).status().code(), StatusCode::kInvalidArgument);
  r.notify_clients.assign(kMaxRecipients + 1, *reader);
  EXPECT_EQ(service_->Submit(r).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SentTo(QueueName("denoise")), sent);  // nothing queued by a refused submit

  r.notify_clients = {*reader};
  auto submitted = service_->Submit(r);
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  EXPECT_EQ(service_->Cancel(submitted->job.job_id, *reader).status().code(),
            StatusCode::kPermissionDenied);
  auto cancelled = service_->Cancel(submitted->job.job_id, client_);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  std::set<std::string> groups;
  for (const queue::Message& m : ReceiveAll(kResultsQueue)) groups.insert(m.group_id);
  EXPECT_EQ(groups, (std::set<std::string>{client_, *reader}));  // the cancel result to both
}

}  // namespace
}  // namespace imgpipe::jobs
