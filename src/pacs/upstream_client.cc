#include "pacs/upstream_client.h"

#include "dicom/dicom.h"
#include "http/client.h"
#include "pacs/multipart.h"
#include "pacs/upstream_qido.h"

namespace imgpipe::pacs {

using core::Result;
using core::Status;

Result<std::string> UpstreamClient::Get(const std::string& path, std::string_view accept,
                                        uint64_t limit, std::string* content_type) const {
  const std::string& base = options_.base_url;
  http::HeaderList headers{{"Accept", std::string(accept)}};
  if (!options_.authorization.empty())
    headers.emplace_back("Authorization", options_.authorization);
  http::FetchOptions fetch;
  fetch.timeout = options_.timeout;
  fetch.body_limit = limit;
  auto reply = http::Fetch("GET", base + path, {}, headers, fetch);
  if (!reply.ok()) {
    return Status::Unavailable("the upstream PACS " + base +
                               " did not answer: " + reply.status().message());
  }
  if (reply->status == 404) {
    return Status::NotFound("not found here nor on the upstream PACS: " + path);
  }
  if (reply->status == 204) return std::string();
  if (reply->status != 200) {
    return Status::Unavailable("the upstream PACS " + base + " answered HTTP " +
                               std::to_string(reply->status) + " to GET " + path);
  }
  if (content_type) *content_type = std::string(reply->Header("content-type").value_or(""));
  return std::move(reply->body);
}

Result<std::vector<StudyRecord>> UpstreamClient::Studies(std::string_view query) const {
  IMGPIPE_ASSIGN_OR_RETURN(
      std::string body,
      Get("/studies" + std::string(query), "application/dicom+json", options_.max_query_bytes));
  return ParseQidoStudies(body);
}

Result<std::vector<SeriesRecord>> UpstreamClient::Series(std::string_view study,
                                                         std::string_view series) const {
  std::string path = "/studies/" + std::string(study) + "/series?";
  if (!series.empty()) path += "SeriesInstanceUID=" + std::string(series) + "&";
  path += "includefield=" + SeriesIncludeFields();
  IMGPIPE_ASSIGN_OR_RETURN(std::string body,
                           Get(path, "application/dicom+json", options_.max_query_bytes));
  return ParseQidoSeries(body, study);
}

Result<std::vector<InstanceRecord>> UpstreamClient::Instances(std::string_view study,
                                                              std::string_view series,
                                                              std::string_view image) const {
  std::string path =
      "/studies/" + std::string(study) + "/series/" + std::string(series) + "/instances?";
  if (!image.empty()) path += "SOPInstanceUID=" + std::string(image) + "&";
  path += "includefield=" + InstanceIncludeFields();
  IMGPIPE_ASSIGN_OR_RETURN(std::string body,
                           Get(path, "application/dicom+json", options_.max_query_bytes));
  return ParseQidoInstances(body, study, series);
}

Result<std::string> UpstreamClient::Retrieve(const InstanceRecord& i) const {
  const std::string path =
      "/studies/" + i.study_id + "/series/" + i.series_id + "/instances/" + i.image_id;
  std::string content_type;
  IMGPIPE_ASSIGN_OR_RETURN(
      std::string body,
      Get(path, "multipart/related; type=\"application/dicom\"; transfer-syntax=*",
          options_.max_instance_bytes, &content_type));
  auto refuse = [&](std::string why) {
    return Status::Unavailable("the upstream PACS " + options_.base_url + " sent " + why +
                               " for image " + i.image_id);
  };
  std::string file;
  const std::string media = MediaType(content_type);
  if (media == "multipart/related") {
    auto parts = ParseMultipart(body, ContentTypeParam(content_type, "boundary"));
    if (!parts.ok())
      return refuse("a malformed multipart reply (" + parts.status().message() + ")");
    if (parts->size() != 1) return refuse(std::to_string(parts->size()) + " parts, not one,");
    file = std::string(parts->front().body);
  } else if (media == "application/dicom") {
    file = std::move(body);
  } else {
    return refuse("'" + media + "', not DICOM,");
  }
  auto info = dicom::ParseInstance(file);
  if (!info.ok()) return refuse("an unreadable DICOM file (" + info.status().message() + ")");
  if (info->sop_instance_uid != i.image_id || info->series_instance_uid != i.series_id ||
      info->study_instance_uid != i.study_id) {
    return refuse("another instance (" + info->sop_instance_uid + ")");
  }
  return file;
}

}  // namespace imgpipe::pacs
