#include "app/stores.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <system_error>

#include "db/postgres.h"
#include "pacs/upstream.h"

namespace imgpipe::app {

core::Result<Stores> OpenStores(const Config& config) {
  namespace fs = std::filesystem;
  // First: a bad destinations file stops the start before anything is created or migrated.
  IMGPIPE_ASSIGN_OR_RETURN(auto destinations,
                           exporter::LoadDestinations(config.export_destinations_file));
  std::error_code ec;
  // The data dir holds patient images and the database: one we create is the owner's alone
  // (0700, whatever the umask). An existing one keeps the mode its operator chose.
  const bool created = fs::create_directories(config.data_dir, ec);
  if (!ec && created) fs::permissions(config.data_dir, fs::perms::owner_all, ec);
  if (ec) {
    return core::Status::Unavailable("cannot create data dir " + config.data_dir + ": " +
                                     ec.message());
  }
  Stores s;
  s.destinations =
      std::make_shared<const std::vector<exporter::Destination>>(std::move(destinations));
  std::string db_path = (fs::path(config.data_dir) / "imgpipe.db").string();
  const std::string& url = config.database_url;
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
    // Metadata in PostgreSQL (several imgpipe processes can share it).
    IMGPIPE_ASSIGN_OR_RETURN(s.db, db::OpenPostgres(url));
  } else {
    if (url.rfind("sqlite://", 0) == 0) {
      db_path = url.substr(9);
    } else if (!url.empty()) {
      return core::Status::InvalidArgument(
          "database.url must start with sqlite:// or postgresql://");
    }
    IMGPIPE_ASSIGN_OR_RETURN(s.db, db::OpenSqlite(db_path));
  }
  if (config.blob_url.empty()) {
    IMGPIPE_ASSIGN_OR_RETURN(s.blobs,
                             blob::NewFsBlobStore((fs::path(config.data_dir) / "blobs").string()));
  } else {
    // S3-compatible storage; credentials from the standard AWS environment variables.
    IMGPIPE_ASSIGN_OR_RETURN(blob::S3Options s3, blob::ParseS3Url(config.blob_url));
    s3.endpoint = config.blob_s3_endpoint;
    s3.region = config.blob_s3_region;
    auto store = blob::NewS3BlobStore(std::move(s3));
    if (!store.ok()) return store.status().WithContext("blob.url " + config.blob_url);
    s.blobs = std::move(*store);
  }
  // Objects indexed in place (imgpipe import s3://...) are read from their own bucket, with the
  // same endpoint, region and credentials.
  blob::S3Options references;
  references.endpoint = config.blob_s3_endpoint;
  references.region = config.blob_s3_region;
  s.blobs = blob::WithReferences(std::move(s.blobs), std::move(references));
  pacs::PacsOptions options;
  options.render_cache_bytes = config.render_cache_mb << 20;
  IMGPIPE_ASSIGN_OR_RETURN(s.pacs, pacs::Pacs::Open(*s.db, *s.blobs, options));
  if (!config.pacs_upstream_url.empty()) {
    // Studies of a remote DICOMweb PACS beside the local ones (docs/dicom-networking.md).
    pacs::UpstreamOptions upstream;
    upstream.base_url = config.pacs_upstream_url;
    upstream.authorization = config.pacs_upstream_authorization;
    upstream.timeout = std::chrono::seconds(config.pacs_upstream_timeout_s);
    auto wrapped = pacs::WithUpstream(std::move(s.pacs), *s.db, std::move(upstream));
    if (!wrapped.ok()) return wrapped.status().WithContext("pacs.upstream_url");
    s.pacs = std::move(*wrapped);
    spdlog::info("upstream PACS: {}", config.pacs_upstream_url);
  }
  s.registry = algorithms::Registry::WithBuiltIns();
  if (!config.external_algorithms_dir.empty()) {
    IMGPIPE_RETURN_IF_ERROR(
        algorithms::LoadExternalAlgorithms(config.external_algorithms_dir, *s.registry)
            .WithContext("algorithms.external_dir"));
  }
  IMGPIPE_ASSIGN_OR_RETURN(s.queues, queue::NewSqlQueueService(*s.db));
  jobs::JobServiceOptions job_options;
  job_options.max_queue_depth = config.queue_max_depth;
  job_options.max_active_jobs_per_client = config.limits_max_active_jobs_per_client;
  job_options.queue_options.visibility_timeout =
      std::chrono::seconds(config.queue_visibility_timeout_s);
  job_options.queue_options.max_receive_count = config.queue_max_receive_count;
  job_options.export_destinations = exporter::Names(*s.destinations);
  IMGPIPE_ASSIGN_OR_RETURN(
      s.jobs, jobs::JobService::Create(*s.db, *s.queues, *s.pacs, job_options, *s.registry));
  std::vector<rules::Rule> rules;
  if (!config.rules_file.empty()) {
    IMGPIPE_ASSIGN_OR_RETURN(rules, rules::LoadRulesFile(config.rules_file, *s.registry));
    // A rule exporting to a destination that does not exist would fail every firing: refuse
    // to start instead, naming it.
    for (const rules::Rule& rule : rules) {
      for (const std::string& destination : rule.export_destinations) {
        if (!job_options.export_destinations.count(destination)) {
          return core::Status::InvalidArgument("rules file " + config.rules_file + ": rule " +
                                               rule.name + ": unknown export destination \"" +
                                               destination + "\" (export.destinations_file)");
        }
      }
    }
  }
  IMGPIPE_ASSIGN_OR_RETURN(s.rules,
                           rules::RuleService::Create(*s.db, *s.jobs, *s.pacs, std::move(rules)));
  IMGPIPE_ASSIGN_OR_RETURN(s.events, push::EventStore::Open(*s.db));
  s.hub = std::make_unique<push::Hub>();
  return s;
}

}  // namespace imgpipe::app
