// Opens the metadata store and blob store a configuration names.
#pragma once

#include <memory>

#include "algorithms/algorithms.h"
#include "app/config.h"
#include "blob/blob_store.h"
#include "core/status.h"
#include "db/database.h"
#include "exporter/exporter.h"
#include "jobs/jobs.h"
#include "pacs/pacs.h"
#include "push/push.h"
#include "queue/queue.h"
#include "rules/rules.h"

namespace imgpipe::app {

struct Stores {
  std::unique_ptr<db::Database> db;
  std::unique_ptr<blob::BlobStore> blobs;
  std::unique_ptr<pacs::Pacs> pacs;
  std::unique_ptr<algorithms::Registry> registry;  // built-ins (and external ones, when configured)
  std::unique_ptr<queue::QueueService> queues;
  std::unique_ptr<jobs::JobService> jobs;
  std::unique_ptr<push::EventStore> events;
  std::unique_ptr<push::Hub> hub;
  // The rules of config.rules_file (none without one); their engine runs only where serve starts
  // it (the api role).
  std::unique_ptr<rules::RuleService> rules;
  // The export destinations (export.destinations_file); never null.
  std::shared_ptr<const std::vector<exporter::Destination>> destinations;
};

// Creates data_dir if needed; opens the queues and the job service on the metadata store; SQLite at
// {data_dir}/imgpipe.db and blobs under {data_dir}/blobs unless configured otherwise. Unavailable,
// with a one-line reason, when a store cannot be opened; InvalidArgument for a bad rules file or
// an unreadable or invalid export destinations file.
core::Result<Stores> OpenStores(const Config& config);

}  // namespace imgpipe::app
