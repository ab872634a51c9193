// A job's recipients (SubmitRequest::notify_clients): checking them, who may read a job, and
// sending each of the job's messages to every one of them.
#include <algorithm>

#include "jobs/job_store.h"
#include "jobs/jobs.h"

namespace imgpipe::jobs {

using core::Result;
using core::Status;

Result<std::vector<std::string>> JobService::CheckRecipients(const SubmitRequest& request) {
  std::vector<std::string> out;
  if (request.notify_clients.empty()) return out;
  if (request.notify_clients.size() > kMaxRecipients) {
    return Status::InvalidArgument("notify_clients holds more than " +
                                   std::to_string(kMaxRecipients) + " clients");
  }
  for (const std::string& client : request.notify_clients) {
    if (client != request.client_id) out.push_back(client);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  for (const std::string& client : out) {
    IMGPIPE_ASSIGN_OR_RETURN(bool known, internal::ClientExists(*tx, client));
    if (!known) return Status::InvalidArgument("notify_clients names an unknown client");
  }
  return out;
}

Result<bool> JobService::MayRead(const JobRecord& job, std::string_view client_id) {
  if (client_id.empty()) return false;
  if (job.client_id == client_id) return true;
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  return internal::IsRecipient(*tx, job.job_id, client_id);
}

Result<std::vector<std::string>> JobService::Recipients(std::string_view job_id) {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  return internal::ListRecipients(*tx, job_id);
}

Status JobService::SendToEveryone(db::Transaction& tx, const JobRecord& job,
                                  const std::string& body, const std::string& dedup_id) {
  queue::OutgoingMessage message;
  message.body = body;
  message.group_id = job.client_id;
  message.dedup_id = dedup_id;
  IMGPIPE_RETURN_IF_ERROR(queues_.SendInTransaction(tx, kResultsQueue, message).status());
  IMGPIPE_ASSIGN_OR_RETURN(std::vector<std::string> recipients,
                           internal::ListRecipients(tx, job.job_id));
  for (const std::string& client : recipients) {
    message.group_id = client;
    message.dedup_id = dedup_id + ":" + client;
    IMGPIPE_RETURN_IF_ERROR(queues_.SendInTransaction(tx, kResultsQueue, message).status());
  }
  return Status::Ok();
}

}  // namespace imgpipe::jobs
