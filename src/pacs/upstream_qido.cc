#include "pacs/upstream_qido.h"

#include <boost/json.hpp>
#include <charconv>
#include <cmath>

#include "core/uid.h"

namespace imgpipe::pacs {
namespace {

namespace json = boost::json;
using core::Result;
using core::Status;

Status Malformed(std::string_view what) {
  return Status::Unavailable("the upstream PACS sent a malformed QIDO-RS reply: " +
                             std::string(what));
}

// The "Value" array of attribute `tag` in `o`; nullptr when absent or without a value.
Result<const json::array*> Values(const json::object& o, std::string_view tag) {
  auto it = o.find(tag);
  if (it == o.end()) return static_cast<const json::array*>(nullptr);
  const json::object* attr = it->value().if_object();
  if (!attr) return Malformed("attribute " + std::string(tag) + " is not an object");
  auto v = attr->find("Value");
  if (v == attr->end()) return static_cast<const json::array*>(nullptr);
  const json::array* values = v->value().if_array();
  if (!values) return Malformed("the Value of " + std::string(tag) + " is not an array");
  return values;
}

// One string of a Value: a JSON string, or a person name object's Alphabetic group.
Result<std::string> StringOf(const json::value& v, std::string_view tag) {
  if (const json::string* s = v.if_string()) return std::string(*s);
  if (const json::object* pn = v.if_object()) {
    auto a = pn->find("Alphabetic");
    if (a == pn->end()) return std::string();
    if (const json::string* s = a->value().if_string()) return std::string(*s);
  }
  if (v.is_null()) return std::string();
  return Malformed("a value of " + std::string(tag) + " is not a string");
}

Result<std::string> Str(const json::object& o, std::string_view tag) {
  IMGPIPE_ASSIGN_OR_RETURN(const json::array* values, Values(o, tag));
  if (!values || values->empty()) return std::string();
  return StringOf(values->front(), tag);
}

Result<std::vector<std::string>> Strs(const json::object& o, std::string_view tag) {
  IMGPIPE_ASSIGN_OR_RETURN(const json::array* values, Values(o, tag));
  std::vector<std::string> out;
  if (!values) return out;
  for (const auto& v : *values) {
    IMGPIPE_ASSIGN_OR_RETURN(std::string s, StringOf(v, tag));
    if (!s.empty()) out.push_back(std::move(s));
  }
  return out;
}

// An integer Value: a JSON number (IS, US, UL) or a decimal string; absent is 0.
Result<int64_t> Int(const json::object& o, std::string_view tag) {
  IMGPIPE_ASSIGN_OR_RETURN(const json::array* values, Values(o, tag));
  if (!values || values->empty() || values->front().is_null()) return int64_t{0};
  const json::value& v = values->front();
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v.get_uint64());
  }
  if (v.is_double() && std::isfinite(v.get_double()) && std::abs(v.get_double()) < 9e18) {
    return static_cast<int64_t>(v.get_double());
  }
  if (const json::string* s = v.if_string()) {
    std::string_view text(*s);
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
    int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec == std::errc() && end == text.data() + text.size() && !text.empty()) return n;
  }
  return Malformed("the value of " + std::string(tag) + " is not an integer");
}

// A UID attribute that must be present and valid; `fallback` (the parent id of the query) when
// the result leaves it out.
Result<std::string> Uid(const json::object& o, std::string_view tag, std::string_view fallback) {
  IMGPIPE_ASSIGN_OR_RETURN(std::string uid, Str(o, tag));
  if (uid.empty()) uid = fallback;
  if (!core::IsValidUid(uid)) {
    return Malformed(uid.empty() ? "a result has no " + std::string(tag)
                                 : "a result's " + std::string(tag) + " is not a valid UID");
  }
  if (!fallback.empty() && uid != fallback) {
    return Malformed("a result of " + std::string(fallback) + " names another parent " + uid);
  }
  return uid;
}

// Parses `body` as a JSON array of objects and maps each with `map`.
template <typename T, typename F>
Result<std::vector<T>> ParseArray(std::string_view body, F map) {
  std::vector<T> out;
  // Some servers answer an empty match with 204 / an empty body.
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return out;
  boost::system::error_code ec;
  json::value root = json::parse(body, ec);
  if (ec) return Malformed("not JSON (" + ec.message() + ")");
  const json::array* items = root.if_array();
  if (!items) return Malformed("not a JSON array");
  out.reserve(items->size());
  for (const auto& item : *items) {
    const json::object* o = item.if_object();
    if (!o) return Malformed("a result is not a JSON object");
    IMGPIPE_ASSIGN_OR_RETURN(T record, map(*o));
    record.upstream = true;
    out.push_back(std::move(record));
  }
  return out;
}

void Append(std::string& out, std::string_view key, std::string_view value) {
  out += out.empty() ? '?' : '&';
  out += key;
  out += '=';
  out += QueryEscape(value);
}

std::string Join(const std::vector<std::string>& items, char sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

}  // namespace

std::string QueryEscape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '*' || c == '?') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string StudyQueryString(const StudyQuery& q, int limit, int offset) {
  std::string out;
  if (!q.study_uids.empty()) Append(out, "StudyInstanceUID", Join(q.study_uids, ','));
  if (!q.patient_id.empty()) Append(out, "PatientID", q.patient_id);
  if (!q.patient_name.empty()) Append(out, "PatientName", q.patient_name);
  if (!q.accession_number.empty()) Append(out, "AccessionNumber", q.accession_number);
  if (!q.study_date_from.empty() || !q.study_date_to.empty()) {
    std::string range = q.study_date_from == q.study_date_to
                            ? q.study_date_from
                            : q.study_date_from + "-" + q.study_date_to;
    Append(out, "StudyDate", range);
  }
  // Several modalities: DICOM's value list (backslash), which QIDO-RS servers pass to C-FIND.
  if (!q.modalities.empty()) Append(out, "ModalitiesInStudy", Join(q.modalities, '\\'));
  Append(out, "limit", std::to_string(limit));
  Append(out, "offset", std::to_string(offset));
  // Beyond PS3.18's required study attributes: the counts and the description.
  Append(out, "includefield",
         "00081030,00080061,00100030,00100040,00201206,00201208,00080090,00200010");
  return out;
}

std::string SeriesIncludeFields() { return "0008103E,00180015,00200011,00201209"; }

std::string InstanceIncludeFields() {
  return "00280010,00280011,00280008,00280100,00280004,00200013,00080016,00083002";
}

Result<std::vector<StudyRecord>> ParseQidoStudies(std::string_view body) {
  return ParseArray<StudyRecord>(body, [](const json::object& o) -> Result<StudyRecord> {
    StudyRecord s;
    IMGPIPE_ASSIGN_OR_RETURN(s.study_id, Uid(o, "0020000D", {}));
    IMGPIPE_ASSIGN_OR_RETURN(s.study_date, Str(o, "00080020"));
    IMGPIPE_ASSIGN_OR_RETURN(s.study_time, Str(o, "00080030"));
    IMGPIPE_ASSIGN_OR_RETURN(s.accession_number, Str(o, "00080050"));
    IMGPIPE_ASSIGN_OR_RETURN(s.modalities, Strs(o, "00080061"));
    IMGPIPE_ASSIGN_OR_RETURN(s.referring_physician_name, Str(o, "00080090"));
    IMGPIPE_ASSIGN_OR_RETURN(s.description, Str(o, "00081030"));
    IMGPIPE_ASSIGN_OR_RETURN(s.patient_name, Str(o, "00100010"));
    IMGPIPE_ASSIGN_OR_RETURN(s.patient_id, Str(o, "00100020"));
    IMGPIPE_ASSIGN_OR_RETURN(s.patient_birth_date, Str(o, "00100030"));
    IMGPIPE_ASSIGN_OR_RETURN(s.patient_sex, Str(o, "00100040"));
    IMGPIPE_ASSIGN_OR_RETURN(s.study_number, Str(o, "00200010"));
    IMGPIPE_ASSIGN_OR_RETURN(s.series_count, Int(o, "00201206"));
    IMGPIPE_ASSIGN_OR_RETURN(s.image_count, Int(o, "00201208"));
    return s;
  });
}

Result<std::vector<SeriesRecord>> ParseQidoSeries(std::string_view body, std::string_view study) {
  return ParseArray<SeriesRecord>(body, [study](const json::object& o) -> Result<SeriesRecord> {
    SeriesRecord s;
    IMGPIPE_ASSIGN_OR_RETURN(s.study_id, Uid(o, "0020000D", study));
    IMGPIPE_ASSIGN_OR_RETURN(s.series_id, Uid(o, "0020000E", {}));
    IMGPIPE_ASSIGN_OR_RETURN(s.modality, Str(o, "00080060"));
    IMGPIPE_ASSIGN_OR_RETURN(s.description, Str(o, "0008103E"));
    IMGPIPE_ASSIGN_OR_RETURN(s.body_part_examined, Str(o, "00180015"));
    IMGPIPE_ASSIGN_OR_RETURN(s.series_number, Int(o, "00200011"));
    IMGPIPE_ASSIGN_OR_RETURN(s.image_count, Int(o, "00201209"));
    return s;
  });
}

Result<std::vector<InstanceRecord>> ParseQidoInstances(std::string_view body,
                                                       std::string_view study,
                                                       std::string_view series) {
  return ParseArray<InstanceRecord>(
      body, [study, series](const json::object& o) -> Result<InstanceRecord> {
        InstanceRecord i;
        IMGPIPE_ASSIGN_OR_RETURN(i.study_id, Uid(o, "0020000D", study));
        IMGPIPE_ASSIGN_OR_RETURN(i.series_id, Uid(o, "0020000E", series));
        IMGPIPE_ASSIGN_OR_RETURN(i.image_id, Uid(o, "00080018", {}));
        IMGPIPE_ASSIGN_OR_RETURN(i.sop_class_uid, Str(o, "00080016"));
        IMGPIPE_ASSIGN_OR_RETURN(i.transfer_syntax_uid, Str(o, "00083002"));
        IMGPIPE_ASSIGN_OR_RETURN(i.photometric_interpretation, Str(o, "00280004"));
        IMGPIPE_ASSIGN_OR_RETURN(i.instance_number, Int(o, "00200013"));
        IMGPIPE_ASSIGN_OR_RETURN(i.frames, Int(o, "00280008"));
        IMGPIPE_ASSIGN_OR_RETURN(i.rows, Int(o, "00280010"));
        IMGPIPE_ASSIGN_OR_RETURN(i.columns, Int(o, "00280011"));
        IMGPIPE_ASSIGN_OR_RETURN(i.bits_allocated, Int(o, "00280100"));
        // A single-frame image leaves NumberOfFrames out.
        if (i.frames == 0 && i.rows > 0) i.frames = 1;
        return i;
      });
}

}  // namespace imgpipe::pacs
