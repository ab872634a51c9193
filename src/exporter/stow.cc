// STOW-RS client (PS3.18 10.5): one multipart/related POST to {url}/studies per batch of
// instances, judged from the status and the response's ReferencedSOPSequence / FailedSOPSequence.
#include <algorithm>
#include <boost/json.hpp>
#include <cstddef>
#include <cstdio>

#include "core/ids.h"
#include "exporter/exporter.h"
#include "exporter/internal.h"
#include "http/client.h"

namespace imgpipe::exporter {
namespace {

namespace json = boost::json;

// Instances per request: bounds the body held in memory (derived images are small).
constexpr size_t kBatch = 50;

// The items of a sequence attribute ("00081198") of a DICOM JSON object.
const json::array* Items(const json::object& dataset, std::string_view tag) {
  const json::value* attr = dataset.if_contains(tag);
  if (attr == nullptr || !attr->is_object()) return nullptr;
  const json::value* value = attr->as_object().if_contains("Value");
  return value != nullptr && value->is_array() ? &value->as_array() : nullptr;
}

std::string FirstString(const json::object& item, std::string_view tag) {
  const json::array* values = Items(item, tag);
  if (values == nullptr || values->empty() || !values->front().is_string()) return "";
  return std::string(values->front().as_string());
}

int64_t FirstInt(const json::object& item, std::string_view tag) {
  const json::array* values = Items(item, tag);
  if (values == nullptr || values->empty() || !values->front().is_number()) return -1;
  return values->front().to_number<int64_t>();
}

}  // namespace

std::string StowBody(const std::vector<std::string>& files, std::string_view boundary) {
  std::string body;
  size_t size = 0;
  for (const std::string& f : files) size += f.size() + boundary.size() + 64;
  body.reserve(size + boundary.size() + 8);
  for (const std::string& f : files) {
    body += "--";
    body += boundary;
    body += "\r\nContent-Type: application/dicom\r\n\r\n";
    body += f;
    body += "\r\n";
  }
  body += "--";
  body += boundary;
  body += "--\r\n";
  return body;
}

std::string NewBoundary(const std::vector<std::string>& files) {
  while (true) {
    std::string boundary = "imgpipe-" + core::RandomUrlSafeToken(24);
    bool clash = false;
    for (const std::string& f : files) clash = clash || f.find(boundary) != std::string::npos;
    if (!clash) return boundary;
  }
}

StowVerdict JudgeStowResponse(int status, std::string_view body, int sent) {
  StowVerdict verdict;
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  // A DICOM JSON answer is an object (Orthanc) or an array of one object.
  const json::object* dataset = nullptr;
  if (!ec && doc.is_object()) dataset = &doc.as_object();
  if (!ec && doc.is_array() && !doc.as_array().empty() && doc.as_array()[0].is_object()) {
    dataset = &doc.as_array()[0].as_object();
  }
  const json::array* stored = dataset ? Items(*dataset, "00081199") : nullptr;
  const json::array* failed = dataset ? Items(*dataset, "00081198") : nullptr;
  if (status == 200 && (failed == nullptr || failed->empty())) {
    verdict.stored = stored ? static_cast<int>(stored->size()) : sent;
    if (stored && verdict.stored < sent) {
      verdict.error = "the server stored " + std::to_string(verdict.stored) + " of " +
                      std::to_string(sent) + " instances";
    }
    return verdict;
  }
  verdict.stored = stored ? static_cast<int>(stored->size()) : 0;
  std::string what;
  if (failed != nullptr) {
    for (const json::value& item : *failed) {
      if (!item.is_object()) continue;
      if (!what.empty()) what += ", ";
      if (what.size() > 400) {
        what += "...";
        break;
      }
      what += FirstString(item.as_object(), "00081155");
      int64_t reason = FirstInt(item.as_object(), "00081197");
      if (reason >= 0) {
        char hex[24];
        std::snprintf(hex, sizeof(hex), " (0x%04llX)", static_cast<unsigned long long>(reason));
        what += hex;
      }
    }
  }
  const int refused = failed ? static_cast<int>(failed->size()) : sent - verdict.stored;
  verdict.error = "STOW-RS answered " + std::to_string(status) + ": " + std::to_string(refused) +
                  " of " + std::to_string(sent) + " instances refused";
  if (!what.empty()) verdict.error += ": " + what;
  return verdict;
}

namespace internal {

SendReport SendStow(const Destination& d, const std::vector<std::string>& files) {
  SendReport report;
  for (size_t i = 0; i < files.size(); i += kBatch) {
    std::vector<std::string> batch(
        files.begin() + static_cast<std::ptrdiff_t>(i),
        files.begin() + static_cast<std::ptrdiff_t>(std::min(files.size(), i + kBatch)));
    std::string boundary = NewBoundary(batch);
    http::HeaderList headers = d.headers;
    headers.emplace_back("Content-Type",
                         "multipart/related; type=\"application/dicom\"; boundary=" + boundary);
    headers.emplace_back("Accept", "application/dicom+json");
    http::FetchOptions options;
    options.timeout = d.timeout;
    options.body_limit = 16 << 20;
    auto response =
        http::Fetch("POST", d.url + "/studies", StowBody(batch, boundary), headers, options);
    if (!response.ok()) {
      // Fetch's message names the URL and the network error; never a header.
      report.error = "STOW-RS to " + d.url + " failed: " + response.status().message();
      return report;
    }
    StowVerdict verdict =
        JudgeStowResponse(response->status, response->body, static_cast<int>(batch.size()));
    report.stored += verdict.stored;
    if (!verdict.error.empty()) {
      report.error = verdict.error;
      return report;
    }
  }
  return report;
}

}  // namespace internal
}  // namespace imgpipe::exporter
