#include "pacs/pacs.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "pacs/index.h"
#ifdef IMGPIPE_TEST_POSTGRES
#include "db/postgres/test_support.h"
#endif

namespace imgpipe::pacs {
namespace {

const std::vector<dicom::DemoFile>& Demo() {
  static const auto* files = new std::vector<dicom::DemoFile>(dicom::MakeDemoDataset());
  return *files;
}

class PacsTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef IMGPIPE_TEST_POSTGRES
    // The same tests against PostgreSQL (pacs_postgres_test): the index schema and queries are
    // portable SQL, and this keeps them so.
    auto db = db::postgres::OpenFreshTestDatabase();
#else
    auto db = db::OpenSqlite(":memory:");
#endif
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    blobs_ = blob::NewMemBlobStore();
    auto p = Pacs::Open(*db_, *blobs_, PacsOptions{});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pacs_ = std::move(*p);
  }

  int64_t BlobCount() {
    int64_t n = 0;
    EXPECT_TRUE(blobs_
                    ->List("",
                           [&n](const blob::BlobInfo&) {
                             ++n;
                             return true;
                           })
                    .ok());
    return n;
  }

  void IngestAll() {
    for (const auto& f : Demo()) {
      auto r = pacs_->Ingest(f.bytes);
      ASSERT_TRUE(r.ok()) << f.name << ": " << r.status().ToString();
    }
  }

  std::unique_ptr<db::Database> db_;
  std::unique_ptr<blob::BlobStore> blobs_;
  std::unique_ptr<Pacs> pacs_;
};

TEST_F(PacsTest, IngestIndexesEveryLevel) {
  ASSERT_GE(Demo().size(), 22u);
  IngestAll();
  auto count = pacs_->CountInstances();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, static_cast<int64_t>(Demo().size()));
  EXPECT_EQ(BlobCount(), static_cast<int64_t>(Demo().size()));

  StudyQuery all;
  auto page = pacs_->FindStudies(all);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->total, 3);
  int64_t images = 0;
  for (const auto& s : page->items) {
    images += s.image_count;
    auto series = pacs_->ListSeries(s.study_id);
    ASSERT_TRUE(series.ok());
    EXPECT_EQ(static_cast<int64_t>(series->size()), s.series_count);
    for (const auto& se : *series) {
      auto inst = pacs_->ListInstances(s.study_id, se.series_id);
      ASSERT_TRUE(inst.ok());
      EXPECT_EQ(static_cast<int64_t>(inst->size()), se.image_count);
      for (size_t i = 1; i < inst->size(); ++i) {
        EXPECT_LE((*inst)[i - 1].instance_number, (*inst)[i].instance_number);
      }
    }
  }
  EXPECT_EQ(images, static_cast<int64_t>(Demo().size()));
}

TEST_F(PacsTest, ReingestIsIdempotent) {
  const auto& f = Demo().front();
  auto first = pacs_->Ingest(f.bytes);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->outcome, IngestOutcome::kStored);
  auto again = pacs_->Ingest(f.bytes);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, IngestOutcome::kAlreadyStored);
  EXPECT_EQ(*pacs_->CountInstances(), 1);
  auto study = pacs_->GetStudy(first->instance.study_id);
  ASSERT_TRUE(study.ok());
  EXPECT_EQ(study->image_count, 1);
  EXPECT_EQ(study->series_count, 1);
}

// The seed's existing PACS bucket: a file indexed where it is (a reference) is served from
// there, and no copy is stored.
TEST_F(PacsTest, IndexInPlaceStoresNoCopyAndKeepsTheFirstKey) {
  const auto& f = Demo().front();
  const std::string reference = blob::ReferenceKey("archive", "site A/img 1.dcm");
  EXPECT_EQ(pacs_->IndexInPlace(f.bytes, "pacs/x.dcm").status().code(),
            core::StatusCode::kInvalidArgument);
  auto first = pacs_->IndexInPlace(f.bytes, reference);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->outcome, IngestOutcome::kStored);
  EXPECT_EQ(first->instance.blob_key, reference);
  EXPECT_EQ(BlobCount(), 0);
  auto stored = pacs_->GetInstance(first->instance.study_id, first->instance.series_id,
                                   first->instance.image_id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->blob_key, reference);
  EXPECT_EQ(stored->size_bytes, static_cast<int64_t>(f.bytes.size()));

  // Indexed again, or ingested as a copy: already stored, under the first key, no blob written.
  auto again = pacs_->IndexInPlace(f.bytes, blob::ReferenceKey("other", "copy.dcm"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, IngestOutcome::kAlreadyStored);
  EXPECT_EQ(again->instance.blob_key, reference);
  auto copy = pacs_->Ingest(f.bytes);
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->outcome, IngestOutcome::kAlreadyStored);
  EXPECT_EQ(BlobCount(), 0);
  EXPECT_EQ(*pacs_->CountInstances(), 1);
  // The PACS reads it through its blob store, which here cannot resolve references: the error
  // comes from the store, not a crash or a wrong file.
  EXPECT_FALSE(pacs_->ReadFile(*stored).ok());
}

TEST_F(PacsTest, ConcurrentIngestOfOneFileStoresItOnce) {
  const auto& f = Demo().front();
  std::atomic<int> stored{0}, already{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto r = pacs_->Ingest(f.bytes);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      (r->outcome == IngestOutcome::kStored ? stored : already)++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(stored, 1);
  EXPECT_EQ(already, 5);
  EXPECT_EQ(pacs_->GetStudy(pacs_->FindStudies({})->items[0].study_id)->image_count, 1);
}

TEST_F(PacsTest, ConcurrentIngestOfManyFilesKeepsCountsExact) {
  // Many threads at once exercise the group commit: batches mix new series, new studies and
  // repeats of the same file.
  std::atomic<size_t> next{0};
  std::atomic<int> stored{0}, already{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < 2 * Demo().size(); i = next++) {
        auto r = pacs_->Ingest(Demo()[i % Demo().size()].bytes);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        (r->outcome == IngestOutcome::kStored ? stored : already)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(stored, static_cast<int>(Demo().size()));
  EXPECT_EQ(already, static_cast<int>(Demo().size()));
  int64_t images = 0, series = 0;
  auto page = pacs_->FindStudies({});
  ASSERT_TRUE(page.ok());
  for (const auto& s : page->items) {
    images += s.image_count;
    series += s.series_count;
    EXPECT_EQ(static_cast<int64_t>(pacs_->ListSeries(s.study_id)->size()), s.series_count);
  }
  EXPECT_EQ(images, static_cast<int64_t>(Demo().size()));
  EXPECT_EQ(series, 3);
}

TEST_F(PacsTest, RejectsBadFilesAndLeavesNothingBehind) {
  std::string truncated = Demo().front().bytes.substr(0, 700);
  EXPECT_FALSE(pacs_->Ingest(truncated).ok());
  auto not_dicom = pacs_->Ingest("hello, world");
  EXPECT_EQ(not_dicom.status().code(), core::StatusCode::kUnsupportedMediaType);
  EXPECT_FALSE(pacs_->Ingest("").ok());
  EXPECT_EQ(*pacs_->CountInstances(), 0);
  EXPECT_EQ(BlobCount(), 0);
}

TEST_F(PacsTest, SearchFilters) {
  IngestAll();
  auto studies = pacs_->FindStudies({})->items;
  ASSERT_FALSE(studies.empty());
  const StudyRecord& ct = *std::find_if(studies.begin(), studies.end(), [](const auto& s) {
    return std::find(s.modalities.begin(), s.modalities.end(), "CT") != s.modalities.end();
  });
  StudyQuery by_mod;
  by_mod.modalities = {"CT"};
  auto r = pacs_->FindStudies(by_mod);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->total, 1);
  EXPECT_EQ(r->items[0].study_id, ct.study_id);

  StudyQuery by_name;
  by_name.patient_name = ct.patient_name.substr(0, 2) + "*";
  for (char& c : by_name.patient_name) c = static_cast<char>(std::tolower(c));
  r = pacs_->FindStudies(by_name);
  ASSERT_TRUE(r.ok());
  EXPECT_GE(r->total, 1);
  for (const auto& s : r->items)
    EXPECT_EQ(s.patient_name.substr(0, 2), ct.patient_name.substr(0, 2));

  StudyQuery by_date;
  by_date.study_date_from = ct.study_date;
  by_date.study_date_to = ct.study_date;
  r = pacs_->FindStudies(by_date);
  ASSERT_TRUE(r.ok());
  for (const auto& s : r->items) EXPECT_EQ(s.study_date, ct.study_date);

  StudyQuery none;
  none.patient_id = "no-such-patient";
  EXPECT_EQ(pacs_->FindStudies(none)->total, 0);

  StudyQuery paged;
  paged.limit = 1;
  paged.offset = 1;
  r = pacs_->FindStudies(paged);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->total, 3);
  EXPECT_EQ(r->items.size(), 1u);
}

TEST_F(PacsTest, PreviewRendersAndCaches) {
  IngestAll();
  auto study = pacs_->FindStudies({})->items[0];
  auto series = pacs_->ListSeries(study.study_id)->at(0);
  auto image = pacs_->ListInstances(study.study_id, series.series_id)->at(0);
  dicom::RenderOptions o;
  o.size = 64;
  auto a = pacs_->Preview(image, o);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ((*a)->media_type, "image/png");
  EXPECT_LE((*a)->width, 64);
  EXPECT_LE((*a)->height, 64);
  EXPECT_EQ((*a)->bytes.substr(1, 3), "PNG");
  auto b = pacs_->Preview(image, o);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->get(), b->get());  // served from the cache
  o.frame = 2 + static_cast<int>(image.frames);
  EXPECT_EQ(pacs_->Preview(image, o).status().code(), core::StatusCode::kInvalidArgument);
}

TEST_F(PacsTest, LookupsOfUnknownIdsAreNotFound) {
  IngestAll();
  auto study = pacs_->FindStudies({})->items[0];
  EXPECT_EQ(pacs_->GetStudy("1.2.3").status().code(), core::StatusCode::kNotFound);
  EXPECT_EQ(pacs_->GetSeries(study.study_id, "1.2.3").status().code(), core::StatusCode::kNotFound);
  auto series = pacs_->ListSeries(study.study_id)->at(0);
  auto image = pacs_->ListInstances(study.study_id, series.series_id)->at(0);
  // The right image under the wrong study is not found: ids must agree.
  EXPECT_EQ(pacs_->GetInstance("1.2.3", series.series_id, image.image_id).status().code(),
            core::StatusCode::kNotFound);
}

TEST(WildcardTest, TranslatesAndEscapes) {
  EXPECT_EQ(WildcardToLike("DOE*"), "DOE%");
  EXPECT_EQ(WildcardToLike("D?E"), "D_E");
  EXPECT_EQ(WildcardToLike("50%_off\\"), "50\\%\\_off\\\\");
}

}  // namespace
}  // namespace imgpipe::pacs

namespace imgpipe::pacs {
namespace {

// Automatic processing rules read series by the time of their last NEW instance: a re-ingest
// does not move it, a new instance does, and the attributes rules match on come along.
TEST(PacsActivityTest, SeriesListedByTheTimeOfTheirLastNewInstance) {
#ifdef IMGPIPE_TEST_POSTGRES
  auto db = db::postgres::OpenFreshTestDatabase();
#else
  auto db = db::OpenSqlite(":memory:");
#endif
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  auto blobs = blob::NewMemBlobStore();
  std::atomic<int64_t> now{1'000};
  PacsOptions options;
  options.now_ms = [&now] { return now.load(); };
  auto pacs = Pacs::Open(**db, *blobs, options);
  ASSERT_TRUE(pacs.ok()) << pacs.status().ToString();
  const auto& files = Demo();
  ASSERT_TRUE((*pacs)->Ingest(files[0].bytes).ok());  // CT slice 1 at t=1000
  now = 2'000;
  ASSERT_TRUE((*pacs)->Ingest(files[1].bytes).ok());  // CT slice 2 at t=2000
  now = 9'000;
  auto again = (*pacs)->Ingest(files[0].bytes);  // a re-ingest moves nothing
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, IngestOutcome::kAlreadyStored);

  auto early = (*pacs)->ListSeriesIngestedBetween(0, 1'999, 100);
  ASSERT_TRUE(early.ok()) << early.status().ToString();
  EXPECT_TRUE(early->empty());
  auto window = (*pacs)->ListSeriesIngestedBetween(2'000, 8'999, 100);
  ASSERT_TRUE(window.ok()) << window.status().ToString();
  ASSERT_EQ(window->size(), 1u);
  const SeriesActivity& ct = (*window)[0];
  EXPECT_EQ(ct.last_ingest_ms, 2'000);
  EXPECT_EQ(ct.series_id, again->instance.series_id);
  EXPECT_EQ(ct.study_id, again->instance.study_id);
  EXPECT_EQ(ct.modality, "CT");
  EXPECT_EQ(ct.body_part_examined, "CHEST");
  EXPECT_EQ(ct.series_description, "Chest 5.0 mm Soft Tissue");
  EXPECT_EQ(ct.study_description, "CT CHEST WITH CONTRAST");

  ASSERT_TRUE((*pacs)->Ingest(files.back().bytes).ok());  // another series at t=9000
  auto all = (*pacs)->ListSeriesIngestedBetween(0, 10'000, 1);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);  // the limit, oldest first
  EXPECT_EQ((*all)[0].series_id, ct.series_id);
  EXPECT_EQ((*pacs)->ListSeriesIngestedBetween(0, 1, 0).status().code(),
            core::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace imgpipe::pacs
