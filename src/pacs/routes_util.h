// Shared by the PACS API and DICOMweb handlers: parameter parsing and common responses.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "dicom/dicom.h"
#include "http/http.h"
#include "pacs/pacs.h"

namespace imgpipe::pacs {

// Parses a decimal integer in [min, max]; InvalidArgument naming `what` otherwise.
core::Result<int64_t> ParseInt(std::string_view text, std::string_view what, int64_t min,
                               int64_t max);
core::Result<double> ParseDouble(std::string_view text, std::string_view what);

// Splits a multi-valued query parameter ("CT,MR" or DICOM's "CT\\MR"); empty items dropped.
std::vector<std::string> SplitValueList(std::string_view s);

// Validates study/series/image path or query parameters as UIDs.
core::Status ValidateIds(std::string_view study, std::string_view series = {},
                         std::string_view image = {});

// "YYYYMMDD", "YYYYMMDD-YYYYMMDD", "-YYYYMMDD", "YYYYMMDD-" (DICOM date range matching).
core::Status ParseDateRange(std::string_view text, std::string* from, std::string* to);

// limit (1..1000, default 100) and offset (>= 0) from the query string.
core::Status ParsePaging(const http::Request& request, int* limit, int* offset);

// The preview: 304 when If-None-Match matches, else the image with ETag and immutable caching.
http::Response PreviewResponse(const http::Request& request, Pacs& pacs,
                               const InstanceRecord& instance, const dicom::RenderOptions& options);

// A strong ETag for a rendering of an instance (instances never change).
std::string PreviewETag(const InstanceRecord& instance, const dicom::RenderOptions& options);

http::Response JsonResponse(int status, const boost::json::value& body,
                            std::string_view content_type = "application/json");

// Returns the response for `status` when it is an error (for early returns in handlers).
#define PACS_RETURN_IF_ERROR(expr)                             \
  do {                                                         \
    ::imgpipe::core::Status _st = (expr);                      \
    if (!_st.ok()) return ::imgpipe::http::ErrorResponse(_st); \
  } while (0)
#define PACS_ASSIGN_OR_RESPOND(lhs, expr) \
  PACS_ASSIGN_OR_RESPOND_IMPL(IMGPIPE_CONCAT(_r_, __LINE__), lhs, expr)
#define PACS_ASSIGN_OR_RESPOND_IMPL(res, lhs, expr)                   \
  auto res = (expr);                                                  \
  if (!res.ok()) return ::imgpipe::http::ErrorResponse(res.status()); \
  lhs = std::move(res).value()

// A handler function of the PACS routes, bound to the Pacs it serves.
using PacsHandler = http::Response (*)(http::Request&, Pacs&);
inline http::Handler BindPacs(PacsHandler fn, Pacs& pacs) {
  return [fn, &pacs](http::Request& r) { return fn(r, pacs); };
}

void RegisterPacsApiRoutes(http::Router& router, Pacs& pacs);
void RegisterDicomwebRoutes(http::Router& router, Pacs& pacs);  // the three below
void RegisterQidoRoutes(http::Router& router, Pacs& pacs);
void RegisterWadoRoutes(http::Router& router, Pacs& pacs);
void RegisterStowRoutes(http::Router& router, Pacs& pacs);

}  // namespace imgpipe::pacs
