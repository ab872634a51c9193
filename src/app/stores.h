// Opens the metadata store and blob store a configuration names.
#pragma once

#include <memory>

#include "app/config.h"
#include "blob/blob_store.h"
#include "core/status.h"
#include "db/database.h"
#include "pacs/pacs.h"

namespace imgpipe::app {

struct Stores {
  std::unique_ptr<db::Database> db;
  std::unique_ptr<blob::BlobStore> blobs;
  std::unique_ptr<pacs::Pacs> pacs;
};

// Creates data_dir if needed; SQLite at {data_dir}/imgpipe.db and blobs under {data_dir}/blobs
// unless configured otherwise. Unavailable, with a one-line reason, when a store cannot be opened.
core::Result<Stores> OpenStores(const Config& config);

}  // namespace imgpipe::app
