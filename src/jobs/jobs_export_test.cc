// JobService's export side (jobs.h "Exports"): Submit's check, the rows and messages Finish and
// Cancel settle in their transaction, and the exporter's updates. Runs on SQLite and, in
// jobs_postgres_test, on PostgreSQL.
#include <gtest/gtest.h>

#include <set>

#include "jobs/jobs.h"
#include "jobs/test_stores.h"

namespace imgpipe::jobs {
namespace {

using core::StatusCode;

ExportUpdate Update(std::string status, int attempts, std::string error = {}, int sent = 0) {
  ExportUpdate u;
  u.status = std::move(status);
  u.attempts = attempts;
  u.error = std::move(error);
  u.sent = sent;
  return u;
}

class JobsExportTest : public testing::StoresTest {
 protected:
  JobsExportTest() : StoresTest("jobs-export-test") {}

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenStores());
    ASSERT_NO_FATAL_FAILURE(Ingest(testing::DemoFiles()[0], &image_));
    JobServiceOptions options;
    options.export_destinations = {"pacs", "web"};
    auto service = JobService::Create(*db_, *queues_, *pacs_, options);
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    service_ = std::move(*service);
    auto client = service_->Provision();
    ASSERT_TRUE(client.ok());
    client_ = *client;
  }

  SubmitRequest Request(std::vector<std::string> export_to) const {
    SubmitRequest r;
    r.algorithm = "denoise";
    r.study_id = image_.study_id;
    r.series_id = image_.series_id;
    r.image_id = image_.image_id;
    r.scope = "image";
    r.client_id = client_;
    r.export_to = std::move(export_to);
    return r;
  }

  // Submits, and moves the job to running as a worker would.
  std::string Started(std::vector<std::string> export_to) {
    auto submitted = service_->Submit(Request(std::move(export_to)));
    EXPECT_TRUE(submitted.ok()) << submitted.status().ToString();
    if (!submitted.ok()) return "";
    auto run = service_->StartRun(submitted->job.job_id, 1);
    EXPECT_TRUE(run.ok() && run->has_value());
    return submitted->job.job_id;
  }

  std::vector<queue::Message> ReceiveAll(std::string_view queue_name) {
    queue::ReceiveOptions options;
    options.max_messages = 10;
    auto messages = queues_->Receive(queue_name, options);
    EXPECT_TRUE(messages.ok()) << messages.status().ToString();
    return messages.ok() ? *messages : std::vector<queue::Message>{};
  }

  std::vector<ExportRecord> Exports(const std::string& job_id) {
    auto job = service_->GetJob(job_id);
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    return job.ok() ? job->exports : std::vector<ExportRecord>{};
  }

  std::unique_ptr<JobService> service_;
  pacs::InstanceRecord image_;
  std::string client_;
};

TEST_F(JobsExportTest, SubmitStoresWaitingExportsAndSendsNoExportMessage) {
  auto submitted = service_->Submit(Request({"web", "pacs"}));
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  std::vector<ExportRecord> exports = Exports(submitted->job.job_id);
  ASSERT_EQ(exports.size(), 2u);
  EXPECT_EQ(exports[0].destination, "pacs");  // by name
  EXPECT_EQ(exports[1].destination, "web");
  for (const ExportRecord& e : exports) {
    EXPECT_EQ(e.status, "waiting");
    EXPECT_EQ(e.attempts, 0);
    EXPECT_GT(e.updated_at_ms, 0);
  }
  auto listed = service_->ListJobs(client_, 10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].exports.size(), 2u);
  EXPECT_TRUE(ReceiveAll(kExportQueue).empty());
}

TEST_F(JobsExportTest, UnknownOrRepeatedDestinationsAreRefusedAndLeaveNothing) {
  for (const std::vector<std::string>& to :
       {std::vector<std::string>{"nowhere"}, std::vector<std::string>{"pacs", "pacs"},
        std::vector<std::string>{""}}) {
    auto refused = service_->Submit(Request(to));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("destination"), std::string::npos)
        << refused.status().message();
  }
  // The order of checks: a missing image is found before an unknown destination.
  SubmitRequest both = Request({"nowhere"});
  both.image_id = "1.2.3.4";
  EXPECT_EQ(service_->Submit(both).status().code(), StatusCode::kNotFound);
  auto jobs = service_->ListJobs(client_, 10);
  ASSERT_TRUE(jobs.ok());
  EXPECT_TRUE(jobs->empty());
  auto stats = queues_->Stats("algo.denoise");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->sent, 0);
}

TEST_F(JobsExportTest, SucceededJobQueuesOneMessagePerDestinationInFinish) {
  const std::string job_id = Started({"pacs", "web"});
  JobOutcome outcome;
  outcome.status = std::string(kStatusSucceeded);
  auto finished = service_->Finish(job_id, outcome);
  ASSERT_TRUE(finished.ok() && *finished);
  for (const ExportRecord& e : Exports(job_id)) EXPECT_EQ(e.status, "queued") << e.destination;
  // A group per export: both are deliverable at once.
  std::vector<queue::Message> messages = ReceiveAll(kExportQueue);
  ASSERT_EQ(messages.size(), 2u);
  std::set<std::string> dedups;
  for (const queue::Message& m : messages) {
    auto body = boost::json::parse(m.body).as_object();
    EXPECT_EQ(body.at("job_id").as_string(), job_id);
    EXPECT_EQ(m.dedup_id, job_id + ":" + std::string(body.at("destination").as_string()));
    EXPECT_EQ(m.group_id, m.dedup_id);
    dedups.insert(m.dedup_id);
  }
  EXPECT_EQ(dedups, (std::set<std::string>{job_id + ":pacs", job_id + ":web"}));
  // A second Finish (a redelivered job message) changes nothing and sends nothing.
  auto again = service_->Finish(job_id, outcome);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  auto stats = queues_->Stats(kExportQueue);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->sent, 2);
}

TEST_F(JobsExportTest, FailedAndCancelledJobsSkipTheirExports) {
  const std::string failed = Started({"pacs"});
  JobOutcome outcome;
  outcome.status = std::string(kStatusFailed);
  outcome.error_code = "unprocessable";
  outcome.error_message = "no pixels";
  ASSERT_TRUE(service_->Finish(failed, outcome).ok());
  ASSERT_EQ(Exports(failed).size(), 1u);
  EXPECT_EQ(Exports(failed)[0].status, "skipped");

  auto queued = service_->Submit(Request({"web"}));
  ASSERT_TRUE(queued.ok());
  auto cancelled = service_->Cancel(queued->job.job_id, client_);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  ASSERT_EQ(cancelled->exports.size(), 1u);
  EXPECT_EQ(cancelled->exports[0].status, "skipped");
  auto stats = queues_->Stats(kExportQueue);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->sent, 0);
}

TEST_F(JobsExportTest, UpdatesMoveTheExportOnAndAFinalOnePublishesAnEvent) {
  const std::string job_id = Started({"pacs", "web"});
  JobOutcome outcome;
  outcome.status = std::string(kStatusSucceeded);
  ASSERT_TRUE(service_->Finish(job_id, outcome).ok());
  std::vector<queue::Message> result = ReceiveAll(kResultsQueue);
  ASSERT_EQ(result.size(), 1u);  // the job's result, acknowledged (it would hold back its group)
  ASSERT_TRUE(queues_->Delete(kResultsQueue, result[0].receipt).ok());

  auto sending = service_->UpdateExport(job_id, "pacs", Update("sending", 1));
  ASSERT_TRUE(sending.ok() && *sending);
  auto retrying =
      service_->UpdateExport(job_id, "pacs", Update("retrying", 1, "connection refused"));
  ASSERT_TRUE(retrying.ok() && *retrying);
  auto record = service_->GetExport(job_id, "pacs");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->status, "retrying");
  EXPECT_EQ(record->error, "connection refused");
  EXPECT_TRUE(ReceiveAll(kResultsQueue).empty());  // no event before a final status

  auto sent = service_->UpdateExport(job_id, "pacs", Update("sent", 2, "", 1));
  ASSERT_TRUE(sent.ok() && *sent);
  auto failed =
      service_->UpdateExport(job_id, "web", Update("failed", 5, "gave up after 5 attempts"));
  ASSERT_TRUE(failed.ok() && *failed);
  std::vector<queue::Message> events = ReceiveAll(kResultsQueue);
  ASSERT_EQ(events.size(), 2u);  // one per final status, in order, on the client's group
  const std::pair<const char*, const char*> expected[] = {{"pacs", "sent"}, {"web", "failed"}};
  for (size_t i = 0; i < 2; ++i) {
    auto event = boost::json::parse(events[i].body).as_object();
    EXPECT_EQ(event.at("type").as_string(), "export");
    EXPECT_EQ(event.at("job_id").as_string(), job_id);
    EXPECT_EQ(event.at("destination").as_string(), expected[i].first);
    EXPECT_EQ(event.at("status").as_string(), expected[i].second);
    EXPECT_EQ(events[i].group_id, client_);
  }
  EXPECT_EQ(boost::json::parse(events[0].body).at("sent").as_int64(), 1);
  EXPECT_EQ(boost::json::parse(events[1].body).at("error").as_string(), "gave up after 5 attempts");

  // Final statuses stay; the job stays succeeded.
  auto late = service_->UpdateExport(job_id, "pacs", Update("retrying", 3));
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(*late);
  std::vector<ExportRecord> exports = Exports(job_id);
  ASSERT_EQ(exports.size(), 2u);
  EXPECT_EQ(exports[0].status, "sent");
  EXPECT_EQ(exports[0].sent, 1);
  EXPECT_EQ(exports[1].status, "failed");
  EXPECT_EQ(exports[1].error, "gave up after 5 attempts");
  EXPECT_EQ(service_->GetJob(job_id)->status, "succeeded");

  EXPECT_EQ(service_->GetExport(job_id, "other").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->UpdateExport(job_id, "web", Update("queued", 0)).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace imgpipe::jobs
