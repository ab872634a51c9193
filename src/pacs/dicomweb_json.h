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

boost::json::object StudyDicomJson(const StudyRecord& s, std::string_view base_url);
boost::json::object SeriesDicomJson(const SeriesRecord& s, std::string_view base_url);
boost::json::object InstanceDicomJson(const InstanceRecord& i, std::string_view base_url);

}  // namespace imgpipe::pacs
