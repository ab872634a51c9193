// WADO-RS (PS3.18 10.4): retrieve instances, metadata, rendered images and frames.
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

// What one /frames response may hold: the list repeats a frame number as often as the request
// line allows, so without a budget a 64 KB request could ask for gigabytes of decoded pixels.
constexpr uint64_t kMaxFramesBytes = 256ull << 20;

// The instances a WADO-RS path names: a study, a series, or one instance.
core::Result<std::vector<InstanceRecord>> Select(const Request& r, Pacs& pacs) {
  auto study = r.PathParam("study_id");
  auto series = r.PathParam("series_id");
  auto image = r.PathParam("image_id");
  IMGPIPE_RETURN_IF_ERROR(ValidateIds(study, series, image));
  if (!image.empty()) {
    IMGPIPE_ASSIGN_OR_RETURN(auto one, pacs.GetInstance(study, series, image));
    return std::vector<InstanceRecord>{std::move(one)};
  }
  if (!series.empty()) {
    IMGPIPE_RETURN_IF_ERROR(pacs.GetSeries(study, series).status());
    return pacs.ListInstances(study, series);
  }
  IMGPIPE_RETURN_IF_ERROR(pacs.GetStudy(study).status());
  return pacs.ListStudyInstances(study);
}

// Accept negotiation for retrieve: we serve the files as stored (transfer-syntax=*), so any
// Accept that allows multipart/related with application/dicom (or anything) is fine.
bool AcceptsDicomMultipart(const Request& r) {
  auto accept = r.Header("accept");
  if (!accept || accept->empty()) return true;
  return accept->find("multipart/related") != std::string_view::npos ||
         accept->find("*/*") != std::string_view::npos;
}

Response RetrieveInstances(Request& r, Pacs& pacs) {
  if (!AcceptsDicomMultipart(r)) {
    Response resp = http::ErrorResponse(
        Status::InvalidArgument("retrieve serves multipart/related; type=\"application/dicom\""));
    resp.status = 406;
    return resp;
  }
  PACS_ASSIGN_OR_RESPOND(auto instances, Select(r, pacs));
  std::string boundary = NewBoundary();
  std::string body;
  for (const auto& i : instances) {
    PACS_ASSIGN_OR_RESPOND(std::string bytes, pacs.ReadFile(i));
    // An upstream instance's record may not know its transfer syntax (the file does).
    AppendPart(body, boundary,
               i.transfer_syntax_uid.empty()
                   ? std::string("application/dicom")
                   : "application/dicom; transfer-syntax=" + i.transfer_syntax_uid,
               bytes);
  }
  CloseMultipart(body, boundary);
  return Response::Bytes(200, "multipart/related; type=\"application/dicom\"; boundary=" + boundary,
                         std::move(body));
}

Response RetrieveMetadata(Request& r, Pacs& pacs) {
  PACS_ASSIGN_OR_RESPOND(auto instances, Select(r, pacs));
  std::string body = "[";
  for (size_t n = 0; n < instances.size(); ++n) {
    PACS_ASSIGN_OR_RESPOND(std::string bytes, pacs.ReadFile(instances[n]));
    PACS_ASSIGN_OR_RESPOND(std::string object, dicom::ToDicomJson(bytes));
    if (n) body += ',';
    body += object;
  }
  body += ']';
  return Response::Bytes(200, "application/dicom+json", std::move(body));
}

// /rendered: image/jpeg by default (PS3.18 8.3.5.1), image/png when asked for. Query: window=
// center,width[,function], viewport=w[,h], quality.
Response Rendered(Request& r, Pacs& pacs) {
  PACS_ASSIGN_OR_RESPOND(auto instances, Select(r, pacs));
  dicom::RenderOptions o;
  o.format = dicom::ImageFormat::kJpeg;
  auto accept = r.Header("accept").value_or("");
  if (accept.find("image/png") != std::string_view::npos &&
      accept.find("image/jpeg") == std::string_view::npos) {
    o.format = dicom::ImageFormat::kPng;
  }
  if (auto f = r.PathParam("frame"); !f.empty()) {
    PACS_ASSIGN_OR_RESPOND(int64_t frame, ParseInt(f, "frame", 1, 100000));
    o.frame = static_cast<int>(frame);
  }
  if (auto w = r.Query("window")) {
    size_t c1 = w->find(',');
    if (c1 == std::string_view::npos) {
      return http::ErrorResponse(Status::InvalidArgument("window must be center,width"));
    }
    std::string_view rest = w->substr(c1 + 1);
    PACS_ASSIGN_OR_RESPOND(o.window_center, ParseDouble(w->substr(0, c1), "window center"));
    PACS_ASSIGN_OR_RESPOND(double width,
                           ParseDouble(rest.substr(0, rest.find(',')), "window width"));
    if (width < 1) return http::ErrorResponse(Status::InvalidArgument("window width must be >= 1"));
    o.window_width = width;
  }
  if (auto v = r.Query("viewport")) {
    std::string_view first = v->substr(0, v->find(','));
    PACS_ASSIGN_OR_RESPOND(int64_t size, ParseInt(first, "viewport", 1, 8192));
    o.size = static_cast<int>(size);
  }
  if (auto q = r.Query("quality")) {
    PACS_ASSIGN_OR_RESPOND(int64_t quality, ParseInt(*q, "quality", 1, 100));
    o.jpeg_quality = static_cast<int>(quality);
  }
  return PreviewResponse(r, pacs, instances.front(), o);
}

// /frames/{list}: the decoded frames as application/octet-stream parts (little endian, as
// stored after decompression).
Response Frames(Request& r, Pacs& pacs) {
  PACS_ASSIGN_OR_RESPOND(auto instances, Select(r, pacs));
  const InstanceRecord& instance = instances.front();
  std::vector<int> frames;
  std::string_view list = r.PathParam("frames");
  while (!list.empty()) {
    size_t c = list.find(',');
    PACS_ASSIGN_OR_RESPOND(int64_t f, ParseInt(list.substr(0, c), "frame number", 1,
                                               std::max<int64_t>(1, instance.frames)));
    frames.push_back(static_cast<int>(f));
    if (c == std::string_view::npos) break;
    list.remove_prefix(c + 1);
  }
  if (frames.empty() || frames.size() > 10000) {
    return http::ErrorResponse(Status::InvalidArgument("give 1 to 10000 frame numbers"));
  }
  PACS_ASSIGN_OR_RESPOND(std::string file, pacs.ReadFile(instance));
  std::string boundary = NewBoundary();
  std::string body;
  for (int f : frames) {
    PACS_ASSIGN_OR_RESPOND(auto frame, dicom::DecodeFrame(file, f));
    // Every frame of an instance decodes to the same size: the first one tells the total.
    const uint64_t total = static_cast<uint64_t>(frame.pixels.size()) * frames.size();
    if (total > kMaxFramesBytes) {
      return http::ErrorResponse(Status::InvalidArgument(
          std::to_string(frames.size()) + " frames of " + std::to_string(frame.pixels.size()) +
          " bytes are more than the " + std::to_string(kMaxFramesBytes >> 20) +
          " MB one response may hold: ask for fewer"));
    }
    AppendPart(
        body, boundary, "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1",
        std::string_view(reinterpret_cast<const char*>(frame.pixels.data()), frame.pixels.size()));
  }
  CloseMultipart(body, boundary);
  return Response::Bytes(
      200, "multipart/related; type=\"application/octet-stream\"; boundary=" + boundary,
      std::move(body));
}

}  // namespace

void RegisterWadoRoutes(http::Router& router, Pacs& pacs) {
  auto bind = [&pacs](PacsHandler fn) { return BindPacs(fn, pacs); };
  const std::string study = "/dicomweb/studies/{study_id}";
  const std::string series = study + "/series/{series_id}";
  const std::string instance = series + "/instances/{image_id}";
  for (const std::string& base : {study, series, instance}) {
    router.Add("GET", base, bind(RetrieveInstances));
    router.Add("GET", base + "/metadata", bind(RetrieveMetadata));
  }
  router.Add("GET", instance + "/rendered", bind(Rendered));
  router.Add("GET", instance + "/frames/{frames}", bind(Frames));
  router.Add("GET", instance + "/frames/{frame}/rendered", bind(Rendered));
}

void RegisterDicomwebRoutes(http::Router& router, Pacs& pacs) {
  RegisterQidoRoutes(router, pacs);
  RegisterWadoRoutes(router, pacs);
  RegisterStowRoutes(router, pacs);
}

}  // namespace imgpipe::pacs
