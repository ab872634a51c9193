// DICOM JSON (PS3.18 F.2) objects for QIDO-RS results, built from index records.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "pacs/pacs.h"

namespace imgpipe::pacs {

// Adds {"vr": vr, "Value": [value]} under `tag` ("0020000D"), or {"vr": vr} when value is empty.
void PutString(boost::json::object& o, std::string_view tag, std::string_view vr,
               std::string_view value);
void PutInt(boost::json::object& o, std::string_view tag, std::string_view vr, int64_t value);
void PutPersonName(boost::json::object& o, std::string_view tag, std::string_view value);

// QIDO-RS result objects, appended to `out` as JSON text. Written directly, not through a JSON
// DOM: QIDO is the hottest search path and a DOM costs an allocation per attribute.
void AppendStudyDicomJson(const StudyRecord& s, std::string_view base_url, std::string& out);
void AppendSeriesDicomJson(const SeriesRecord& s, std::string_view base_url, std::string& out);
void AppendInstanceDicomJson(const InstanceRecord& i, std::string_view base_url, std::string& out);

}  // namespace imgpipe::pacs
