// The PACS API (/pacs): JSON search and retrieve, previews, ingest. DESIGN.md "HTTP API".
#include <boost/json.hpp>

#include "core/uid.h"
#include "pacs/multipart.h"
#include "pacs/routes_util.h"

namespace imgpipe::pacs {
namespace {

namespace json = boost::json;
using core::Status;
using http::Request;
using http::Response;

json::array ToArray(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

// Where a record comes from: this archive, or the upstream PACS (pacs.upstream_url).
std::string_view Source(bool upstream) { return upstream ? "upstream" : "local"; }

json::object StudyJson(const StudyRecord& s) {
  return {{"study_id", s.study_id},         {"patient_id", s.patient_id},
          {"patient_name", s.patient_name}, {"patient_birth_date", s.patient_birth_date},
          {"patient_sex", s.patient_sex},   {"study_date", s.study_date},
          {"study_time", s.study_time},     {"accession_number", s.accession_number},
          {"description", s.description},   {"modalities", ToArray(s.modalities)},
          {"series_count", s.series_count}, {"image_count", s.image_count},
          {"source", Source(s.upstream)}};
}

json::object SeriesJson(const SeriesRecord& s) {
  return {{"series_id", s.series_id},         {"study_id", s.study_id},
          {"modality", s.modality},           {"description", s.description},
          {"series_number", s.series_number}, {"body_part_examined", s.body_part_examined},
          {"image_count", s.image_count},     {"source", Source(s.upstream)}};
}

std::string ImageUrl(const InstanceRecord& i) {
  return "/pacs/studies/" + i.study_id + "/series/" + i.series_id + "/images/" + i.image_id;
}

json::object ImageJson(const InstanceRecord& i) {
  std::string url = ImageUrl(i);
  return {{"image_id", i.image_id},
          {"series_id", i.series_id},
          {"study_id", i.study_id},
          {"instance_number", i.instance_number},
          {"rows", i.rows},
          {"columns", i.columns},
          {"frames", i.frames},
          {"bits_allocated", i.bits_allocated},
          {"photometric_interpretation", i.photometric_interpretation},
          {"transfer_syntax_uid", i.transfer_syntax_uid},
          {"sop_class_uid", i.sop_class_uid},
          {"size_bytes", i.size_bytes},
          {"source", Source(i.upstream)},
          {"preview_url", url + "/preview"},
          {"file_url", url + "/file"}};
}

// First value of a query parameter under any of `names` (DICOM keyword or snake_case).
std::optional<std::string_view> AnyQuery(const Request& r,
                                         std::initializer_list<std::string_view> names) {
  for (auto n : names) {
    if (auto v = r.Query(n)) return v;
  }
  return std::nullopt;
}

Response ListStudies(Request& r, Pacs& pacs) {
  StudyQuery q;
  PACS_RETURN_IF_ERROR(ParsePaging(r, &q.limit, &q.offset));
  if (auto v = AnyQuery(r, {"PatientID", "patient_id"})) q.patient_id = *v;
  if (auto v = AnyQuery(r, {"PatientName", "patient_name"})) q.patient_name = *v;
  if (auto v = AnyQuery(r, {"AccessionNumber", "accession_number"})) q.accession_number = *v;
  if (auto v = AnyQuery(r, {"StudyDate", "study_date"})) {
    PACS_RETURN_IF_ERROR(ParseDateRange(*v, &q.study_date_from, &q.study_date_to));
  }
  if (auto v = AnyQuery(r, {"ModalitiesInStudy", "modality", "modalities"})) {
    q.modalities = SplitValueList(*v);
  }
  PACS_ASSIGN_OR_RESPOND(auto page, pacs.FindStudies(q));
  json::array studies;
  for (const auto& s : page.items) studies.push_back(StudyJson(s));
  json::object body{{"studies", std::move(studies)},
                    {"total", page.total},
                    {"limit", page.limit},
                    {"offset", page.offset}};
  if (!page.warning.empty()) body["warning"] = page.warning;
  return JsonResponse(200, body);
}

Response GetStudy(Request& r, Pacs& pacs) {
  auto study = r.PathParam("study_id");
  PACS_RETURN_IF_ERROR(ValidateIds(study));
  PACS_ASSIGN_OR_RESPOND(auto record, pacs.GetStudy(study));
  PACS_ASSIGN_OR_RESPOND(auto series, pacs.ListSeries(study));
  json::object body = StudyJson(record);
  json::array list;
  for (const auto& s : series) list.push_back(SeriesJson(s));
  body["series"] = std::move(list);
  return JsonResponse(200, body);
}

Response GetSeries(Request& r, Pacs& pacs) {
  auto study = r.PathParam("study_id");
  auto series = r.PathParam("series_id");
  PACS_RETURN_IF_ERROR(ValidateIds(study, series));
  PACS_ASSIGN_OR_RESPOND(auto record, pacs.GetSeries(study, series));
  PACS_ASSIGN_OR_RESPOND(auto images, pacs.ListInstances(study, series));
  json::object body = SeriesJson(record);
  json::array list;
  for (const auto& i : images) {
    list.push_back(json::object{{"image_id", i.image_id},
                                {"instance_number", i.instance_number},
                                {"rows", i.rows},
                                {"columns", i.columns},
                                {"frames", i.frames},
                                {"source", Source(i.upstream)}});
  }
  body["images"] = std::move(list);
  return JsonResponse(200, body);
}

core::Result<InstanceRecord> LookUpImage(Request& r, Pacs& pacs) {
  auto study = r.PathParam("study_id");
  auto series = r.PathParam("series_id");
  auto image = r.PathParam("image_id");
  IMGPIPE_RETURN_IF_ERROR(ValidateIds(study, series, image));
  return pacs.GetInstance(study, series, image);
}

Response GetImage(Request& r, Pacs& pacs) {
  PACS_ASSIGN_OR_RESPOND(auto instance, LookUpImage(r, pacs));
  return JsonResponse(200, ImageJson(instance));
}

Response GetFile(Request& r, Pacs& pacs) {
  PACS_ASSIGN_OR_RESPOND(auto instance, LookUpImage(r, pacs));
  PACS_ASSIGN_OR_RESPOND(std::string bytes, pacs.ReadFile(instance));
  Response resp = Response::Bytes(200, "application/dicom", std::move(bytes));
  resp.SetHeader("Content-Disposition", "attachment; filename=\"" + instance.image_id + ".dcm\"");
  resp.SetHeader("Cache-Control", "public, max-age=31536000, immutable");
  return resp;
}

core::Result<dicom::RenderOptions> ParseRenderOptions(const Request& r) {
  dicom::RenderOptions o;
  if (auto v = r.Query("frame")) {
    IMGPIPE_ASSIGN_OR_RETURN(int64_t f, ParseInt(*v, "frame", 1, 100000));
    o.frame = static_cast<int>(f);
  }
  auto wc = r.Query("wc");
  auto ww = r.Query("ww");
  if (wc.has_value() != ww.has_value()) {
    return Status::InvalidArgument("wc and ww must be given together");
  }
  if (wc) {
    IMGPIPE_ASSIGN_OR_RETURN(o.window_center, ParseDouble(*wc, "wc"));
    IMGPIPE_ASSIGN_OR_RETURN(double width, ParseDouble(*ww, "ww"));
    if (width < 1) return Status::InvalidArgument("ww must be at least 1");
    o.window_width = width;
  }
  if (auto v = r.Query("size")) {
    IMGPIPE_ASSIGN_OR_RETURN(int64_t s, ParseInt(*v, "size", 1, 8192));
    o.size = static_cast<int>(s);
  }
  if (auto v = r.Query("format")) {
    if (*v == "png") {
      o.format = dicom::ImageFormat::kPng;
    } else if (*v == "jpeg" || *v == "jpg") {
      o.format = dicom::ImageFormat::kJpeg;
    } else {
      return Status::InvalidArgument("format must be png or jpeg");
    }
  }
  if (auto v = r.Query("quality")) {
    IMGPIPE_ASSIGN_OR_RETURN(int64_t q, ParseInt(*v, "quality", 1, 100));
    o.jpeg_quality = static_cast<int>(q);
  }
  return o;
}

Response Preview(Request& r, Pacs& pacs) {
  PACS_ASSIGN_OR_RESPOND(auto instance, LookUpImage(r, pacs));
  PACS_ASSIGN_OR_RESPOND(auto options, ParseRenderOptions(r));
  return PreviewResponse(r, pacs, instance, options);
}

// The seed's call: /pacs/preview?study_id=&series_id=&image_id=&scope=image. scope=series (or
// study) previews the middle image of the series (of the study's first series) when image_id is
// absent, which is what a viewer shows as a thumbnail.
Response SeedPreview(Request& r, Pacs& pacs) {
  std::string scope(r.Query("scope").value_or("image"));
  if (scope != "image" && scope != "series" && scope != "study") {
    return http::ErrorResponse(Status::InvalidArgument("scope must be image, series or study"));
  }
  std::string study(r.Query("study_id").value_or(""));
  std::string series(r.Query("series_id").value_or(""));
  std::string image(r.Query("image_id").value_or(""));
  if (study.empty()) return http::ErrorResponse(Status::InvalidArgument("study_id is required"));
  if (scope == "image" && (series.empty() || image.empty())) {
    return http::ErrorResponse(
        Status::InvalidArgument("scope=image needs study_id, series_id and image_id"));
  }
  PACS_RETURN_IF_ERROR(core::ValidateUid(study, "study_id"));
  if (!series.empty()) PACS_RETURN_IF_ERROR(core::ValidateUid(series, "series_id"));
  if (!image.empty()) PACS_RETURN_IF_ERROR(core::ValidateUid(image, "image_id"));
  PACS_ASSIGN_OR_RESPOND(auto options, ParseRenderOptions(r));
  InstanceRecord instance;
  if (!image.empty() && !series.empty()) {
    PACS_ASSIGN_OR_RESPOND(instance, pacs.GetInstance(study, series, image));
  } else {
    if (series.empty()) {
      PACS_ASSIGN_OR_RESPOND(auto all, pacs.ListSeries(study));
      if (all.empty()) return http::ErrorResponse(Status::NotFound("study has no series"));
      series = all.front().series_id;
    }
    PACS_ASSIGN_OR_RESPOND(auto images, pacs.ListInstances(study, series));
    if (images.empty()) return http::ErrorResponse(Status::NotFound("series has no images"));
    instance = images[images.size() / 2];
  }
  return PreviewResponse(r, pacs, instance, options);
}

json::object IngestJson(const IngestResult& result) {
  const InstanceRecord& i = result.instance;
  return {{"study_id", i.study_id},
          {"series_id", i.series_id},
          {"image_id", i.image_id},
          {"status", result.outcome == IngestOutcome::kStored ? "stored" : "already_stored"},
          {"url", ImageUrl(i)}};
}

json::object ErrorJson(const Status& s) {
  return {{"code", std::string(core::StatusCodeName(s.code()))}, {"message", s.message()}};
}

Response Ingest(Request& r, Pacs& pacs) {
  std::string content_type(r.Header("content-type").value_or(""));
  std::string media = MediaType(content_type);
  if (media == "application/dicom" || media == "application/octet-stream") {
    PACS_ASSIGN_OR_RESPOND(auto result, pacs.Ingest(r.body));
    int status = result.outcome == IngestOutcome::kStored ? 201 : 200;
    return JsonResponse(status, IngestJson(result));
  }
  if (media != "multipart/related") {
    return http::ErrorResponse(Status::UnsupportedMediaType(
        "send application/dicom, or multipart/related; type=\"application/dicom\""));
  }
  PACS_ASSIGN_OR_RESPOND(auto parts,
                         ParseMultipart(r.body, ContentTypeParam(content_type, "boundary")));
  json::array results;
  int failed = 0;
  Status first_error;
  for (size_t n = 0; n < parts.size(); ++n) {
    auto result = pacs.Ingest(parts[n].body);
    if (result.ok()) {
      results.push_back(IngestJson(*result));
    } else {
      ++failed;
      if (first_error.ok()) first_error = result.status();
      results.push_back(json::object{
          {"part", n + 1}, {"status", "rejected"}, {"error", ErrorJson(result.status())}});
    }
  }
  if (parts.empty()) {
    return http::ErrorResponse(Status::InvalidArgument("multipart body has no parts"));
  }
  // All rejected: the error of the first part, with every part's outcome for the caller.
  int status =
      failed == static_cast<int>(parts.size()) ? http::HttpStatusFor(first_error.code()) : 200;
  return JsonResponse(status, json::object{{"results", std::move(results)},
                                           {"stored", parts.size() - failed},
                                           {"rejected", failed}});
}

}  // namespace

void RegisterPacsApiRoutes(http::Router& router, Pacs& pacs) {
  auto bind = [&pacs](PacsHandler fn) { return BindPacs(fn, pacs); };
  const std::string image = "/pacs/studies/{study_id}/series/{series_id}/images/{image_id}";
  router.Add("GET", "/pacs/studies", bind(ListStudies));
  router.Add("GET", "/pacs/studies/{study_id}", bind(GetStudy));
  router.Add("GET", "/pacs/studies/{study_id}/series/{series_id}", bind(GetSeries));
  router.Add("GET", image, bind(GetImage));
  router.Add("GET", image + "/preview", bind(Preview));
  router.Add("GET", image + "/file", bind(GetFile));
  router.Add("GET", "/pacs/preview", bind(SeedPreview));
  router.Add("POST", "/pacs/images", bind(Ingest));
}

}  // namespace imgpipe::pacs
