#include "pacs/upstream.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "pacs/upstream_client.h"
#include "pacs/upstream_qido.h"

namespace imgpipe::pacs {
namespace {

using core::Result;
using core::Status;
using core::StatusCode;

// Instances stored here because they were fetched from the upstream (not ingested by a client).
// Schema steps, applied once each (db::Migrate). Append; never edit.
constexpr std::array<std::string_view, 2> kSchema = {
    "CREATE TABLE pacs_upstream_fetched ("
    " sop_uid TEXT PRIMARY KEY, series_uid TEXT NOT NULL, study_uid TEXT NOT NULL,"
    " fetched_at INTEGER NOT NULL)",
    "CREATE INDEX pacs_upstream_fetched_by_study ON pacs_upstream_fetched(study_uid)",
};

bool IsNotFound(const Status& s) { return s.code() == StatusCode::kNotFound; }

class UpstreamPacs final : public Pacs {
 public:
  UpstreamPacs(std::unique_ptr<Pacs> local, db::Database& db, UpstreamOptions options)
      : local_(std::move(local)), db_(db), client_(std::move(options)) {}

  Status Init() { return db::Migrate(db_, "pacs_upstream", kSchema); }

  Result<IngestResult> Ingest(std::string_view file) override { return local_->Ingest(file); }
  Result<IngestResult> IndexInPlace(std::string_view file, std::string_view reference) override {
    return local_->IndexInPlace(file, reference);
  }
  Result<int64_t> CountInstances() override { return local_->CountInstances(); }

  Result<Page<StudyRecord>> FindStudies(const StudyQuery& query) override {
    StudyQuery local_query = query;
    local_query.count_total = true;  // the upstream page starts after the local matches
    IMGPIPE_ASSIGN_OR_RETURN(Page<StudyRecord> page, local_->FindStudies(local_query));
    const int64_t local_total = page.total;
    page.total = query.count_total ? local_total : -1;
    IMGPIPE_RETURN_IF_ERROR(ReplaceFetchedOnly(page));
    std::set<std::string> listed;
    for (const auto& s : page.items) listed.insert(s.study_id);
    const int want = query.limit - static_cast<int>(page.items.size());
    if (want <= 0) {
      page.total = -1;  // the upstream's matches were not counted
      return page;
    }
    const int64_t up_offset = std::max<int64_t>(0, query.offset - local_total);
    auto found = client_.Studies(StudyQueryString(query, want, static_cast<int>(up_offset)));
    if (!found.ok()) {
      Degraded(page, found.status());
      return page;
    }
    int64_t added = 0;
    for (auto& s : *found) {
      if (static_cast<int>(page.items.size()) >= query.limit) break;  // more than asked for
      if (listed.count(s.study_id)) continue;
      // Ingested here: among the local matches when it matches. (A study holding only fetched
      // copies may not match locally, e.g. by a modality of an image not fetched: listed here.)
      IMGPIPE_ASSIGN_OR_RETURN(auto here, LocalStudy(s.study_id));
      if (here) continue;
      listed.insert(s.study_id);
      page.items.push_back(std::move(s));
      ++added;
    }
    const bool complete = up_offset == 0 && static_cast<int>(found->size()) < want;
    page.total = complete && query.count_total ? local_total + added : -1;
    return page;
  }

  // Series that ARRIVED (automatic processing rules watch this): a series whose every local
  // instance is a copy fetched from the upstream was read, not received, so it is left out.
  Result<std::vector<SeriesActivity>> ListSeriesIngestedBetween(int64_t from_ms, int64_t to_ms,
                                                                int limit) override {
    IMGPIPE_ASSIGN_OR_RETURN(auto all, local_->ListSeriesIngestedBetween(from_ms, to_ms, limit));
    std::vector<SeriesActivity> arrived;
    for (auto& a : all) {
      IMGPIPE_ASSIGN_OR_RETURN(SeriesRecord series, local_->GetSeries(a.study_id, a.series_id));
      IMGPIPE_ASSIGN_OR_RETURN(int64_t fetched, CountFetched(a.study_id, a.series_id));
      if (fetched < series.image_count) arrived.push_back(std::move(a));
    }
    return arrived;
  }

  Result<StudyRecord> GetStudy(std::string_view study) override {
    IMGPIPE_ASSIGN_OR_RETURN(auto local, LocalStudy(study));
    if (local) return std::move(*local);
    return UpstreamStudy(study);
  }

  Result<std::vector<SeriesRecord>> ListSeries(std::string_view study) override {
    IMGPIPE_ASSIGN_OR_RETURN(auto local, LocalStudy(study));
    if (local) return local_->ListSeries(study);
    return client_.Series(study, {});
  }

  Result<SeriesRecord> GetSeries(std::string_view study, std::string_view series) override {
    IMGPIPE_ASSIGN_OR_RETURN(auto local, LocalStudy(study));
    if (local) return local_->GetSeries(study, series);
    IMGPIPE_ASSIGN_OR_RETURN(auto found, client_.Series(study, series));
    for (auto& s : found) {
      if (s.series_id == series) return std::move(s);
    }
    return Status::NotFound("series " + std::string(series) + " not found");
  }

  Result<std::vector<InstanceRecord>> ListInstances(std::string_view study,
                                                    std::string_view series) override {
    IMGPIPE_ASSIGN_OR_RETURN(auto local, LocalStudy(study));
    if (local) return local_->ListInstances(study, series);
    return UpstreamInstances(study, series);
  }

  Result<std::vector<InstanceRecord>> ListStudyInstances(std::string_view study) override {
    IMGPIPE_ASSIGN_OR_RETURN(auto local, LocalStudy(study));
    if (local) return local_->ListStudyInstances(study);
    IMGPIPE_ASSIGN_OR_RETURN(auto all_series, client_.Series(study, {}));
    std::sort(all_series.begin(), all_series.end(), [](const auto& a, const auto& b) {
      return a.series_id < b.series_id;  // the local index's order
    });
    std::vector<InstanceRecord> out;
    for (const auto& s : all_series) {
      IMGPIPE_ASSIGN_OR_RETURN(auto instances, UpstreamInstances(study, s.series_id));
      for (auto& i : instances) out.push_back(std::move(i));
    }
    return out;
  }

  Result<InstanceRecord> GetInstance(std::string_view study, std::string_view series,
                                     std::string_view image) override {
    auto held = local_->GetInstance(study, series, image);
    if (held.ok() || !IsNotFound(held.status())) return held;
    IMGPIPE_ASSIGN_OR_RETURN(auto local, LocalStudy(study));
    if (local) return held;  // a study ingested here is not asked upstream
    IMGPIPE_ASSIGN_OR_RETURN(auto found, client_.Instances(study, series, image));
    for (auto& i : found) {
      if (i.image_id == image) return std::move(i);
    }
    return Status::NotFound("image " + std::string(image) + " not found");
  }

  Result<std::string> ReadFile(const InstanceRecord& instance) override {
    if (!instance.upstream) return local_->ReadFile(instance);
    IMGPIPE_ASSIGN_OR_RETURN(InstanceRecord copy, EnsureLocal(instance));
    return local_->ReadFile(copy);
  }

  Result<std::shared_ptr<const dicom::EncodedImage>> Preview(
      const InstanceRecord& instance, const dicom::RenderOptions& options) override {
    if (!instance.upstream) return local_->Preview(instance, options);
    IMGPIPE_ASSIGN_OR_RETURN(InstanceRecord copy, EnsureLocal(instance));
    return local_->Preview(copy, options);
  }

 private:
  // One fetch of one instance, shared by the reads that ask for it meanwhile.
  struct Flight {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<InstanceRecord>> result;  // GUARDED_BY(mu)
  };

  // The local record of `study` when an ingest stored any of its instances here; nullopt when
  // it is not held here or holds only fetched copies (then the upstream describes it).
  Result<std::optional<StudyRecord>> LocalStudy(std::string_view study) {
    auto local = local_->GetStudy(study);
    if (!local.ok()) {
      if (IsNotFound(local.status())) return std::optional<StudyRecord>();
      return local.status();
    }
    IMGPIPE_ASSIGN_OR_RETURN(int64_t fetched, CountFetched(study));
    if (fetched >= local->image_count) return std::optional<StudyRecord>();
    return std::optional<StudyRecord>(std::move(*local));
  }

  Result<StudyRecord> UpstreamStudy(std::string_view study) {
    StudyQuery q;
    q.study_uids = {std::string(study)};
    IMGPIPE_ASSIGN_OR_RETURN(auto found, client_.Studies(StudyQueryString(q, 1, 0)));
    for (auto& s : found) {
      if (s.study_id == study) return std::move(s);
    }
    return Status::NotFound("study " + std::string(study) + " not found");
  }

  // The upstream's instances of a series, the fetched ones replaced by their local copies.
  Result<std::vector<InstanceRecord>> UpstreamInstances(std::string_view study,
                                                        std::string_view series) {
    IMGPIPE_ASSIGN_OR_RETURN(auto found, client_.Instances(study, series, {}));
    auto held = local_->ListInstances(study, series);
    if (!held.ok() && !IsNotFound(held.status())) return held.status();
    std::map<std::string, InstanceRecord, std::less<>> copies;
    if (held.ok()) {
      for (auto& i : *held) copies.emplace(i.image_id, std::move(i));
    }
    for (auto& i : found) {
      if (auto it = copies.find(i.image_id); it != copies.end()) i = it->second;
    }
    std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
      return a.instance_number != b.instance_number ? a.instance_number < b.instance_number
                                                    : a.image_id < b.image_id;
    });
    return found;
  }

  // Studies of the local page that hold only fetched copies: the upstream's record (full
  // counts) replaces the local one.
  Status ReplaceFetchedOnly(Page<StudyRecord>& page) {
    StudyQuery q;
    for (const auto& s : page.items) {
      IMGPIPE_ASSIGN_OR_RETURN(int64_t fetched, CountFetched(s.study_id));
      if (fetched >= s.image_count) q.study_uids.push_back(s.study_id);
    }
    if (q.study_uids.empty()) return Status::Ok();
    for (auto& s : page.items) {
      if (std::find(q.study_uids.begin(), q.study_uids.end(), s.study_id) != q.study_uids.end()) {
        s.upstream = true;
      }
    }
    const int n = static_cast<int>(q.study_uids.size());
    auto found = client_.Studies(StudyQueryString(q, n, 0));
    if (!found.ok()) {
      Degraded(page, found.status());
      return Status::Ok();
    }
    for (auto& s : page.items) {
      for (auto& f : *found) {
        if (s.upstream && f.study_id == s.study_id) s = f;
      }
    }
    return Status::Ok();
  }

  void Degraded(Page<StudyRecord>& page, const Status& why) {
    spdlog::warn("study search served from the local archive only: {}", why.message());
    page.warning = "only local studies listed: " + why.message();
  }

  // Instances of `study` (of its `series` when given) stored here as fetched copies.
  Result<int64_t> CountFetched(std::string_view study, std::string_view series = {}) {
    IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
    if (series.empty()) {
      const db::Value params[] = {std::string(study)};
      IMGPIPE_ASSIGN_OR_RETURN(
          auto rows,
          tx->Query("SELECT COUNT(*) FROM pacs_upstream_fetched WHERE study_uid = ?", params));
      return rows.empty() ? 0 : rows.front().Int(0);
    }
    const db::Value params[] = {std::string(study), std::string(series)};
    IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx->Query("SELECT COUNT(*) FROM pacs_upstream_fetched"
                                                  " WHERE study_uid = ? AND series_uid = ?",
                                                  params));
    return rows.empty() ? 0 : rows.front().Int(0);
  }

  Status Remember(const InstanceRecord& i) {
    return db_.Write(true, [&i](db::Transaction& tx) -> Status {
      const db::Value params[] = {
          i.image_id, i.series_id, i.study_id,
          static_cast<int64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count())};
      return tx
          .Exec(
              "INSERT INTO pacs_upstream_fetched (sop_uid, series_uid, study_uid, fetched_at)"
              " VALUES (?, ?, ?, ?) ON CONFLICT (sop_uid) DO NOTHING",
              params)
          .status();
    });
  }

  void Forget(const InstanceRecord& i) {
    Status s = db_.Write(true, [&i](db::Transaction& tx) -> Status {
      const db::Value params[] = {i.image_id};
      return tx.Exec("DELETE FROM pacs_upstream_fetched WHERE sop_uid = ?", params).status();
    });
    if (!s.ok()) spdlog::warn("forgetting fetched image {}: {}", i.image_id, s.message());
  }

  // The local copy of an upstream instance, fetched and stored first when absent. Single flight:
  // concurrent callers for one instance wait for the first one's fetch.
  Result<InstanceRecord> EnsureLocal(const InstanceRecord& remote) {
    auto held = local_->GetInstance(remote.study_id, remote.series_id, remote.image_id);
    if (held.ok() || !IsNotFound(held.status())) return held;
    std::shared_ptr<Flight> flight;
    bool leader = false;
    {
      std::lock_guard lock(flights_mu_);
      auto& slot = flights_[remote.image_id];
      if (!slot) {
        slot = std::make_shared<Flight>();
        leader = true;
      }
      flight = slot;
    }
    if (!leader) {
      std::unique_lock lock(flight->mu);
      flight->cv.wait(lock, [&] { return flight->result.has_value(); });
      return *flight->result;
    }
    Result<InstanceRecord> result = FetchAndStore(remote);
    {
      std::lock_guard lock(flight->mu);
      flight->result = result;
    }
    flight->cv.notify_all();
    std::lock_guard lock(flights_mu_);
    flights_.erase(remote.image_id);
    return result;
  }

  Result<InstanceRecord> FetchAndStore(const InstanceRecord& remote) {
    // Stored by a flight that ended between the caller's look-up and this one's start?
    auto held = local_->GetInstance(remote.study_id, remote.series_id, remote.image_id);
    if (held.ok() || !IsNotFound(held.status())) return held;
    IMGPIPE_ASSIGN_OR_RETURN(std::string file, client_.Retrieve(remote));
    // Remembered before it is indexed, so its study never looks ingested here meanwhile.
    IMGPIPE_RETURN_IF_ERROR(Remember(remote));
    auto stored = local_->Ingest(file);
    if (!stored.ok()) {
      Forget(remote);
      return stored.status().WithContext("storing image " + remote.image_id +
                                         " fetched from the upstream PACS");
    }
    spdlog::info("fetched image {} from the upstream PACS ({} bytes)", remote.image_id,
                 file.size());
    return std::move(stored->instance);
  }

  std::unique_ptr<Pacs> local_;
  db::Database& db_;
  UpstreamClient client_;
  std::mutex flights_mu_;
  std::map<std::string, std::shared_ptr<Flight>, std::less<>> flights_;  // GUARDED_BY(flights_mu_)
};

}  // namespace

Result<std::unique_ptr<Pacs>> WithUpstream(std::unique_ptr<Pacs> local, db::Database& db,
                                           UpstreamOptions options) {
  if (!options.base_url.starts_with("http://")) {
    return Status::InvalidArgument("pacs.upstream_url must be an http:// URL");
  }
  const std::string_view rest = std::string_view(options.base_url).substr(7);
  if (rest.substr(0, rest.find('/')).find('@') != std::string_view::npos) {
    // The URL is logged and quoted in errors: credentials go in pacs.upstream_authorization.
    return Status::InvalidArgument(
        "pacs.upstream_url must not hold credentials (use pacs.upstream_authorization)");
  }
  while (options.base_url.ends_with('/')) options.base_url.pop_back();
  auto pacs = std::make_unique<UpstreamPacs>(std::move(local), db, std::move(options));
  IMGPIPE_RETURN_IF_ERROR(pacs->Init().WithContext("creating the upstream PACS cache table"));
  return std::unique_ptr<Pacs>(std::move(pacs));
}

}  // namespace imgpipe::pacs
