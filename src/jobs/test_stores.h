// For the tests of the job service, the workers and the exporter: a fixture holding the stores a
// JobService runs on, in a temporary folder of its own: the test database (SQLite, or PostgreSQL
// where the test is built with IMGPIPE_TEST_POSTGRES; db/test_database.h), a folder blob store, a
// PACS on them, and the SQL queue service. Header-only, so that each test target's
// IMGPIPE_TEST_POSTGRES picks its engine.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "blob/blob_store.h"
#include "core/temp_dir.h"
#include "db/test_database.h"
#include "dicom/dicom.h"
#include "pacs/pacs.h"
#include "queue/queue.h"

namespace imgpipe::jobs::testing {

// The demo dataset, made once per test binary.
inline const std::vector<dicom::DemoFile>& DemoFiles() {
  static const auto* files = new std::vector<dicom::DemoFile>(dicom::MakeDemoDataset());
  return *files;
}

class StoresTest : public ::testing::Test {
 protected:
  explicit StoresTest(const std::string& name) : dir_(name) {}

  // Opens the stores; a fixture's SetUp calls it in ASSERT_NO_FATAL_FAILURE.
  void OpenStores() {
    auto db = db::testing::OpenTestDatabase(dir_.path());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    auto blobs = blob::NewFsBlobStore(dir_.path() + "/blobs");
    ASSERT_TRUE(blobs.ok()) << blobs.status().ToString();
    blobs_ = std::move(*blobs);
    auto pacs = pacs::Pacs::Open(*db_, *blobs_, pacs::PacsOptions{});
    ASSERT_TRUE(pacs.ok()) << pacs.status().ToString();
    pacs_ = std::move(*pacs);
    auto queues = queue::NewSqlQueueService(*db_);
    ASSERT_TRUE(queues.ok()) << queues.status().ToString();
    queues_ = std::move(*queues);
  }

  // Stores `file` in the PACS; its record in *stored.
  void Ingest(const dicom::DemoFile& file, pacs::InstanceRecord* stored) {
    auto ingested = pacs_->Ingest(file.bytes);
    ASSERT_TRUE(ingested.ok()) << file.name << ": " << ingested.status().ToString();
    *stored = ingested->instance;
  }

  core::TempDir dir_;
  std::unique_ptr<db::Database> db_;
  std::unique_ptr<blob::BlobStore> blobs_;
  std::unique_ptr<pacs::Pacs> pacs_;
  std::unique_ptr<queue::QueueService> queues_;
};

}  // namespace imgpipe::jobs::testing
