// The export pool: receive loops on the "export" queue, one message's export (exporter.h), and a
// heartbeat extending the leases of long sends.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <mutex>

#include "core/log.h"
#include "core/thread_group.h"
#include "exporter/exporter.h"

namespace imgpipe::exporter {
namespace {

using core::Result;
using core::Status;
using Clock = std::chrono::steady_clock;

struct Target {
  std::string job_id, destination;
};

std::optional<Target> TargetOf(const queue::Message& m) {
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(m.body, ec);
  if (ec || !body.is_object()) return std::nullopt;
  const boost::json::value* job = body.as_object().if_contains("job_id");
  const boost::json::value* dest = body.as_object().if_contains("destination");
  if (job == nullptr || !job->is_string() || dest == nullptr || !dest->is_string()) {
    return std::nullopt;
  }
  return Target{std::string(job->as_string()), std::string(dest->as_string())};
}

// The keys of every DICOM output of the job, in key order: results/{job}/result.dcm, seg*.dcm
// and, for series and study jobs, {n}/result.dcm and {n}/seg*.dcm.
Result<std::vector<std::string>> DicomOutputKeys(blob::BlobStore& blobs, std::string_view job_id) {
  std::vector<std::string> keys;
  IMGPIPE_RETURN_IF_ERROR(
      blobs.List("results/" + std::string(job_id) + "/", [&](const blob::BlobInfo& info) {
        if (info.key.ends_with(".dcm")) keys.push_back(info.key);
        return true;
      }));
  return keys;
}

// Sends the outputs `keys` to `d` chunk by chunk (ExportOptions::chunk_bytes); stops at the
// first chunk that fails.
SendReport SendOutputs(blob::BlobStore& blobs, const Destination& d,
                       const std::vector<std::string>& keys, size_t chunk_limit) {
  SendReport report;
  std::vector<std::string> chunk;
  size_t chunk_bytes = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    Result<std::string> bytes = blobs.Get(keys[i]);
    if (!bytes.ok()) {
      report.error =
          "cannot read the job's DICOM output " + keys[i] + ": " + bytes.status().message();
      return report;
    }
    chunk_bytes += bytes->size();
    chunk.push_back(std::move(*bytes));
    if (chunk_bytes < chunk_limit && i + 1 < keys.size()) continue;
    SendReport part = SendTo(d, chunk);
    report.stored += part.stored;
    if (!part.error.empty()) {
      report.error = std::move(part.error);
      return report;
    }
    chunk.clear();
    chunk_bytes = 0;
  }
  return report;
}

jobs::ExportUpdate Update(std::string_view status, int attempts, std::string error = {},
                          int sent = 0) {
  jobs::ExportUpdate u;
  u.status = std::string(status);
  u.attempts = attempts;
  u.error = std::move(error);
  u.sent = sent;
  return u;
}

}  // namespace

class ExportPool::Impl {
 public:
  Impl(jobs::JobService& jobs, queue::QueueService& queues, blob::BlobStore& blobs,
       const std::vector<Destination>& destinations, ExportOptions options)
      : jobs_(jobs),
        queues_(queues),
        blobs_(blobs),
        destinations_(destinations),
        options_(options) {}

  void Start() {
    for (int i = 0; i < options_.concurrency; ++i) threads_.Spawn([this] { Loop(); });
    threads_.Spawn([this] { Heartbeat(); });
  }

  void Stop() { threads_.Stop(); }

 private:
  bool stopping() const { return threads_.stopping(); }
  bool SleepFor(std::chrono::milliseconds d) { return threads_.SleepFor(d); }

  std::chrono::milliseconds Backoff(int attempt) const {
    auto d = options_.backoff;
    for (int i = 1; i < attempt && d < options_.max_backoff; ++i) d *= 2;
    return std::min(d, options_.max_backoff);
  }

  void Loop() {
    queue::ReceiveOptions receive;
    receive.max_messages = 1;
    receive.wait = options_.poll_wait;
    receive.visibility_timeout = options_.lease;
    const std::string queue(jobs::kExportQueue);
    while (!stopping()) {
      Result<std::vector<queue::Message>> messages = queues_.Receive(queue, receive);
      if (!messages.ok()) {
        spdlog::warn("export: receive failed: {}", messages.status().ToString());
        SleepFor(std::chrono::milliseconds(1'000));
        continue;
      }
      for (const queue::Message& m : *messages) Handle(m);
    }
  }

  void Ack(const queue::Message& m) {
    Status st = queues_.Delete(jobs::kExportQueue, m.receipt);
    if (!st.ok() && st.code() != core::StatusCode::kNotFound) {
      spdlog::warn("export: ack failed: {}", st.ToString());
    }
  }

  void Release(const queue::Message& m, std::chrono::milliseconds after) {
    Status st = queues_.ChangeVisibility(jobs::kExportQueue, m.receipt, after);
    if (!st.ok() && st.code() != core::StatusCode::kNotFound) {
      spdlog::warn("export: release failed: {}", st.ToString());
    }
  }

  const Destination* Find(std::string_view name) const {
    for (const Destination& d : destinations_) {
      if (d.name == name) return &d;
    }
    return nullptr;
  }

  // Records `update`; false when it could not be recorded (the message is then released to be
  // tried again after a backoff). `ack_with`: a final status's message, acknowledged in the same
  // transaction, so the verdict is never recorded with its message left in the queue.
  bool Record(const Target& t, const jobs::ExportUpdate& update,
              const queue::Message* ack_with = nullptr) {
    std::optional<jobs::JobService::MessageAck> ack;
    if (ack_with != nullptr)
      ack = jobs::JobService::MessageAck{jobs::kExportQueue, ack_with->receipt};
    Result<bool> changed = jobs_.UpdateExport(t.job_id, t.destination, update, ack);
    if (!changed.ok()) {
      spdlog::warn("export: status {} of {} not recorded: {}", update.status, t.destination,
                   changed.status().ToString());
      return false;
    }
    return true;
  }

  void Handle(const queue::Message& m) {
    std::optional<Target> target = TargetOf(m);
    if (!target) {
      spdlog::error("export: message {} has no job id and destination; dropped", m.message_id);
      Ack(m);
      return;
    }
    core::ScopedLogFields fields(
        {.job_id = target->job_id, .extra = {{"destination", target->destination}}});
    Result<jobs::ExportRecord> record = jobs_.GetExport(target->job_id, target->destination);
    if (!record.ok()) {
      if (record.status().code() == core::StatusCode::kNotFound) {
        Ack(m);
      } else {
        Release(m, Backoff(m.receive_count));
      }
      return;
    }
    const std::string& status = record->status;
    if (status == jobs::kExportSent || status == jobs::kExportFailed ||
        status == jobs::kExportSkipped) {
      Ack(m);  // a redelivery after the verdict was recorded
      return;
    }
    const int attempt = m.receive_count;
    const Destination* destination = Find(target->destination);
    if (destination == nullptr) {
      jobs::ExportUpdate gone =
          Update(jobs::kExportFailed, attempt,
                 "destination " + target->destination + " is not configured on this worker");
      if (!Record(*target, gone, &m)) Release(m, Backoff(attempt));
      return;
    }
    if (!Record(*target, Update(jobs::kExportSending, attempt))) {
      Release(m, Backoff(attempt));
      return;
    }
    {
      std::lock_guard lock(mu_);
      in_flight_[m.receipt] = Clock::now();
    }
    SendReport report;
    Result<std::vector<std::string>> keys = DicomOutputKeys(blobs_, target->job_id);
    if (!keys.ok()) {
      report.error = "cannot list the job's DICOM outputs: " + keys.status().message();
    } else if (keys->empty()) {
      report.error = "the job has no DICOM output";
    } else {
      report = SendOutputs(blobs_, *destination, *keys, options_.chunk_bytes);
    }
    {
      std::lock_guard lock(mu_);
      in_flight_.erase(m.receipt);
    }
    jobs::ExportUpdate update = Update("", attempt, report.error, report.stored);
    if (report.error.empty()) {
      update.status = std::string(jobs::kExportSent);
      if (!Record(*target, update, &m)) return Release(m, Backoff(attempt));
      spdlog::info("export: job {} sent to {} ({} instances)", target->job_id, target->destination,
                   report.stored);
      return;
    }
    if (attempt >= destination->max_attempts) {
      update.status = std::string(jobs::kExportFailed);
      update.error = "gave up after " + std::to_string(attempt) +
                     (attempt == 1 ? " attempt: " : " attempts: ") + report.error;
      if (!Record(*target, update, &m)) return Release(m, Backoff(attempt));
      spdlog::warn("export: job {} to {} failed: {}", target->job_id, target->destination,
                   update.error);
      return;
    }
    update.status = std::string(jobs::kExportRetrying);
    (void)Record(*target, update);
    spdlog::warn("export: job {} to {} attempt {} failed, will retry: {}", target->job_id,
                 target->destination, attempt, report.error);
    Release(m, Backoff(attempt));
  }

  // Extends the lease of sends that outlast a third of it.
  void Heartbeat() {
    while (SleepFor(std::max(std::chrono::milliseconds(100), options_.lease / 6))) {
      std::vector<std::string> extend;
      const auto now = Clock::now();
      {
        std::lock_guard lock(mu_);
        for (auto& [receipt, extended] : in_flight_) {
          if (now - extended >= options_.lease / 3) {
            extend.push_back(receipt);
            extended = now;
          }
        }
      }
      for (const std::string& receipt : extend) {
        Status st = queues_.ChangeVisibility(jobs::kExportQueue, receipt, options_.lease);
        if (!st.ok()) spdlog::warn("export: lease not extended: {}", st.ToString());
      }
    }
  }

  jobs::JobService& jobs_;
  queue::QueueService& queues_;
  blob::BlobStore& blobs_;
  const std::vector<Destination>& destinations_;
  ExportOptions options_;
  core::ThreadGroup threads_;
  std::mutex mu_;
  std::map<std::string, Clock::time_point> in_flight_;  // receipt -> last extended; GUARDED_BY(mu_)
};

ExportPool::ExportPool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ExportPool::~ExportPool() { Stop(); }
void ExportPool::Stop() {
  if (impl_) impl_->Stop();
}

Result<std::unique_ptr<ExportPool>> ExportPool::Start(jobs::JobService& jobs,
                                                      queue::QueueService& queues,
                                                      blob::BlobStore& blobs,
                                                      const std::vector<Destination>& destinations,
                                                      const ExportOptions& options) {
  if (options.concurrency < 1 || options.concurrency > 16) {
    return Status::InvalidArgument("export concurrency must be within 1..16");
  }
  auto impl = std::make_unique<Impl>(jobs, queues, blobs, destinations, options);
  impl->Start();
  return std::unique_ptr<ExportPool>(new ExportPool(std::move(impl)));
}

}  // namespace imgpipe::exporter
