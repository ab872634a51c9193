#include "pacs/upstream.h"

#include <gtest/gtest.h>

#include "pacs/upstream_qido.h"

namespace imgpipe::pacs {
namespace {

using core::StatusCode;

TEST(UpstreamQidoTest, StudyQueryStringMapsEveryFilter) {
  StudyQuery q;
  q.study_uids = {"1.2.3", "1.2.4"};
  q.patient_id = "P 1";
  q.patient_name = "DOE^J*";
  q.accession_number = "A&B";
  q.study_date_from = "20200101";
  q.study_date_to = "20201231";
  q.modalities = {"CT", "MR"};
  std::string s = StudyQueryString(q, 25, 50);
  EXPECT_NE(s.find("?StudyInstanceUID=1.2.3%2C1.2.4"), std::string::npos) << s;
  EXPECT_NE(s.find("&PatientID=P%201"), std::string::npos) << s;
  EXPECT_NE(s.find("&PatientName=DOE%5EJ*"), std::string::npos) << s;
  EXPECT_NE(s.find("&AccessionNumber=A%26B"), std::string::npos) << s;
  EXPECT_NE(s.find("&StudyDate=20200101-20201231"), std::string::npos) << s;
  EXPECT_NE(s.find("&ModalitiesInStudy=CT%5CMR"), std::string::npos) << s;
  EXPECT_NE(s.find("&limit=25&offset=50"), std::string::npos) << s;
  EXPECT_NE(s.find("&includefield="), std::string::npos) << s;
  EXPECT_NE(s.find("00201208"), std::string::npos) << s;  // the instance count
}

TEST(UpstreamQidoTest, OpenDateRangesAndNoFilters) {
  StudyQuery q;
  q.study_date_to = "20201231";
  EXPECT_NE(StudyQueryString(q, 1, 0).find("StudyDate=-20201231"), std::string::npos);
  q.study_date_from = "20201231";
  EXPECT_NE(StudyQueryString(q, 1, 0).find("StudyDate=20201231&"), std::string::npos);
  EXPECT_EQ(StudyQueryString(StudyQuery{}, 10, 0).rfind("?limit=10&offset=0&includefield=", 0), 0u);
}

TEST(UpstreamQidoTest, MapsStudies) {
  auto r = ParseQidoStudies(R"([{
    "0020000D": {"vr": "UI", "Value": ["1.2.840.1"]},
    "00100010": {"vr": "PN", "Value": [{"Alphabetic": "DOE^JANE"}]},
    "00100020": {"vr": "LO", "Value": ["PID7"]},
    "00080020": {"vr": "DA", "Value": ["20240102"]},
    "00080061": {"vr": "CS", "Value": ["CT", "SR"]},
    "00081030": {"vr": "LO"},
    "00201206": {"vr": "IS", "Value": [2]},
    "00201208": {"vr": "IS", "Value": ["17"]}
  }])");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  const StudyRecord& s = r->front();
  EXPECT_EQ(s.study_id, "1.2.840.1");
  EXPECT_EQ(s.patient_name, "DOE^JANE");
  EXPECT_EQ(s.patient_id, "PID7");
  EXPECT_EQ(s.study_date, "20240102");
  EXPECT_EQ(s.modalities, (std::vector<std::string>{"CT", "SR"}));
  EXPECT_EQ(s.description, "");
  EXPECT_EQ(s.series_count, 2);
  EXPECT_EQ(s.image_count, 17);
  EXPECT_TRUE(s.upstream);
}

TEST(UpstreamQidoTest, MapsSeriesAndInstancesWithParentFallback) {
  auto series = ParseQidoSeries(R"([{"0020000E": {"vr": "UI", "Value": ["1.2.5"]},
      "00080060": {"vr": "CS", "Value": ["MR"]}, "00200011": {"vr": "IS", "Value": [3]},
      "00201209": {"vr": "IS", "Value": [12]}}])",
                                "1.2.3");
  ASSERT_TRUE(series.ok()) << series.status().ToString();
  EXPECT_EQ(series->front().study_id, "1.2.3");
  EXPECT_EQ(series->front().series_id, "1.2.5");
  EXPECT_EQ(series->front().modality, "MR");
  EXPECT_EQ(series->front().series_number, 3);
  EXPECT_EQ(series->front().image_count, 12);

  auto instances = ParseQidoInstances(R"([{"00080018": {"vr": "UI", "Value": ["1.2.9"]},
      "0020000E": {"vr": "UI", "Value": ["1.2.5"]},
      "00080016": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.4"]},
      "00200013": {"vr": "IS", "Value": [" 4 "]}, "00280010": {"vr": "US", "Value": [256]},
      "00280011": {"vr": "US", "Value": [128]}, "00280100": {"vr": "US", "Value": [16]},
      "00280004": {"vr": "CS", "Value": ["MONOCHROME2"]}}])",
                                      "1.2.3", "1.2.5");
  ASSERT_TRUE(instances.ok()) << instances.status().ToString();
  const InstanceRecord& i = instances->front();
  EXPECT_EQ(i.image_id, "1.2.9");
  EXPECT_EQ(i.study_id, "1.2.3");
  EXPECT_EQ(i.instance_number, 4);
  EXPECT_EQ(i.rows, 256);
  EXPECT_EQ(i.columns, 128);
  EXPECT_EQ(i.frames, 1);  // NumberOfFrames absent: one frame
  EXPECT_EQ(i.bits_allocated, 16);
  EXPECT_EQ(i.photometric_interpretation, "MONOCHROME2");
  EXPECT_TRUE(i.upstream);
  EXPECT_TRUE(i.blob_key.empty());
}

TEST(UpstreamQidoTest, EmptyRepliesAreNoMatches) {
  auto a = ParseQidoStudies("");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->empty());
  auto b = ParseQidoStudies(" [ ] ");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->empty());
}

TEST(UpstreamQidoTest, HostileRepliesAreErrorsNotCrashes) {
  const char* bad[] = {
      "{",                                                        // not JSON
      "{}",                                                       // not an array
      "[1]",                                                      // not an object
      "[{}]",                                                     // no StudyInstanceUID
      R"([{"0020000D": {"vr": "UI", "Value": ["../../etc"]}}])",  // not a UID
      R"([{"0020000D": {"vr": "UI", "Value": [7]}}])",            // wrong type
      R"([{"0020000D": "1.2.3"}])",                               // attribute not object
      R"([{"0020000D": {"vr": "UI", "Value": "1.2.3"}}])",        // Value not array
      R"([{"0020000D": {"vr": "UI", "Value": ["1.2.3"]},
          "00201208": {"vr": "IS", "Value": ["many"]}}])",        // count not a number
      R"([{"0020000D": {"vr": "UI", "Value": ["1.2.3"]},
          "00201208": {"vr": "IS", "Value": [1e300]}}])",         // count out of range
      R"([{"0020000D": {"vr": "UI", "Value": ["1.2.3"]},
          "00100010": {"vr": "PN", "Value": [[1]]}}])",           // name not a string
  };
  for (const char* body : bad) {
    auto r = ParseQidoStudies(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << body;
    EXPECT_NE(r.status().message().find("upstream PACS"), std::string::npos);
  }
  // A series result naming another study than the one asked about.
  auto other = ParseQidoSeries(R"([{"0020000D": {"vr": "UI", "Value": ["9.9"]},
      "0020000E": {"vr": "UI", "Value": ["1.2.5"]}}])",
                               "1.2.3");
  EXPECT_EQ(other.status().code(), StatusCode::kUnavailable);
  auto no_sop = ParseQidoInstances(R"([{"00200013": {"vr": "IS", "Value": [1]}}])", "1.2", "1.3");
  EXPECT_EQ(no_sop.status().code(), StatusCode::kUnavailable);
}

// The decorator with an upstream that refuses connections: local data is still served, what
// only the upstream could answer is Unavailable.
class UpstreamDownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = db::OpenSqlite(":memory:");
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
    blobs_ = blob::NewMemBlobStore();
    auto local = Pacs::Open(*db_, *blobs_, PacsOptions{});
    ASSERT_TRUE(local.ok());
    UpstreamOptions options;
    options.base_url = "http://127.0.0.1:1/dicom-web/";  // nothing listens on port 1
    options.timeout = std::chrono::milliseconds(2000);
    auto p = WithUpstream(std::move(*local), *db_, options);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pacs_ = std::move(*p);
    demo_ = dicom::MakeDemoDataset();
    ASSERT_TRUE(pacs_->Ingest(demo_.front().bytes).ok());
  }

  std::unique_ptr<db::Database> db_;
  std::unique_ptr<blob::BlobStore> blobs_;
  std::unique_ptr<Pacs> pacs_;
  std::vector<dicom::DemoFile> demo_;
};

TEST_F(UpstreamDownTest, LocalStudiesStillServed) {
  auto page = pacs_->FindStudies(StudyQuery{});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_FALSE(page->items.front().upstream);
  EXPECT_EQ(page->total, 1);
  EXPECT_NE(page->warning.find("upstream PACS"), std::string::npos) << page->warning;

  const std::string study = page->items.front().study_id;
  auto s = pacs_->GetStudy(study);
  ASSERT_TRUE(s.ok()) << s.status().ToString();  // local: no upstream call
  auto instances = pacs_->ListStudyInstances(study);
  ASSERT_TRUE(instances.ok());
  ASSERT_EQ(instances->size(), 1u);
  auto file = pacs_->ReadFile(instances->front());
  EXPECT_TRUE(file.ok());
}

TEST_F(UpstreamDownTest, UnknownStudyIsUnavailable) {
  auto s = pacs_->GetStudy("1.2.3.4.5");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find("127.0.0.1:1"), std::string::npos) << s.status().message();
  InstanceRecord remote;
  remote.study_id = "1.2.3";
  remote.series_id = "1.2.4";
  remote.image_id = "1.2.5";
  remote.upstream = true;
  EXPECT_EQ(pacs_->ReadFile(remote).status().code(), StatusCode::kUnavailable);
}

TEST(UpstreamOptionsTest, RefusesNonHttpAndCredentialsInUrl) {
  auto db = db::OpenSqlite(":memory:");
  ASSERT_TRUE(db.ok());
  auto blobs = blob::NewMemBlobStore();
  for (const char* url : {"https://pacs/dicom-web", "http://user:secret@pacs/dicom-web"}) {
    auto local = Pacs::Open(**db, *blobs, PacsOptions{});
    ASSERT_TRUE(local.ok());
    UpstreamOptions options;
    options.base_url = url;
    auto p = WithUpstream(std::move(*local), **db, options);
    ASSERT_FALSE(p.ok()) << url;
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(p.status().message().find("secret"), std::string::npos);
  }
}

}  // namespace
}  // namespace imgpipe::pacs
