#include "pacs/pacs.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>

#include "core/uid.h"
#include "metrics/metrics.h"
#include "pacs/index.h"
#include "pacs/render_cache.h"

namespace imgpipe::pacs {
namespace {

using core::Result;
using core::Status;

// Previews: cache hits and misses (the hit ratio is hits / (hits + misses)) and the time of a
// render on a miss (read the file, decode, window, encode).
struct PreviewMetrics {
  metrics::Family<metrics::Counter>& lookups = metrics::Global().CounterFamily(
      "imgpipe_render_cache_requests_total",
      "Preview requests by render cache result (hit or miss).", {"result"});
  metrics::Counter& hits = lookups.Labels({"hit"});
  metrics::Counter& misses = lookups.Labels({"miss"});
  metrics::Histogram& render_seconds =
      metrics::Global()
          .HistogramFamily("imgpipe_render_duration_seconds",
                           "Time to render a preview not in the cache (read, decode, encode).", {},
                           metrics::LatencyBuckets())
          .Get();
};

PreviewMetrics& Metrics() {
  static PreviewMetrics* m = new PreviewMetrics();
  return *m;
}

std::string RenderKey(const InstanceRecord& instance, const dicom::RenderOptions& o) {
  std::string key = instance.image_id;
  char buf[160];
  std::snprintf(buf, sizeof buf, "|%d|%s|%.17g|%.17g|%d|%d|%d", o.frame,
                o.window_center ? "w" : "-", o.window_center.value_or(0),
                o.window_width.value_or(0), o.size, o.format == dicom::ImageFormat::kPng ? 0 : 1,
                o.jpeg_quality);
  key += buf;
  return key;
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class PacsImpl final : public Pacs {
 public:
  PacsImpl(db::Database& db, blob::BlobStore& blobs, const PacsOptions& options)
      : index_(db, options.now_ms ? options.now_ms : SystemNowMs),
        blobs_(blobs),
        cache_(options.render_cache_bytes) {
    Metrics();  // the preview metrics exist (at 0) from the start
  }

  Status Init() { return index_.Migrate(); }

  Result<IngestResult> Ingest(std::string_view file) override {
    IMGPIPE_ASSIGN_OR_RETURN(dicom::InstanceInfo info, dicom::ParseInstance(file));
    std::string key =
        InstanceBlobKey(info.study_instance_uid, info.series_instance_uid, info.sop_instance_uid);
    // Re-ingest skips the blob write. Otherwise the blob is written unsynced, and the commit
    // below makes it durable (BlobStore::Sync) before the index row that points at it, so the
    // index never points at a missing or partial file. A crash before that leaves an unindexed
    // blob that the next ingest of the same file overwrites.
    IMGPIPE_ASSIGN_OR_RETURN(auto existing, index_.FindInstance(info.sop_instance_uid));
    const bool write_blob = !existing;
    if (write_blob) IMGPIPE_RETURN_IF_ERROR(blobs_.PutUnsynced(key, file));
    return Indexed(info, key, static_cast<int64_t>(file.size()), std::move(existing), write_blob);
  }

  Result<IngestResult> IndexInPlace(std::string_view file, std::string_view reference) override {
    if (!blob::IsReference(reference)) {
      return Status::InvalidArgument("'" + std::string(reference) + "' is not an s3:// object");
    }
    IMGPIPE_ASSIGN_OR_RETURN(dicom::InstanceInfo info, dicom::ParseInstance(file));
    IMGPIPE_ASSIGN_OR_RETURN(auto existing, index_.FindInstance(info.sop_instance_uid));
    return Indexed(info, reference, static_cast<int64_t>(file.size()), std::move(existing),
                   /*wrote_blob=*/false);
  }

  // Commits the index row (Commit) for a file stored under `key` (`wrote_blob`: by this call,
  // still to be synced). `existing` is the index's row for this SOPInstanceUID looked up before,
  // if any: an instance already stored is reported as the index holds it (its key may be
  // another: stored, or indexed in place, first).
  Result<IngestResult> Indexed(const dicom::InstanceInfo& info, std::string_view key, int64_t size,
                               std::optional<InstanceRecord> existing, bool wrote_blob) {
    IngestResult result;
    IMGPIPE_ASSIGN_OR_RETURN(result.outcome, Commit(info, key, size, wrote_blob));
    if (result.outcome == IngestOutcome::kAlreadyStored) {
      // Found before, or stored by a concurrent ingest meanwhile (then looked up now).
      if (!existing) {
        IMGPIPE_ASSIGN_OR_RETURN(existing, index_.FindInstance(info.sop_instance_uid));
      }
      if (existing) {
        result.instance = std::move(*existing);
        return result;
      }
    }
    InstanceRecord& r = result.instance;
    r.image_id = info.sop_instance_uid;
    r.series_id = info.series_instance_uid;
    r.study_id = info.study_instance_uid;
    r.sop_class_uid = info.sop_class_uid;
    r.transfer_syntax_uid = info.transfer_syntax_uid;
    r.photometric_interpretation = info.photometric_interpretation;
    r.instance_number = info.instance_number;
    r.rows = info.rows;
    r.columns = info.columns;
    r.frames = info.number_of_frames;
    r.bits_allocated = info.bits_allocated;
    r.size_bytes = size;
    r.blob_key = std::string(key);
    return result;
  }

  // Group commit: concurrent ingests queue here; one caller at a time leads, syncing the blobs
  // of the whole queue with one BlobStore::Sync and indexing them with one transaction, while
  // the others wait for their result. Per batch: two flushes, whatever its size.
  Result<IngestOutcome> Commit(const dicom::InstanceInfo& info, std::string_view key, int64_t size,
                               bool wrote_blob) {
    Pending me{{&info, key, size}, wrote_blob, std::nullopt};
    std::unique_lock lock(commit_mu_);
    queue_.push_back(&me);
    while (!me.result && leader_active_) commit_cv_.wait(lock);
    if (me.result) return std::move(*me.result);
    leader_active_ = true;
    std::vector<Pending*> batch;
    batch.swap(queue_);
    lock.unlock();
    bool any_blob = false;
    std::vector<Index::NewInstance> rows;
    for (Pending* p : batch) {
      any_blob |= p->wrote_blob;
      rows.push_back(p->row);
    }
    Status synced = any_blob ? blobs_.Sync() : Status::Ok();
    std::vector<Result<IngestOutcome>> results;
    if (synced.ok()) {
      results = index_.AddBatch(rows);
    } else {
      results.assign(batch.size(), synced.WithContext("storing the file"));
    }
    // Results are handed over under the lock: a waiter may wake (spuriously, or for an earlier
    // batch) and look at its result at any time.
    lock.lock();
    for (size_t i = 0; i < batch.size(); ++i) batch[i]->result = std::move(results[i]);
    leader_active_ = false;
    commit_cv_.notify_all();
    return std::move(*me.result);
  }

  Result<Page<StudyRecord>> FindStudies(const StudyQuery& query) override {
    return index_.FindStudies(query);
  }
  Result<StudyRecord> GetStudy(std::string_view study) override { return index_.GetStudy(study); }
  Result<std::vector<SeriesRecord>> ListSeries(std::string_view study) override {
    return index_.ListSeries(study);
  }
  Result<SeriesRecord> GetSeries(std::string_view study, std::string_view series) override {
    return index_.GetSeries(study, series);
  }
  Result<std::vector<InstanceRecord>> ListInstances(std::string_view study,
                                                    std::string_view series) override {
    return index_.ListInstances(study, series);
  }
  Result<std::vector<InstanceRecord>> ListStudyInstances(std::string_view study) override {
    return index_.ListInstances(study, {});
  }
  Result<InstanceRecord> GetInstance(std::string_view study, std::string_view series,
                                     std::string_view image) override {
    return index_.GetInstance(study, series, image);
  }
  Result<std::string> ReadFile(const InstanceRecord& instance) override {
    auto bytes = blobs_.Get(instance.blob_key);
    if (!bytes.ok() && bytes.status().code() == core::StatusCode::kNotFound) {
      // Indexed but the blob is gone: the store was damaged outside imgpipe, or an object
      // indexed in place was deleted from its bucket.
      spdlog::error("blob {} of indexed instance {} is missing", instance.blob_key,
                    instance.image_id);
      return Status::Internal("the stored file of image " + instance.image_id + " is missing");
    }
    if (bytes.ok() && blob::IsReference(instance.blob_key) &&
        static_cast<int64_t>(bytes->size()) != instance.size_bytes) {
      // An object indexed in place was replaced in its bucket: its index row may no longer
      // describe it, so it is not served as this image.
      spdlog::error("object {} of image {} changed since it was indexed ({} bytes, was {})",
                    instance.blob_key, instance.image_id, bytes->size(), instance.size_bytes);
      return Status::Internal("the object of image " + instance.image_id +
                              " changed in its bucket since it was imported");
    }
    return bytes;
  }

  Result<std::shared_ptr<const dicom::EncodedImage>> Preview(
      const InstanceRecord& instance, const dicom::RenderOptions& options) override {
    if (options.frame < 1 || options.frame > std::max<int64_t>(1, instance.frames)) {
      return Status::InvalidArgument("frame " + std::to_string(options.frame) +
                                     " is out of range 1.." +
                                     std::to_string(std::max<int64_t>(1, instance.frames)));
    }
    std::string key = RenderKey(instance, options);
    if (auto hit = cache_.Get(key)) {
      Metrics().hits.Inc();
      return hit;
    }
    Metrics().misses.Inc();
    const auto start = std::chrono::steady_clock::now();
    IMGPIPE_ASSIGN_OR_RETURN(std::string file, ReadFile(instance));
    IMGPIPE_ASSIGN_OR_RETURN(dicom::EncodedImage image, dicom::Render(file, options));
    Metrics().render_seconds.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    auto shared = std::make_shared<const dicom::EncodedImage>(std::move(image));
    cache_.Put(key, shared);
    return shared;
  }

  Result<int64_t> CountInstances() override { return index_.CountInstances(); }

  Result<std::vector<SeriesActivity>> ListSeriesIngestedBetween(int64_t from_ms, int64_t to_ms,
                                                                int limit) override {
    return index_.ListSeriesIngestedBetween(from_ms, to_ms, limit);
  }

 private:
  struct Pending {
    Index::NewInstance row;
    bool wrote_blob;
    std::optional<Result<IngestOutcome>> result;  // set by the leader of its batch
  };

  Index index_;
  blob::BlobStore& blobs_;
  RenderCache cache_;
  std::mutex commit_mu_;
  std::condition_variable commit_cv_;
  std::vector<Pending*> queue_;  // GUARDED_BY(commit_mu_)
  bool leader_active_ = false;   // GUARDED_BY(commit_mu_)
};

}  // namespace

std::string InstanceBlobKey(std::string_view study, std::string_view series,
                            std::string_view image) {
  std::string key = "pacs/";
  key += study;
  key += '/';
  key += series;
  key += '/';
  key += image;
  key += ".dcm";
  return key;
}

Result<std::unique_ptr<Pacs>> Pacs::Open(db::Database& db, blob::BlobStore& blobs,
                                         const PacsOptions& options) {
  auto pacs = std::make_unique<PacsImpl>(db, blobs, options);
  IMGPIPE_RETURN_IF_ERROR(pacs->Init().WithContext("creating the PACS index"));
  return std::unique_ptr<Pacs>(std::move(pacs));
}

}  // namespace imgpipe::pacs
