// pacs: the image archive. Ingest (validate, store the file, index it), search (from the index
// only; a search never opens a DICOM file), retrieve, and preview rendering with a bounded cache.
// RegisterRoutes exposes it over HTTP: the PACS API (/pacs) and DICOMweb (/dicomweb).
//
// Thread-safety: Pacs is thread-safe; one instance serves every request thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "blob/blob_store.h"
#include "core/status.h"
#include "db/database.h"
#include "dicom/dicom.h"

namespace imgpipe::http {
class Router;
}

namespace imgpipe::pacs {

// The blob key of an instance: "pacs/{study}/{series}/{image}.dcm" (DESIGN.md "Storage").
// REQUIRES: the three ids are valid UIDs.
std::string InstanceBlobKey(std::string_view study, std::string_view series,
                            std::string_view image);

struct StudyRecord {
  std::string study_id;  // StudyInstanceUID
  std::string patient_id, patient_name, patient_birth_date, patient_sex;
  std::string study_date, study_time, description, accession_number, study_number;
  std::string referring_physician_name;
  std::vector<std::string> modalities;
  int64_t series_count = 0;
  int64_t image_count = 0;
  // Listed by the upstream DICOMweb PACS (pacs.upstream_url), not from the local index.
  bool upstream = false;
};

struct SeriesRecord {
  std::string series_id;  // SeriesInstanceUID
  std::string study_id;
  std::string modality, description, body_part_examined;
  int64_t series_number = 0;
  int64_t image_count = 0;
  bool upstream = false;  // listed by the upstream PACS
};

struct InstanceRecord {
  std::string image_id;  // SOPInstanceUID
  std::string series_id;
  std::string study_id;
  std::string sop_class_uid, transfer_syntax_uid, photometric_interpretation;
  int64_t instance_number = 0, rows = 0, columns = 0, frames = 0, bits_allocated = 0;
  int64_t size_bytes = 0;
  std::string blob_key;
  // Held by the upstream PACS only (blob_key and size_bytes are then empty/0): ReadFile and
  // Preview fetch it (WADO-RS) and store it here first; later reads are local.
  bool upstream = false;
};

// Study search filters (the PACS API's and QIDO-RS's common subset). Empty = no filter.
struct StudyQuery {
  std::vector<std::string> study_uids;  // any of
  std::string patient_id;               // exact, or with * and ? wildcards
  std::string patient_name;             // case-insensitive, * and ? wildcards
  std::string accession_number;
  std::string study_date_from, study_date_to;  // YYYYMMDD, inclusive
  std::vector<std::string> modalities;         // studies having any of these
  int limit = 100;                             // 1..1000
  int offset = 0;
  bool count_total = true;  // false skips counting all matches (Page::total is then -1)
};

template <typename T>
struct Page {
  std::vector<T> items;
  int64_t total = 0;
  int limit = 0;
  int offset = 0;
  // Non-empty: some matches may be missing, and why (the upstream PACS did not answer).
  std::string warning;
};

enum class IngestOutcome { kStored, kAlreadyStored };
struct IngestResult {
  IngestOutcome outcome = IngestOutcome::kStored;
  InstanceRecord instance;
};

// A series as automatic processing rules see it: the attributes they match on and the time its
// last new instance was indexed (re-ingesting a stored instance does not move it).
struct SeriesActivity {
  std::string series_id, study_id;
  std::string modality, body_part_examined, series_description, study_description;
  int64_t last_ingest_ms = 0;  // Unix ms; 0 for series indexed before the column existed
};

struct PacsOptions {
  uint64_t render_cache_bytes = 256ull << 20;  // 0 disables the render cache
  // Clock (Unix ms) stamping SeriesActivity::last_ingest_ms, for tests. Default: the system clock.
  std::function<int64_t()> now_ms;
};

class Pacs {
 public:
  // Applies the index schema to `db` (idempotent) and serves from `db` and `blobs`, which must
  // outlive it.
  static core::Result<std::unique_ptr<Pacs>> Open(db::Database& db, blob::BlobStore& blobs,
                                                  const PacsOptions& options);
  virtual ~Pacs() = default;
  Pacs(const Pacs&) = delete;
  Pacs& operator=(const Pacs&) = delete;

  // Validates and stores one Part 10 file. Re-ingesting a stored SOPInstanceUID is idempotent
  // (kAlreadyStored); the same SOPInstanceUID under another study/series is Conflict. The blob is
  // written (atomically) before the index entry, so the index never points at a missing file.
  virtual core::Result<IngestResult> Ingest(std::string_view file) = 0;
  // Indexes `file` where it already is, without storing a copy: `reference` is its object's
  // blob::ReferenceKey, served read-only by the blob store this Pacs reads (blob::WithReferences).
  // Already indexed (under any key): kAlreadyStored, and the index keeps its first key. A file
  // read from an object that changed size since is refused when read (Internal), not served.
  virtual core::Result<IngestResult> IndexInPlace(std::string_view file,
                                                  std::string_view reference) = 0;

  virtual core::Result<Page<StudyRecord>> FindStudies(const StudyQuery& query) = 0;
  virtual core::Result<StudyRecord> GetStudy(std::string_view study) = 0;
  virtual core::Result<std::vector<SeriesRecord>> ListSeries(std::string_view study) = 0;
  virtual core::Result<SeriesRecord> GetSeries(std::string_view study, std::string_view series) = 0;
  // Instances of a series, by instance number.
  virtual core::Result<std::vector<InstanceRecord>> ListInstances(std::string_view study,
                                                                  std::string_view series) = 0;
  virtual core::Result<std::vector<InstanceRecord>> ListStudyInstances(std::string_view study) = 0;
  virtual core::Result<InstanceRecord> GetInstance(std::string_view study, std::string_view series,
                                                   std::string_view image) = 0;
  virtual core::Result<std::string> ReadFile(const InstanceRecord& instance) = 0;

  // Renders (or serves from the cache) a preview of `instance`.
  virtual core::Result<std::shared_ptr<const dicom::EncodedImage>> Preview(
      const InstanceRecord& instance, const dicom::RenderOptions& options) = 0;

  virtual core::Result<int64_t> CountInstances() = 0;

  // Series whose last new instance was indexed at from_ms <= t <= to_ms, oldest first, at most
  // `limit` (1..1000; InvalidArgument otherwise). Answered from the index alone.
  virtual core::Result<std::vector<SeriesActivity>> ListSeriesIngestedBetween(int64_t from_ms,
                                                                              int64_t to_ms,
                                                                              int limit) = 0;

 protected:
  Pacs() = default;
};

// Registers the PACS API (/pacs/...) and DICOMweb (/dicomweb/...) routes.
void RegisterRoutes(http::Router& router, Pacs& pacs);

}  // namespace imgpipe::pacs
