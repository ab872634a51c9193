// The upstream decorator against a fake DICOMweb server (http::Server on 127.0.0.1): WADO-RS
// fetches, the single flight, and upstream replies that must be refused.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "http/http.h"
#include "pacs/dicomweb_json.h"
#include "pacs/multipart.h"
#include "pacs/upstream.h"

namespace imgpipe::pacs {
namespace {

using core::StatusCode;
using http::Request;
using http::Response;

class UpstreamFetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = db::OpenSqlite(":memory:");
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
    blobs_ = blob::NewMemBlobStore();
    file_ = dicom::MakeDemoDataset().front().bytes;
    auto info = dicom::ParseInstance(file_);
    ASSERT_TRUE(info.ok());
    remote_.study_id = info->study_instance_uid;
    remote_.series_id = info->series_instance_uid;
    remote_.image_id = info->sop_instance_uid;
    remote_.upstream = true;

    auto router = std::make_shared<http::Router>();
    router->Add("GET", "/dw/studies/{s}/series/{se}/instances", [this](Request&) {
      std::string out = "[";
      AppendInstanceDicomJson(remote_, "http://x/dw", out);
      return Response::Bytes(200, "application/dicom+json", out + "]");
    });
    router->Add("GET", "/dw/studies/{s}/series/{se}/instances/{i}", [this](Request&) {
      ++fetches_;
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return open_; });
      if (reply_status_ != 200) return Response::Bytes(reply_status_, "text/plain", "no");
      std::string boundary = NewBoundary();
      std::string body;
      AppendPart(body, boundary, "application/dicom", served_.empty() ? file_ : served_);
      CloseMultipart(body, boundary);
      return Response::Bytes(
          200, "multipart/related; type=\"application/dicom\"; boundary=" + boundary, body);
    });
    http::ServerOptions options;
    options.port = 0;
    options.threads = 4;
    options.stop_on_signals = false;
    auto server = http::Server::Start(options, router);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);

    auto local = Pacs::Open(*db_, *blobs_, PacsOptions{});
    ASSERT_TRUE(local.ok());
    UpstreamOptions up;
    up.base_url = "http://127.0.0.1:" + std::to_string(server_->port()) + "/dw";
    up.max_instance_bytes = file_.size() + 4096;
    auto p = WithUpstream(std::move(*local), *db_, up);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pacs_ = std::move(*p);
  }

  void TearDown() override {
    Open();
    server_->Stop();
  }

  void Serve(std::string bytes, int status = 200) {
    std::lock_guard lock(mu_);
    served_ = std::move(bytes);
    reply_status_ = status;
  }

  void Open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

  std::unique_ptr<db::Database> db_;
  std::unique_ptr<blob::BlobStore> blobs_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<Pacs> pacs_;
  std::string file_;
  std::string served_;      // GUARDED_BY(mu_): what WADO-RS sends instead of file_, when set
  int reply_status_ = 200;  // GUARDED_BY(mu_)
  InstanceRecord remote_;
  std::atomic<int> fetches_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;  // GUARDED_BY(mu_): WADO-RS answers only once open
};

TEST_F(UpstreamFetchTest, ConcurrentReadsFetchOnceThenReadLocally) {
  {
    std::lock_guard lock(mu_);
    open_ = false;  // hold the fetch until every reader has asked
  }
  auto found = pacs_->GetInstance(remote_.study_id, remote_.series_id, remote_.image_id);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_TRUE(found->upstream);
  std::vector<std::thread> readers;
  std::atomic<int> same{0};
  for (int n = 0; n < 8; ++n) {
    readers.emplace_back([&] {
      auto bytes = pacs_->ReadFile(*found);
      if (bytes.ok() && *bytes == file_) ++same;
    });
  }
  while (fetches_ == 0) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the others join the flight
  Open();
  for (auto& t : readers) t.join();
  EXPECT_EQ(same, 8);
  EXPECT_EQ(fetches_, 1);
  auto held = pacs_->GetInstance(remote_.study_id, remote_.series_id, remote_.image_id);
  ASSERT_TRUE(held.ok());
  EXPECT_FALSE(held->upstream);
  EXPECT_EQ(held->size_bytes, static_cast<int64_t>(file_.size()));
  auto preview = pacs_->Preview(*found, dicom::RenderOptions{});  // the stale record: local now
  EXPECT_TRUE(preview.ok()) << preview.status().ToString();
  EXPECT_EQ(fetches_, 1);
}

TEST_F(UpstreamFetchTest, RefusesAnotherInstanceOversizeAndErrors) {
  Serve(dicom::MakeDemoDataset()[1].bytes);  // a valid file, but not the one asked for
  auto r = pacs_->ReadFile(remote_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("another instance"), std::string::npos);

  Serve(file_ + std::string(8192, '\0'));  // over max_instance_bytes
  EXPECT_EQ(pacs_->ReadFile(remote_).status().code(), StatusCode::kUnavailable);

  Serve("not dicom");
  EXPECT_EQ(pacs_->ReadFile(remote_).status().code(), StatusCode::kUnavailable);

  Serve("", 500);
  auto e = pacs_->ReadFile(remote_);
  EXPECT_EQ(e.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(e.status().message().find("HTTP 500"), std::string::npos) << e.status().message();
  Serve("", 404);
  EXPECT_EQ(pacs_->ReadFile(remote_).status().code(), StatusCode::kNotFound);

  auto count = pacs_->CountInstances();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 0);  // nothing refused was stored
}

}  // namespace
}  // namespace imgpipe::pacs
