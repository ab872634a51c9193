// The upstream PACS's QIDO-RS side (PS3.18 10.6): query strings built from a StudyQuery, and its
// DICOM JSON replies (PS3.18 F.2) mapped to index records. Pure functions, no I/O.
//
// The replies come from another system, so they are checked like any input: a reply that is not
// a JSON array of objects, an attribute whose "Value" has the wrong type, or a result without a
// valid UID (the UIDs reach blob keys and URLs) is Unavailable ("the upstream PACS sent ..."),
// never a crash. Missing optional attributes are empty/0.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "pacs/pacs.h"

namespace imgpipe::pacs {

// Percent-encodes `s` for a query string (RFC 3986 unreserved characters kept).
std::string QueryEscape(std::string_view s);

// "?StudyInstanceUID=...&PatientID=...&limit=N&offset=M&includefield=...": the filters of
// `query` as QIDO-RS matching keys, with `limit` and `offset` given (the caller's paging across
// two sources decides them). Wildcards (* ?) pass through; a date range is "from-to".
std::string StudyQueryString(const StudyQuery& query, int limit, int offset);

// includefield values for the series and instance queries (the record fields beyond the
// defaults PS3.18 requires).
std::string SeriesIncludeFields();
std::string InstanceIncludeFields();

// Maps a QIDO-RS reply to records marked `upstream`. `study` (and `series`) fill the parent ids
// when the results leave them out.
core::Result<std::vector<StudyRecord>> ParseQidoStudies(std::string_view body);
core::Result<std::vector<SeriesRecord>> ParseQidoSeries(std::string_view body,
                                                        std::string_view study);
core::Result<std::vector<InstanceRecord>> ParseQidoInstances(std::string_view body,
                                                             std::string_view study,
                                                             std::string_view series);

}  // namespace imgpipe::pacs
