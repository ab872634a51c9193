// The worker pool: receive loops, the handling of one message (worker.h's steps 1, 5 and 6 and
// the failure rules), the heartbeat and the dead-letter sweep.
#include "jobs/worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/ids.h"
#include "core/log.h"
#include "jobs/worker_internal.h"

namespace imgpipe::jobs {
namespace {

using core::Result;
using core::Status;
using core::StatusCode;
using Clock = std::chrono::steady_clock;

// Errors that a retry cannot fix: the job fails at once.
bool IsPermanent(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kUnprocessable:
    case StatusCode::kUnsupportedMediaType:
    case StatusCode::kPayloadTooLarge:
      return true;
    default:
      return false;
  }
}

std::optional<std::string> JobIdOf(const queue::Message& message) {
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(message.body, ec);
  if (ec || !body.is_object()) return std::nullopt;
  const boost::json::value* id = body.as_object().if_contains("job_id");
  if (id == nullptr || !id->is_string()) return std::nullopt;
  return std::string(id->as_string());
}

JobOutcome Failure(const Status& status, std::string_view prefix = {}) {
  JobOutcome outcome;
  outcome.status = std::string(kStatusFailed);
  outcome.error_code = std::string(core::StatusCodeName(status.code()));
  outcome.error_message = std::string(prefix) + status.message();
  return outcome;
}

}  // namespace

class WorkerPool::Impl {
 public:
  Impl(JobService& jobs, queue::QueueService& queues, pacs::Pacs& pacs, blob::BlobStore& blobs,
       const algorithms::Registry& registry, WorkerOptions options)
      : jobs_(jobs),
        queues_(queues),
        blobs_(blobs),
        options_(std::move(options)),
        env_{jobs, pacs, blobs, registry, options_.image_parallelism} {}

  void Start(const std::vector<std::string>& algorithms) {
    jobs_.SetCancelListener([this](const std::string& job_id) { CancelLocal(job_id); });
    for (const std::string& name : algorithms) {
      queue_names_.push_back(QueueName(name));
      for (int i = 0; i < options_.concurrency; ++i) {
        threads_.emplace_back([this, q = queue_names_.back()] { ReceiveLoop(q); });
      }
    }
    threads_.emplace_back([this] { Housekeeping(); });
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      for (auto& [id, run] : running_) run.cancel->store(true);
    }
    stop_cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    jobs_.SetCancelListener(nullptr);
  }

 private:
  struct Running {
    std::string queue, receipt;
    std::shared_ptr<std::atomic<bool>> cancel;
    Clock::time_point extended;
    bool cancelled_by_client = false;
  };

  bool stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  // Sleeps up to `d`, or less when the pool stops; returns false when stopping.
  bool SleepFor(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return !stop_cv_.wait_for(lock, d, [this] { return stopping_; });
  }

  void ReceiveLoop(const std::string& queue) {
    queue::ReceiveOptions receive;
    receive.max_messages = 1;  // one at a time: a held message's lease must not run out unworked
    receive.wait = options_.poll_wait;
    receive.visibility_timeout = visibility();
    while (!stopping()) {
      Result<std::vector<queue::Message>> messages = queues_.Receive(queue, receive);
      if (!messages.ok()) {
        spdlog::warn("worker: receive from {} failed: {}", queue, messages.status().ToString());
        SleepFor(std::chrono::milliseconds(1'000));
        continue;
      }
      for (const queue::Message& m : *messages) Handle(queue, m);
    }
  }

  std::chrono::milliseconds visibility() const {
    return jobs_.options().queue_options.visibility_timeout;
  }

  std::chrono::milliseconds Backoff(int attempt) const {
    auto d = options_.backoff;
    for (int i = 1; i < attempt && d < options_.max_backoff; ++i) d *= 2;
    return std::min(d, options_.max_backoff);
  }

  void Ack(const std::string& queue, const queue::Message& m) {
    Status st = queues_.Delete(queue, m.receipt);
    // NotFound: the lease ran out and the message was delivered again; that delivery finds the
    // job terminal and acknowledges it.
    if (!st.ok() && st.code() != StatusCode::kNotFound) {
      spdlog::warn("worker: ack on {} failed: {}", queue, st.ToString());
    }
  }

  void Release(const std::string& queue, const queue::Message& m, std::chrono::milliseconds after) {
    Status st = queues_.ChangeVisibility(queue, m.receipt, after);
    if (!st.ok() && st.code() != StatusCode::kNotFound) {
      spdlog::warn("worker: release on {} failed: {}", queue, st.ToString());
    }
  }

  void Handle(const std::string& queue, const queue::Message& m) {
    std::optional<std::string> job_id = JobIdOf(m);
    if (!job_id) {
      spdlog::error("worker: message {} on {} has no job id; dropped", m.message_id, queue);
      Ack(queue, m);
      return;
    }
    core::ScopedLogFields job_fields({.job_id = *job_id});
    Result<std::optional<JobRecord>> started = jobs_.StartRun(*job_id, m.receive_count);
    if (!started.ok()) {
      spdlog::warn("worker: job {} not started: {}", *job_id, started.status().ToString());
      Release(queue, m, Backoff(m.receive_count));
      return;
    }
    if (!*started) {  // missing or already terminal (cancelled, or finished before a crash)
      Ack(queue, m);
      return;
    }
    const JobRecord& job = **started;
    // Every line about the run (here, in the algorithm, in Complete) names the job and client.
    core::ScopedLogFields fields({.client = core::ShortHash(job.client_id)});
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    {
      std::lock_guard lock(mu_);
      if (stopping_) cancel->store(true);
      running_[job.job_id] = Running{queue, m.receipt, cancel, Clock::now(), false};
    }
    spdlog::info("worker: job {} running {} (attempt {})", job.job_id, job.algorithm,
                 m.receive_count);
    Result<JobOutcome> outcome = internal::RunJob(env_, job, *cancel);
    bool by_client = false;
    {
      std::lock_guard lock(mu_);
      by_client = running_[job.job_id].cancelled_by_client;
      running_.erase(job.job_id);
    }
    if (by_client) {  // Cancel already recorded the job and published its result
      (void)internal::DeleteOutputs(blobs_, job.job_id);
      Ack(queue, m);
      return;
    }
    if (!outcome.ok() && cancel->load()) {  // shutting down: someone runs it again, at once
      (void)jobs_.MarkRetrying(job.job_id, "interrupted by a worker shutdown");
      Release(queue, m, std::chrono::milliseconds(0));
      return;
    }
    Complete(queue, m, job, outcome);
  }

  void Complete(const std::string& queue, const queue::Message& m, const JobRecord& job,
                const Result<JobOutcome>& outcome) {
    const int max_receives = jobs_.options().queue_options.max_receive_count;
    JobOutcome verdict;
    bool dead_letter = false;
    if (outcome.ok()) {
      verdict = *outcome;
    } else if (IsPermanent(outcome.status().code())) {
      verdict = Failure(outcome.status());
    } else if (m.receive_count >= max_receives) {
      verdict = Failure(outcome.status(),
                        "gave up after " + std::to_string(m.receive_count) + " attempts: ");
      dead_letter = true;
    } else {
      spdlog::warn("worker: job {} attempt {} failed, will retry: {}", job.job_id, m.receive_count,
                   outcome.status().ToString());
      (void)internal::DeleteOutputs(blobs_, job.job_id);
      (void)jobs_.MarkRetrying(job.job_id, outcome.status().ToString());
      Release(queue, m, Backoff(m.receive_count));
      return;
    }
    if (verdict.status != kStatusSucceeded) (void)internal::DeleteOutputs(blobs_, job.job_id);
    // The request message is acknowledged with the outcome, in its transaction; a dead letter's
    // is released instead, for the queue to move it.
    std::optional<JobService::MessageAck> ack;
    if (!dead_letter) ack = JobService::MessageAck{queue, m.receipt};
    Result<bool> finished = jobs_.Finish(job.job_id, verdict, ack);
    if (!finished.ok()) {  // the verdict is not recorded: run it again later
      spdlog::warn("worker: job {} outcome not recorded: {}", job.job_id,
                   finished.status().ToString());
      Release(queue, m, Backoff(m.receive_count));
      return;
    }
    if (!*finished) {  // cancelled by another process while it ran
      (void)internal::DeleteOutputs(blobs_, job.job_id);
    } else if (verdict.status == kStatusSucceeded) {
      spdlog::info("worker: job {} succeeded in {:.1f} ms", job.job_id, verdict.duration_ms);
    } else {
      spdlog::warn("worker: job {} failed: {}", job.job_id, verdict.error_message);
    }
    if (dead_letter) Release(queue, m, std::chrono::milliseconds(0));  // moved next receive
  }

  void CancelLocal(const std::string& job_id) {
    std::lock_guard lock(mu_);
    auto it = running_.find(job_id);
    if (it == running_.end()) return;
    it->second.cancelled_by_client = true;
    it->second.cancel->store(true);
  }

  void Housekeeping() {
    auto next_sweep = Clock::now();
    while (SleepFor(options_.heartbeat)) {
      Heartbeat();
      if (Clock::now() >= next_sweep) {
        SweepDeadLetters();
        next_sweep = Clock::now() + options_.dead_letter_sweep;
      }
    }
  }

  // Extends the leases of long runs; stops runs cancelled by other processes.
  void Heartbeat() {
    std::vector<std::pair<std::string, std::string>> extend;  // queue, receipt
    std::vector<std::string> ids;
    const auto now = Clock::now();
    {
      std::lock_guard lock(mu_);
      for (auto& [id, run] : running_) {
        ids.push_back(id);
        if (now - run.extended >= visibility() / 3) {
          extend.emplace_back(run.queue, run.receipt);
          run.extended = now;
        }
      }
    }
    for (const auto& [queue, receipt] : extend) {
      Status st = queues_.ChangeVisibility(queue, receipt, visibility());
      if (!st.ok()) spdlog::warn("worker: lease not extended on {}: {}", queue, st.ToString());
    }
    Result<std::vector<std::string>> cancelled = jobs_.CancelledAmong(ids);
    if (!cancelled.ok()) return;
    for (const std::string& id : *cancelled) CancelLocal(id);
  }

  // Jobs whose message was dead-lettered without a verdict (the process died on every attempt).
  void SweepDeadLetters() {
    for (const std::string& queue : queue_names_) {
      Result<std::vector<queue::Message>> letters = queues_.ListDeadLetters(queue, 1000);
      if (!letters.ok()) continue;
      for (const queue::Message& m : *letters) {
        if (swept_.count(m.message_id)) continue;
        std::optional<std::string> job_id = JobIdOf(m);
        if (job_id) {
          Status why = Status::Unavailable("the job's message was dead-lettered after " +
                                           std::to_string(m.receive_count) + " deliveries (" +
                                           m.dead_letter_reason + ")");
          Result<bool> finished = jobs_.Finish(*job_id, Failure(why));
          if (!finished.ok()) continue;  // try again next sweep
          if (*finished) {
            core::ScopedLogFields fields({.job_id = *job_id});
            spdlog::warn("worker: job {} failed: {}", *job_id, why.message());
          }
        }
        swept_.insert(m.message_id);
      }
    }
  }

  JobService& jobs_;
  queue::QueueService& queues_;
  blob::BlobStore& blobs_;
  WorkerOptions options_;
  internal::RunEnv env_;
  std::vector<std::string> queue_names_;
  std::vector<std::thread> threads_;
  std::set<std::string> swept_;  // Housekeeping's thread only

  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::map<std::string, Running> running_;  // by job id
};

WorkerPool::WorkerPool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Stop() {
  if (impl_) impl_->Stop();
}

Result<std::unique_ptr<WorkerPool>> WorkerPool::Start(JobService& jobs, queue::QueueService& queues,
                                                      pacs::Pacs& pacs, blob::BlobStore& blobs,
                                                      const algorithms::Registry& registry,
                                                      const WorkerOptions& options) {
  if (options.concurrency < 1 || options.concurrency > 64) {
    return Status::InvalidArgument("worker concurrency must be within 1..64");
  }
  std::vector<std::string> names = options.algorithms;
  if (names.empty()) {
    for (const algorithms::Algorithm* a : registry.List()) names.push_back(a->info().name);
  }
  for (const std::string& name : names) {
    if (registry.Find(name) == nullptr) return Status::NotFound("unknown algorithm " + name);
  }
  WorkerOptions resolved = options;
  if (resolved.image_parallelism <= 0) {
    resolved.image_parallelism =
        static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  auto impl = std::make_unique<Impl>(jobs, queues, pacs, blobs, registry, resolved);
  impl->Start(names);
  return std::unique_ptr<WorkerPool>(new WorkerPool(std::move(impl)));
}

}  // namespace imgpipe::jobs
