// ToDicomJson: DCMTK's DcmJsonFormat writer, with bulk elements turned into BulkDataURIs (or
// removed) first. The result is checked with Boost.JSON so a malformed value (DCMTK writes DS/IS
// as JSON numbers) can never leak out as invalid JSON.
#include <boost/json/parse.hpp>
#include <cstdio>
#include <set>
#include <sstream>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcjson.h"
#include "dcmtk/dcmdata/dctk.h"
#include "dicom/internal.h"

namespace imgpipe::dicom {
namespace {

using core::Status;

bool IsBinary(DcmEVR vr) {
  switch (vr) {
    case EVR_OB:
    case EVR_OW:
    case EVR_OF:
    case EVR_OD:
    case EVR_OL:
    case EVR_OV:
    case EVR_UN:
    case EVR_ox:
    case EVR_px:
    case EVR_UNKNOWN:
    case EVR_UNKNOWN2B:
      return true;
    default:
      return false;
  }
}

std::string TagHex(const DcmTagKey& tag) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%04X%04X", tag.getGroup(), tag.getElement());
  return buf;
}

class BulkFormat : public DcmJsonFormatCompact {
 public:
  BulkFormat(std::string prefix, std::set<DcmTagKey> tags)
      : DcmJsonFormatCompact(OFFalse), prefix_(std::move(prefix)), tags_(std::move(tags)) {}
  OFBool asBulkDataURI(const DcmTagKey& tag, OFString& uri) override {
    if (tags_.count(tag) == 0) return OFFalse;
    uri = (prefix_ + "/" + TagHex(tag)).c_str();
    return OFTrue;
  }

 private:
  std::string prefix_;
  std::set<DcmTagKey> tags_;
};

core::Result<std::string> ToJsonImpl(std::string_view file, std::string_view prefix,
                                     size_t threshold) {
  IMGPIPE_ASSIGN_OR_RETURN(internal::Parsed parsed, internal::Parse(file));
  DcmDataset& ds = *parsed.dataset;
  std::set<DcmTagKey> bulk;
  std::vector<std::pair<DcmItem*, DcmTagKey>> removals;
  DcmStack stack;
  while (ds.nextObject(stack, OFTrue).good()) {
    DcmObject* object = stack.top();
    const DcmTagKey tag = object->getTag();
    const bool pixel =
        tag == DCM_PixelData || tag == DCM_FloatPixelData || tag == DCM_DoubleFloatPixelData;
    if (!pixel && !(IsBinary(object->ident()) && object->getLength() > threshold)) continue;
    if (!prefix.empty()) {
      bulk.insert(tag);
    } else if (stack.card() >= 2) {
      if (auto* parent = dynamic_cast<DcmItem*>(stack.elem(1))) removals.emplace_back(parent, tag);
    }
  }
  for (auto& [parent, tag] : removals) parent->findAndDeleteElement(tag);
  BulkFormat format(std::string(prefix), std::move(bulk));
  std::ostringstream out;
  out << '{';  // DcmDataset::writeJson writes the members only
  OFCondition cond = ds.writeJson(out, format);
  if (cond.bad()) return Status::Internal(std::string("writing DICOM JSON: ") + cond.text());
  out << '}';
  std::string json = out.str();
  boost::system::error_code ec;
  boost::json::parse(json, ec);
  if (ec) return Status::Unprocessable("dataset values cannot be expressed as valid DICOM JSON");
  return json;
}

}  // namespace

core::Result<std::string> ToDicomJson(std::string_view file, std::string_view bulk_uri_prefix,
                                      size_t bulk_threshold) {
  try {
    return ToJsonImpl(file, bulk_uri_prefix, bulk_threshold);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("DICOM JSON: ") + e.what());
  }
}

}  // namespace imgpipe::dicom
