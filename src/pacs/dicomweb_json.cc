#include "pacs/dicomweb_json.h"

#include <boost/json/array.hpp>

#include "core/log.h"

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

namespace {

// Appends the attributes of one DICOM JSON object; tags must come in ascending order.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }
  ~ObjectWriter() { out_ += '}'; }
  ObjectWriter(const ObjectWriter&) = delete;
  ObjectWriter& operator=(const ObjectWriter&) = delete;

  void String(std::string_view tag, std::string_view vr, std::string_view value) {
    Open(tag, vr);
    if (!value.empty()) {
      out_ += ",\"Value\":[\"";
      core::AppendJsonEscaped(out_, value);
      out_ += "\"]";
    }
    out_ += '}';
  }
  void Strings(std::string_view tag, std::string_view vr, const std::vector<std::string>& v) {
    Open(tag, vr);
    if (!v.empty()) {
      out_ += ",\"Value\":[";
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out_ += ',';
        out_ += '"';
        core::AppendJsonEscaped(out_, v[i]);
        out_ += '"';
      }
      out_ += ']';
    }
    out_ += '}';
  }
  void Int(std::string_view tag, std::string_view vr, int64_t value) {
    Open(tag, vr);
    out_ += ",\"Value\":[";
    out_ += std::to_string(value);
    out_ += "]}";
  }
  void PersonName(std::string_view tag, std::string_view value) {
    Open(tag, "PN");
    if (!value.empty()) {
      out_ += ",\"Value\":[{\"Alphabetic\":\"";
      core::AppendJsonEscaped(out_, value);
      out_ += "\"}]";
    }
    out_ += '}';
  }

 private:
  void Open(std::string_view tag, std::string_view vr) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += tag;
    out_ += "\":{\"vr\":\"";
    out_ += vr;
    out_ += '"';
  }
  std::string& out_;
  bool first_ = true;
};

}  // namespace

void AppendStudyDicomJson(const StudyRecord& s, std::string_view base_url, std::string& out) {
  ObjectWriter o(out);
  o.String("00080020", "DA", s.study_date);
  o.String("00080030", "TM", s.study_time);
  o.String("00080050", "SH", s.accession_number);
  o.Strings("00080061", "CS", s.modalities);
  o.PersonName("00080090", s.referring_physician_name);
  o.String("00081030", "LO", s.description);
  o.String("00081190", "UR", std::string(base_url) + "/studies/" + s.study_id);
  o.PersonName("00100010", s.patient_name);
  o.String("00100020", "LO", s.patient_id);
  o.String("00100030", "DA", s.patient_birth_date);
  o.String("00100040", "CS", s.patient_sex);
  o.String("0020000D", "UI", s.study_id);
  o.String("00200010", "SH", s.study_number);
  o.Int("00201206", "IS", s.series_count);
  o.Int("00201208", "IS", s.image_count);
}

void AppendSeriesDicomJson(const SeriesRecord& s, std::string_view base_url, std::string& out) {
  ObjectWriter o(out);
  o.String("00080060", "CS", s.modality);
  o.String("0008103E", "LO", s.description);
  o.String("00081190", "UR",
           std::string(base_url) + "/studies/" + s.study_id + "/series/" + s.series_id);
  o.String("00180015", "CS", s.body_part_examined);
  o.String("0020000D", "UI", s.study_id);
  o.String("0020000E", "UI", s.series_id);
  o.Int("00200011", "IS", s.series_number);
  o.Int("00201209", "IS", s.image_count);
}

void AppendInstanceDicomJson(const InstanceRecord& i, std::string_view base_url, std::string& out) {
  ObjectWriter o(out);
  o.String("00080016", "UI", i.sop_class_uid);
  o.String("00080018", "UI", i.image_id);
  o.String("00081190", "UR",
           std::string(base_url) + "/studies/" + i.study_id + "/series/" + i.series_id +
               "/instances/" + i.image_id);
  o.String("00083002", "UI", i.transfer_syntax_uid);
  o.String("0020000D", "UI", i.study_id);
  o.String("0020000E", "UI", i.series_id);
  o.Int("00200013", "IS", i.instance_number);
  o.Int("00280008", "IS", i.frames);
  o.Int("00280010", "US", i.rows);
  o.Int("00280011", "US", i.columns);
  o.Int("00280100", "US", i.bits_allocated);
}

}  // namespace imgpipe::pacs
