// The DICOMweb client of the upstream PACS: QIDO-RS searches and WADO-RS instance retrieve over
// plain http (http::Fetch), with a deadline and a size bound on every reply.
//
// Errors: cannot connect, timed out, 5xx, another unexpected status, a malformed or oversized
// reply: Unavailable naming the upstream ("the upstream PACS http://... ..."); 404: NotFound.
//
// Thread-safety: thread-safe (no mutable state).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "pacs/pacs.h"
#include "pacs/upstream.h"

namespace imgpipe::pacs {

class UpstreamClient {
 public:
  explicit UpstreamClient(UpstreamOptions options) : options_(std::move(options)) {}

  // GET /studies + `query` (StudyQueryString).
  core::Result<std::vector<StudyRecord>> Studies(std::string_view query) const;
  // GET /studies/{study}/series, only `series` when given.
  core::Result<std::vector<SeriesRecord>> Series(std::string_view study,
                                                 std::string_view series) const;
  // GET /studies/{study}/series/{series}/instances, only `image` when given.
  core::Result<std::vector<InstanceRecord>> Instances(std::string_view study,
                                                      std::string_view series,
                                                      std::string_view image) const;
  // WADO-RS GET /studies/{s}/series/{se}/instances/{i} as stored upstream (transfer-syntax=*):
  // the Part 10 file, checked to be that instance.
  core::Result<std::string> Retrieve(const InstanceRecord& instance) const;

 private:
  core::Result<std::string> Get(const std::string& path, std::string_view accept, uint64_t limit,
                                std::string* content_type = nullptr) const;

  UpstreamOptions options_;
};

}  // namespace imgpipe::pacs
