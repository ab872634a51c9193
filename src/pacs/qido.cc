// QIDO-RS (PS3.18 10.6): search for studies, series and instances, from the index only.

#include <map>

#include "core/uid.h"
#include "pacs/dicomweb_json.h"
#include "pacs/routes_util.h"

namespace imgpipe::pacs {
namespace {

using core::Status;
using http::Request;
using http::Response;

constexpr std::string_view kDicomJson = "application/dicom+json";

// Query keys by tag, so "00100010=DOE*" and "PatientName=DOE*" mean the same.
const std::map<std::string, std::string, std::less<>>& TagToKeyword() {
  static const std::map<std::string, std::string, std::less<>> m = {
      {"0020000D", "StudyInstanceUID"},  {"00100020", "PatientID"},
      {"00100010", "PatientName"},       {"00080020", "StudyDate"},
      {"00080061", "ModalitiesInStudy"}, {"00080050", "AccessionNumber"},
      {"00080060", "Modality"},          {"0020000E", "SeriesInstanceUID"},
      {"00200011", "SeriesNumber"},      {"00080018", "SOPInstanceUID"},
      {"00200013", "InstanceNumber"},    {"00080016", "SOPClassUID"}};
  return m;
}

struct QidoParams {
  std::map<std::string, std::string, std::less<>> match;  // keyword -> value
  int limit = 100;
  int offset = 0;
  std::vector<std::string> ignored;
};

core::Result<QidoParams> ParseQido(const Request& r,
                                   std::initializer_list<std::string_view> supported) {
  QidoParams p;
  IMGPIPE_RETURN_IF_ERROR(ParsePaging(r, &p.limit, &p.offset));
  for (const auto& [raw_key, value] : r.query) {
    if (raw_key == "limit" || raw_key == "offset" || raw_key == "includefield" ||
        raw_key == "fuzzymatching") {
      continue;
    }
    std::string key = raw_key;
    std::string upper = raw_key;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (auto it = TagToKeyword().find(upper); it != TagToKeyword().end()) key = it->second;
    bool known = false;
    for (auto s : supported) known |= (s == key);
    if (!known) {
      p.ignored.push_back(raw_key);
      continue;
    }
    p.match[key] = value;
  }
  return p;
}

Response QidoResponse(std::string results, const QidoParams& p) {
  Response resp = Response::Bytes(200, std::string(kDicomJson), std::move(results));
  if (!p.ignored.empty()) {
    std::string keys;
    for (const auto& k : p.ignored) keys += (keys.empty() ? "" : ", ") + k;
    resp.SetHeader("Warning", "299 imgpipe \"query keys not supported, ignored: " + keys + "\"");
  }
  return resp;
}

std::string BaseUrl(const Request& r) {
  return "http://" + std::string(r.Header("host").value_or("localhost")) + "/dicomweb";
}

Response SearchStudies(Request& r, Pacs& pacs) {
  PACS_ASSIGN_OR_RESPOND(auto p,
                         ParseQido(r, {"StudyInstanceUID", "PatientID", "PatientName", "StudyDate",
                                       "ModalitiesInStudy", "AccessionNumber"}));
  StudyQuery q;
  q.limit = p.limit;
  q.offset = p.offset;
  if (auto it = p.match.find("StudyInstanceUID"); it != p.match.end()) {
    q.study_uids = SplitValueList(it->second);
    for (const auto& u : q.study_uids)
      PACS_RETURN_IF_ERROR(core::ValidateUid(u, "StudyInstanceUID"));
  }
  if (auto it = p.match.find("PatientID"); it != p.match.end()) q.patient_id = it->second;
  if (auto it = p.match.find("PatientName"); it != p.match.end()) q.patient_name = it->second;
  if (auto it = p.match.find("AccessionNumber"); it != p.match.end()) {
    q.accession_number = it->second;
  }
  if (auto it = p.match.find("StudyDate"); it != p.match.end()) {
    PACS_RETURN_IF_ERROR(ParseDateRange(it->second, &q.study_date_from, &q.study_date_to));
  }
  if (auto it = p.match.find("ModalitiesInStudy"); it != p.match.end()) {
    q.modalities = SplitValueList(it->second);
  }
  q.count_total = false;  // QIDO-RS reports no total
  PACS_ASSIGN_OR_RESPOND(auto page, pacs.FindStudies(q));
  std::string base = BaseUrl(r);
  std::string out = "[";
  out.reserve(page.items.size() * 900);
  for (size_t i = 0; i < page.items.size(); ++i) {
    if (i) out += ',';
    AppendStudyDicomJson(page.items[i], base, out);
  }
  out += ']';
  Response resp = QidoResponse(std::move(out), p);
  if (!page.warning.empty()) {
    // A search the upstream PACS did not answer: the local matches only.
    std::string text = page.warning;
    for (char& c : text) c = (c == '"' || static_cast<unsigned char>(c) < 0x20) ? '\'' : c;
    resp.SetHeader("Warning", "299 imgpipe \"" + text + "\"");
  }
  return resp;
}

bool Matches(const QidoParams& p, std::string_view key, std::string_view value) {
  auto it = p.match.find(key);
  if (it == p.match.end()) return true;
  for (const auto& v : SplitValueList(it->second)) {
    if (v == value) return true;
  }
  return false;
}

template <typename T>
std::string PageOf(const std::vector<T>& items, const QidoParams& p,
                   void (*append)(const T&, std::string_view, std::string&),
                   const std::string& base) {
  std::string out = "[";
  size_t n = 0;
  for (size_t i = static_cast<size_t>(p.offset);
       i < items.size() && n < static_cast<size_t>(p.limit); ++i, ++n) {
    if (n) out += ',';
    append(items[i], base, out);
  }
  out += ']';
  return out;
}

Response SearchSeries(Request& r, Pacs& pacs) {
  auto study = r.PathParam("study_id");
  PACS_RETURN_IF_ERROR(ValidateIds(study));
  PACS_ASSIGN_OR_RESPOND(auto p, ParseQido(r, {"Modality", "SeriesInstanceUID", "SeriesNumber"}));
  PACS_ASSIGN_OR_RESPOND(auto study_record, pacs.GetStudy(study));
  (void)study_record;  // 404 for an unknown study rather than an empty list
  PACS_ASSIGN_OR_RESPOND(auto all, pacs.ListSeries(study));
  std::vector<SeriesRecord> hits;
  for (auto& s : all) {
    if (Matches(p, "Modality", s.modality) && Matches(p, "SeriesInstanceUID", s.series_id) &&
        Matches(p, "SeriesNumber", std::to_string(s.series_number))) {
      hits.push_back(std::move(s));
    }
  }
  return QidoResponse(PageOf(hits, p, &AppendSeriesDicomJson, BaseUrl(r)), p);
}

Response SearchInstances(Request& r, Pacs& pacs) {
  auto study = r.PathParam("study_id");
  auto series = r.PathParam("series_id");
  PACS_RETURN_IF_ERROR(ValidateIds(study, series));
  PACS_ASSIGN_OR_RESPOND(auto p, ParseQido(r, {"SOPInstanceUID", "InstanceNumber", "SOPClassUID"}));
  PACS_ASSIGN_OR_RESPOND(auto series_record, pacs.GetSeries(study, series));
  (void)series_record;
  PACS_ASSIGN_OR_RESPOND(auto all, pacs.ListInstances(study, series));
  std::vector<InstanceRecord> hits;
  for (auto& i : all) {
    if (Matches(p, "SOPInstanceUID", i.image_id) &&
        Matches(p, "InstanceNumber", std::to_string(i.instance_number)) &&
        Matches(p, "SOPClassUID", i.sop_class_uid)) {
      hits.push_back(std::move(i));
    }
  }
  return QidoResponse(PageOf(hits, p, &AppendInstanceDicomJson, BaseUrl(r)), p);
}

}  // namespace

void RegisterQidoRoutes(http::Router& router, Pacs& pacs) {
  auto bind = [&pacs](PacsHandler fn) { return BindPacs(fn, pacs); };
  router.Add("GET", "/dicomweb/studies", bind(SearchStudies));
  router.Add("GET", "/dicomweb/studies/{study_id}/series", bind(SearchSeries));
  router.Add("GET", "/dicomweb/studies/{study_id}/series/{series_id}/instances",
             bind(SearchInstances));
}

}  // namespace imgpipe::pacs
