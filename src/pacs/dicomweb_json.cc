#include "pacs/dicomweb_json.h"

#include <boost/json/array.hpp>

namespace imgpipe::pacs {

namespace json = boost::json;

void PutString(json::object& o, std::string_view tag, std::string_view vr, std::string_view value) {
  json::object a{{"vr", vr}};
  if (!value.empty()) a["Value"] = json::array{json::string(value)};
  o[tag] = std::move(a);
}

void PutInt(json::object& o, std::string_view tag, std::string_view vr, int64_t value) {
  o[tag] = json::object{{"vr", vr}, {"Value", json::array{value}}};
}

void PutPersonName(json::object& o, std::string_view tag, std::string_view value) {
  json::object a{{"vr", "PN"}};
  if (!value.empty()) a["Value"] = json::array{json::object{{"Alphabetic", value}}};
  o[tag] = std::move(a);
}

json::object StudyDicomJson(const StudyRecord& s, std::string_view base_url) {
  json::object o;
  PutString(o, "00080020", "DA", s.study_date);
  PutString(o, "00080030", "TM", s.study_time);
  PutString(o, "00080050", "SH", s.accession_number);
  json::object mods{{"vr", "CS"}};
  if (!s.modalities.empty()) {
    json::array a;
    for (const auto& m : s.modalities) a.emplace_back(m);
    mods["Value"] = std::move(a);
  }
  o["00080061"] = std::move(mods);
  PutPersonName(o, "00080090", s.referring_physician_name);
  PutString(o, "00081030", "LO", s.description);
  PutString(o, "00081190", "UR", std::string(base_url) + "/studies/" + s.study_id);
  PutPersonName(o, "00100010", s.patient_name);
  PutString(o, "00100020", "LO", s.patient_id);
  PutString(o, "00100030", "DA", s.patient_birth_date);
  PutString(o, "00100040", "CS", s.patient_sex);
  PutString(o, "0020000D", "UI", s.study_id);
  PutString(o, "00200010", "SH", s.study_number);
  PutInt(o, "00201206", "IS", s.series_count);
  PutInt(o, "00201208", "IS", s.image_count);
  return o;
}

json::object SeriesDicomJson(const SeriesRecord& s, std::string_view base_url) {
  json::object o;
  PutString(o, "00080060", "CS", s.modality);
  PutString(o, "0008103E", "LO", s.description);
  PutString(o, "00081190", "UR",
            std::string(base_url) + "/studies/" + s.study_id + "/series/" + s.series_id);
  PutString(o, "00180015", "CS", s.body_part_examined);
  PutString(o, "0020000D", "UI", s.study_id);
  PutString(o, "0020000E", "UI", s.series_id);
  PutInt(o, "00200011", "IS", s.series_number);
  PutInt(o, "00201209", "IS", s.image_count);
  return o;
}

json::object InstanceDicomJson(const InstanceRecord& i, std::string_view base_url) {
  json::object o;
  PutString(o, "00080016", "UI", i.sop_class_uid);
  PutString(o, "00080018", "UI", i.image_id);
  PutString(o, "00083002", "UI", i.transfer_syntax_uid);
  PutString(o, "00081190", "UR",
            std::string(base_url) + "/studies/" + i.study_id + "/series/" + i.series_id +
                "/instances/" + i.image_id);
  PutString(o, "0020000D", "UI", i.study_id);
  PutString(o, "0020000E", "UI", i.series_id);
  PutInt(o, "00200013", "IS", i.instance_number);
  PutInt(o, "00280008", "IS", i.frames);
  PutInt(o, "00280010", "US", i.rows);
  PutInt(o, "00280011", "US", i.columns);
  PutInt(o, "00280100", "US", i.bits_allocated);
  return o;
}

}  // namespace imgpipe::pacs
