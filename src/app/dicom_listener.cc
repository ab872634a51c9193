#include "app/dicom_listener.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <string_view>

#include "core/strings.h"

namespace imgpipe::app {
namespace {

using dimse::FindMatch;
using dimse::MakeTag;
using dimse::Tag;

constexpr Tag kStudyUid = MakeTag(0x0020, 0x000D);
constexpr Tag kSeriesUid = MakeTag(0x0020, 0x000E);
constexpr Tag kSopInstanceUid = MakeTag(0x0008, 0x0018);
constexpr Tag kPatientId = MakeTag(0x0010, 0x0020);
constexpr Tag kPatientName = MakeTag(0x0010, 0x0010);
constexpr Tag kAccession = MakeTag(0x0008, 0x0050);
constexpr Tag kStudyDate = MakeTag(0x0008, 0x0020);
constexpr Tag kStudyTime = MakeTag(0x0008, 0x0030);
constexpr Tag kBirthDate = MakeTag(0x0010, 0x0030);
constexpr Tag kModalitiesInStudy = MakeTag(0x0008, 0x0061);
constexpr size_t kMaxMatches = 5000;

std::vector<std::string> SplitList(std::string_view v) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= v.size()) {
    size_t bs = v.find('\\', start);
    std::string item(
        core::TrimSpace(v.substr(start, bs == std::string_view::npos ? bs : bs - start)));
    if (!item.empty()) out.push_back(item);
    if (bs == std::string_view::npos) break;
    start = bs + 1;
  }
  return out;
}

bool WildcardMatch(std::string_view pattern, std::string_view text) {
  if (pattern.empty()) return text.empty();
  if (pattern[0] == '*') {
    for (size_t i = 0; i <= text.size(); ++i) {
      if (WildcardMatch(pattern.substr(1), text.substr(i))) return true;
    }
    return false;
  }
  if (text.empty()) return false;
  if (pattern[0] != '?' && pattern[0] != text[0]) return false;
  return WildcardMatch(pattern.substr(1), text.substr(1));
}

bool IsRangeTag(Tag tag) { return tag == kStudyDate || tag == kStudyTime || tag == kBirthDate; }

// DICOM matching of one key's value against an answer's value (PS3.4 C.2.2.2, simplified).
bool KeyMatches(Tag tag, std::string_view key, std::string_view value) {
  if (key.empty() || key == "*") return true;
  if (IsRangeTag(tag) && key.find('-') != std::string_view::npos) {
    size_t dash = key.find('-');
    std::string_view from = key.substr(0, dash), to = key.substr(dash + 1);
    if (value.empty()) return false;
    return (from.empty() || value >= from) && (to.empty() || value.substr(0, to.size()) <= to);
  }
  if (key.find('\\') != std::string_view::npos) {
    for (const std::string& item : SplitList(key)) {
      if (item == value) return true;
    }
    return false;
  }
  return WildcardMatch(key, value);
}

std::string JoinList(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : "\\") + s;
  return out;
}

// Keeps the matches every not-pushed-down key matches.
std::vector<FindMatch> Filter(std::vector<FindMatch> matches, const dimse::FindQuery& query,
                              const std::vector<Tag>& pushed_down) {
  std::vector<FindMatch> out;
  for (FindMatch& m : matches) {
    bool keep = true;
    for (const auto& [tag, key] : query.keys) {
      if (key.empty() ||
          std::find(pushed_down.begin(), pushed_down.end(), tag) != pushed_down.end())
        continue;
      auto it = m.find(tag);
      if (it == m.end()) continue;  // a key the index does not hold does not filter
      if (!KeyMatches(tag, key, it->second)) keep = false;
    }
    if (keep) out.push_back(std::move(m));
  }
  return out;
}

std::string Key(const dimse::FindQuery& q, Tag tag) {
  auto it = q.keys.find(tag);
  return it == q.keys.end() ? "" : it->second;
}

core::Result<std::vector<FindMatch>> FindStudies(pacs::Pacs& pacs, const dimse::FindQuery& q) {
  pacs::StudyQuery sq;
  sq.study_uids = SplitList(Key(q, kStudyUid));
  sq.patient_id = Key(q, kPatientId);
  sq.patient_name = Key(q, kPatientName);
  sq.accession_number = Key(q, kAccession);
  std::string date = Key(q, kStudyDate);
  if (size_t dash = date.find('-'); dash != std::string::npos) {
    sq.study_date_from = date.substr(0, dash);
    sq.study_date_to = date.substr(dash + 1);
  } else {
    sq.study_date_from = sq.study_date_to = date;
  }
  sq.modalities = SplitList(Key(q, kModalitiesInStudy));
  sq.limit = 1000;
  sq.count_total = false;
  std::vector<FindMatch> matches;
  while (matches.size() < kMaxMatches) {
    IMGPIPE_ASSIGN_OR_RETURN(auto page, pacs.FindStudies(sq));
    for (const pacs::StudyRecord& s : page.items) {
      FindMatch m;
      m[kStudyUid] = s.study_id;
      m[kPatientId] = s.patient_id;
      m[kPatientName] = s.patient_name;
      m[kBirthDate] = s.patient_birth_date;
      m[MakeTag(0x0010, 0x0040)] = s.patient_sex;
      m[kStudyDate] = s.study_date;
      m[kStudyTime] = s.study_time;
      m[MakeTag(0x0008, 0x1030)] = s.description;
      m[kAccession] = s.accession_number;
      m[MakeTag(0x0020, 0x0010)] = s.study_number;
      m[MakeTag(0x0008, 0x0090)] = s.referring_physician_name;
      m[kModalitiesInStudy] = JoinList(s.modalities);
      m[MakeTag(0x0020, 0x1206)] = std::to_string(s.series_count);
      m[MakeTag(0x0020, 0x1208)] = std::to_string(s.image_count);
      matches.push_back(std::move(m));
    }
    if (static_cast<int>(page.items.size()) < sq.limit) break;
    sq.offset += sq.limit;
  }
  return Filter(std::move(matches), q,
                {kStudyUid, kPatientId, kPatientName, kAccession, kStudyDate, kModalitiesInStudy});
}

core::Result<std::vector<FindMatch>> FindSeries(pacs::Pacs& pacs, const dimse::FindQuery& q) {
  std::string study = Key(q, kStudyUid);
  if (study.empty() || study.find_first_of("*?\\") != std::string::npos) {
    return core::Status::InvalidArgument("SERIES level needs one StudyInstanceUID");
  }
  IMGPIPE_ASSIGN_OR_RETURN(auto series, pacs.ListSeries(study));
  std::vector<FindMatch> matches;
  for (const pacs::SeriesRecord& s : series) {
    FindMatch m;
    m[kStudyUid] = s.study_id;
    m[kSeriesUid] = s.series_id;
    m[MakeTag(0x0008, 0x0060)] = s.modality;
    m[MakeTag(0x0008, 0x103E)] = s.description;
    m[MakeTag(0x0018, 0x0015)] = s.body_part_examined;
    m[MakeTag(0x0020, 0x0011)] = s.series_number ? std::to_string(s.series_number) : "";
    m[MakeTag(0x0020, 0x1209)] = std::to_string(s.image_count);
    matches.push_back(std::move(m));
  }
  return Filter(std::move(matches), q, {kStudyUid});
}

core::Result<std::vector<FindMatch>> FindImages(pacs::Pacs& pacs, const dimse::FindQuery& q) {
  std::string study = Key(q, kStudyUid), series = Key(q, kSeriesUid);
  if (study.empty() || series.empty() ||
      (study + series).find_first_of("*?\\") != std::string::npos) {
    return core::Status::InvalidArgument(
        "IMAGE level needs one StudyInstanceUID and one SeriesInstanceUID");
  }
  IMGPIPE_ASSIGN_OR_RETURN(auto instances, pacs.ListInstances(study, series));
  std::vector<FindMatch> matches;
  for (const pacs::InstanceRecord& i : instances) {
    FindMatch m;
    m[kStudyUid] = i.study_id;
    m[kSeriesUid] = i.series_id;
    m[kSopInstanceUid] = i.image_id;
    m[MakeTag(0x0008, 0x0016)] = i.sop_class_uid;
    m[MakeTag(0x0020, 0x0013)] = std::to_string(i.instance_number);
    m[MakeTag(0x0028, 0x0010)] = std::to_string(i.rows);
    m[MakeTag(0x0028, 0x0011)] = std::to_string(i.columns);
    m[MakeTag(0x0028, 0x0008)] = std::to_string(i.frames);
    matches.push_back(std::move(m));
  }
  return Filter(std::move(matches), q, {kStudyUid, kSeriesUid});
}

std::vector<std::string> AllowedAets(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string_view entry = core::TrimSpace(
        std::string_view(list).substr(start, comma == std::string::npos ? comma : comma - start));
    if (!entry.empty()) out.emplace_back(entry);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

core::Result<std::vector<FindMatch>> FindInPacs(pacs::Pacs& pacs, const dimse::FindQuery& query) {
  core::Result<std::vector<FindMatch>> result = core::Status::Internal("unset");
  switch (query.level) {
    case dimse::QueryLevel::kStudy:
      result = FindStudies(pacs, query);
      break;
    case dimse::QueryLevel::kSeries:
      result = FindSeries(pacs, query);
      break;
    case dimse::QueryLevel::kImage:
      result = FindImages(pacs, query);
      break;
  }
  // A study or series that does not exist has no matches; it is not an error.
  if (!result.ok() && result.status().code() == core::StatusCode::kNotFound) {
    return std::vector<FindMatch>{};
  }
  return result;
}

core::Result<DicomListener> StartDicomListener(const Config& config, pacs::Pacs& pacs,
                                               size_t max_instance_bytes) {
  // HOST:PORT, the port last (an IPv6 host is not supported by the DICOM listener).
  size_t colon = config.dicom_listen.rfind(':');
  std::string port_text = colon == std::string::npos ? "" : config.dicom_listen.substr(colon + 1);
  if (colon == std::string::npos || colon == 0 || port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port_text) > 65535) {
    return core::Status::InvalidArgument("dicom.listen must be HOST:PORT (port 0..65535), not \"" +
                                         config.dicom_listen + "\"");
  }
  dimse::ListenerOptions options;
  options.host = config.dicom_listen.substr(0, colon);
  options.port = std::stoi(port_text);
  options.ae_title = config.dicom_aet;
  options.allowed_calling_aets = AllowedAets(config.dicom_allowed_aets);
  options.max_instance_bytes = max_instance_bytes;
  // The same path as POST /pacs/images: pacs::Pacs::Ingest (validation, blob, index).
  options.on_store = [&pacs](std::string part10, const dimse::StoreContext& ctx) -> core::Status {
    auto result = pacs.Ingest(part10);
    if (!result.ok()) return result.status();
    spdlog::debug("dicom: stored {} from {} ({})", ctx.sop_instance_uid, ctx.calling_aet,
                  ctx.peer_address);
    return core::Status::Ok();
  };
  options.on_find = [&pacs](const dimse::FindQuery& q) { return FindInPacs(pacs, q); };
  DicomListener out;
  out.host = options.host;
  out.listener = std::make_unique<dimse::Listener>(std::move(options));
  IMGPIPE_ASSIGN_OR_RETURN(out.port, out.listener->Start());
  return out;
}

}  // namespace imgpipe::app
