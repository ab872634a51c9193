// The PACS index: study/series/instance rows in the metadata store, written at ingest so that
// every search is answered from the database alone.
#pragma once

#include <cstdint>
#include <functional>
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
  // `now_ms` stamps each series' last ingest (Unix ms).
  Index(db::Database& db, std::function<int64_t()> now_ms) : db_(db), now_ms_(std::move(now_ms)) {}

  core::Status Migrate();

  struct NewInstance {
    const dicom::InstanceInfo* info;
    std::string_view blob_key;
    int64_t size_bytes;
  };
  // Adds each instance (creating or updating its series and study rows), all in one transaction
  // when possible (one durable commit for many files), else one transaction each so one file's
  // failure cannot fail the others. Per instance: kStored; kAlreadyStored when the
  // SOPInstanceUID is indexed under the same study and series; Conflict under others.
  std::vector<core::Result<IngestOutcome>> AddBatch(const std::vector<NewInstance>& batch);

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
  // See Pacs::ListSeriesIngestedBetween (index_activity.cc).
  core::Result<std::vector<SeriesActivity>> ListSeriesIngestedBetween(int64_t from_ms,
                                                                      int64_t to_ms, int limit);

 private:
  core::Result<IngestOutcome> AddInTx(db::Transaction& tx, const dicom::InstanceInfo& info,
                                      std::string_view blob_key, int64_t size_bytes);

  db::Database& db_;
  std::function<int64_t()> now_ms_;
};

// Translates a DICOM wildcard pattern (* and ?) into a SQL LIKE pattern with '\' as escape.
std::string WildcardToLike(std::string_view pattern);

}  // namespace imgpipe::pacs
