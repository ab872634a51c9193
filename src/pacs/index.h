// The PACS index: study/series/instance rows in the metadata store, written at ingest so that
// every search is answered from the database alone.
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "db/database.h"
#include "dicom/dicom.h"
#include "pacs/pacs.h"

namespace imgpipe::pacs {

class Index {
 public:
  explicit Index(db::Database& db) : db_(db) {}

  core::Status Migrate();

  // Adds the instance (and creates or updates its series and study rows) in one transaction,
  // shared with other threads' concurrent Adds (group commit); durable when it returns. Returns kAlreadyStored when the SOPInstanceUID is indexed under the same study and series,
  // Conflict when it is indexed under others.
  core::Result<IngestOutcome> Add(const dicom::InstanceInfo& info, std::string_view blob_key,
                                  int64_t size_bytes);

  core::Result<Page<StudyRecord>> FindStudies(const StudyQuery& query);
  core::Result<StudyRecord> GetStudy(std::string_view study);
  core::Result<std::vector<SeriesRecord>> ListSeries(std::string_view study);
  core::Result<SeriesRecord> GetSeries(std::string_view study, std::string_view series);
  core::Result<std::vector<InstanceRecord>> ListInstances(std::string_view study,
                                                          std::string_view series);
  core::Result<InstanceRecord> GetInstance(std::string_view study, std::string_view series,
                                           std::string_view image);
  core::Result<std::optional<InstanceRecord>> FindInstance(std::string_view image);
  core::Result<int64_t> CountInstances();

 private:
  struct Pending {
    const dicom::InstanceInfo* info;
    std::string_view blob_key;
    int64_t size_bytes;
    std::optional<core::Result<IngestOutcome>> result;  // set by the leader of its batch
  };
  void CommitBatch(const std::vector<Pending*>& batch);
  core::Result<IngestOutcome> AddInTx(db::Transaction& tx, const dicom::InstanceInfo& info,
                                      std::string_view blob_key, int64_t size_bytes);

  db::Database& db_;
  std::mutex batch_mu_;
  std::condition_variable batch_cv_;
  std::vector<Pending*> queue_;  // GUARDED_BY(batch_mu_)
  bool leader_active_ = false;   // GUARDED_BY(batch_mu_)
};

// Translates a DICOM wildcard pattern (* and ?) into a SQL LIKE pattern with '\' as escape.
std::string WildcardToLike(std::string_view pattern);

}  // namespace imgpipe::pacs
