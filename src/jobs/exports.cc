// JobService's export side (jobs.h "Exports"): Submit's check, settling exports when a job ends,
// and the exporter's status updates.
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <set>

#include "core/log.h"
#include "jobs/export_store.h"
#include "jobs/job_store.h"

namespace imgpipe::jobs {
namespace internal {

using core::Result;
using core::Status;

Status CheckExportNames(const std::set<std::string>& configured,
                        const std::vector<std::string>& names) {
  std::set<std::string> seen;
  for (const std::string& name : names) {
    if (!configured.count(name)) {
      std::string shown = name.substr(0, 64);
      return Status::InvalidArgument(
          "unknown export destination '" + shown + "'" +
          (configured.empty() ? " (none is configured)" : " (see GET /api/destinations)"));
    }
    if (!seen.insert(name).second) {
      return Status::InvalidArgument("export destination '" + name + "' is named twice");
    }
  }
  return Status::Ok();
}

Result<int> SettleExports(db::Transaction& tx, queue::QueueService& queues, const JobRecord& job,
                          int64_t now_ms) {
  const bool succeeded = job.status == kStatusSucceeded;
  IMGPIPE_ASSIGN_OR_RETURN(
      std::vector<std::string> moved,
      MoveWaitingExports(tx, job.job_id, succeeded ? kExportQueued : kExportSkipped, now_ms));
  if (!succeeded) return 0;
  for (const std::string& destination : moved) {
    queue::OutgoingMessage message;
    message.body = boost::json::serialize(
        boost::json::object{{"job_id", job.job_id}, {"destination", destination}});
    // A group per export: one destination's retries (a message in flight during its backoff)
    // never hold back another destination's, nor another job's export to the same destination.
    message.group_id = job.job_id + ":" + destination;
    message.dedup_id = job.job_id + ":" + destination;
    IMGPIPE_RETURN_IF_ERROR(queues.SendInTransaction(tx, kExportQueue, message).status());
  }
  return static_cast<int>(moved.size());
}

}  // namespace internal

core::Result<ExportRecord> JobService::GetExport(std::string_view job_id,
                                                 std::string_view destination) {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  IMGPIPE_ASSIGN_OR_RETURN(auto record, internal::FindExport(*tx, job_id, destination));
  if (!record) {
    return core::Status::NotFound("job " + std::string(job_id).substr(0, 64) +
                                  " has no export to " + std::string(destination).substr(0, 64));
  }
  return std::move(*record);
}

core::Result<bool> JobService::UpdateExport(std::string_view job_id, std::string_view destination,
                                            const ExportUpdate& update,
                                            std::optional<MessageAck> ack) {
  const bool final = update.status == kExportSent || update.status == kExportFailed;
  if (!final && update.status != kExportSending && update.status != kExportRetrying) {
    return core::Status::InvalidArgument("not an export status the exporter sets: " +
                                         update.status);
  }
  const int64_t now = NowMs();
  bool changed = false;
  // Final statuses are durable with their event; the steps before them may be undone by a power
  // failure, which only means the export is tried again.
  IMGPIPE_RETURN_IF_ERROR(db_.Write(/*durable=*/final, [&](db::Transaction& tx) -> core::Status {
    IMGPIPE_RETURN_IF_ERROR(AckIn(tx, ack));
    IMGPIPE_ASSIGN_OR_RETURN(changed, internal::UpdateExport(tx, job_id, destination, update, now));
    if (!changed || !final) return core::Status::Ok();
    IMGPIPE_ASSIGN_OR_RETURN(auto job, internal::FindJob(tx, job_id));
    if (!job) return core::Status::Internal("exported job vanished");
    boost::json::object body{{"type", "export"},           {"job_id", job->job_id},
                             {"destination", destination}, {"status", update.status},
                             {"error", update.error},      {"sent", update.sent}};
    // To the owner and every recipient, like the job's result.
    return SendToEveryone(tx, *job, boost::json::serialize(body),
                          job->job_id + ":export:" + std::string(destination));
  }));
  if (ack) queues_.NotifyCommitted(ack->queue);
  if (changed && final) queues_.NotifyCommitted(kResultsQueue);
  return changed;
}

}  // namespace imgpipe::jobs
