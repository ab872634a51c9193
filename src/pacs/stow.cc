// STOW-RS (PS3.18 10.5): store instances sent as multipart/related; type="application/dicom".
#include <boost/json.hpp>

#include "core/uid.h"
#include "dicom/dicom.h"
#include "pacs/dicomweb_json.h"
#include "pacs/multipart.h"
#include "pacs/routes_util.h"

namespace imgpipe::pacs {
namespace {

namespace json = boost::json;
using core::Status;
using http::Request;
using http::Response;

// Failure reasons (PS3.4 Annex GG Table GG.4-1 and the C-STORE status codes).
constexpr int64_t kProcessingFailure = 0x0110;
constexpr int64_t kCannotUnderstand = 0xC000;
constexpr int64_t kStudyMismatch = 0xA900;
constexpr int64_t kOutOfResources = 0xA700;

int64_t FailureReason(const Status& s) {
  switch (s.code()) {
    case core::StatusCode::kInvalidArgument:
    case core::StatusCode::kUnsupportedMediaType:
    case core::StatusCode::kUnprocessable:
      return kCannotUnderstand;
    case core::StatusCode::kConflict:
      return kStudyMismatch;
    case core::StatusCode::kUnavailable:
    case core::StatusCode::kResourceExhausted:
      return kOutOfResources;
    default:
      return kProcessingFailure;
  }
}

Response Store(Request& r, Pacs& pacs) {
  std::string content_type(r.Header("content-type").value_or(""));
  if (MediaType(content_type) != "multipart/related") {
    return http::ErrorResponse(Status::UnsupportedMediaType(
        "STOW-RS needs multipart/related; type=\"application/dicom\""));
  }
  std::string type = ContentTypeParam(content_type, "type");
  if (!type.empty() && type != "application/dicom") {
    return http::ErrorResponse(Status::UnsupportedMediaType(
        "only type=\"application/dicom\" is supported (not " + type + ")"));
  }
  auto study_filter = r.PathParam("study_id");
  if (!study_filter.empty()) PACS_RETURN_IF_ERROR(ValidateIds(study_filter));
  PACS_ASSIGN_OR_RESPOND(auto parts,
                         ParseMultipart(r.body, ContentTypeParam(content_type, "boundary")));
  if (parts.empty()) return http::ErrorResponse(Status::InvalidArgument("no parts to store"));

  std::string base = "http://" + std::string(r.Header("host").value_or("localhost")) + "/dicomweb";
  json::array referenced, failed;
  std::string study_url;
  for (const auto& part : parts) {
    core::Result<IngestResult> result = Status::Internal("unset");
    if (!part.content_type.empty() && MediaType(part.content_type) != "application/dicom") {
      result = Status::UnsupportedMediaType("part is " + part.content_type);
    } else if (!study_filter.empty()) {
      auto info = dicom::ParseInstance(part.body);
      if (info.ok() && info->study_instance_uid != study_filter) {
        result = Status::Conflict("instance belongs to another study");
      } else {
        result = pacs.Ingest(part.body);
      }
    } else {
      result = pacs.Ingest(part.body);
    }
    if (result.ok()) {
      const InstanceRecord& i = result->instance;
      json::object item;
      PutString(item, "00081150", "UI", i.sop_class_uid);
      PutString(item, "00081155", "UI", i.image_id);
      PutString(
          item, "00081190", "UR",
          base + "/studies/" + i.study_id + "/series/" + i.series_id + "/instances/" + i.image_id);
      referenced.push_back(std::move(item));
      if (study_url.empty()) study_url = base + "/studies/" + i.study_id;
    } else {
      json::object item;
      // The UIDs of a rejected part, when it is readable enough to have them.
      auto info = dicom::ParseInstance(part.body);
      if (info.ok()) {
        PutString(item, "00081150", "UI", info->sop_class_uid);
        PutString(item, "00081155", "UI", info->sop_instance_uid);
      }
      PutInt(item, "00081197", "US", FailureReason(result.status()));
      failed.push_back(std::move(item));
    }
  }
  json::object body;
  if (!study_url.empty()) PutString(body, "00081190", "UR", study_url);
  if (!referenced.empty()) body["00081199"] = json::object{{"vr", "SQ"}, {"Value", referenced}};
  if (!failed.empty()) body["00081198"] = json::object{{"vr", "SQ"}, {"Value", failed}};
  // 200 all stored; 202 some stored; 409 none stored (PS3.18 10.5.3).
  int status = failed.empty() ? 200 : (referenced.empty() ? 409 : 202);
  return JsonResponse(status, body, "application/dicom+json");
}

}  // namespace

void RegisterStowRoutes(http::Router& router, Pacs& pacs) {
  auto handler = [&pacs](Request& r) { return Store(r, pacs); };
  router.Add("POST", "/dicomweb/studies", handler);
  router.Add("POST", "/dicomweb/studies/{study_id}", handler);
}

}  // namespace imgpipe::pacs
