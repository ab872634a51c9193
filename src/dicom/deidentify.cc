// Deidentify: PS3.15 Basic Application Level Confidentiality Profile (see dicom.h for the
// contract and deid_rules.cc for the rules by tag). One recursive walk over the dataset applies,
// per element: private -> removed; a rule by tag; else a rule by value representation (PN
// emptied, UI remapped, DA/DT/TM emptied or shifted). The pixel data element is never touched.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcsequen.h>

#include <cstdio>

#include "core/sha256.h"
#include "core/uid.h"
#include "dicom/internal.h"

namespace imgpipe::dicom {
namespace {

using core::Status;
using internal::DeidAction;

constexpr char kMethod[] = "imgpipe PS3.15 Basic Profile";

// Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms).
long DaysFromCivil(long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long>(doe) - 719468;
}

std::string CivilFromDays(long z) {
  z += 719468;
  const long era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const long y = static_cast<long>(yoe) + era * 400 + (m <= 2);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04ld%02u%02u", y, m, d);
  return buf;
}

// "YYYYMMDD..." shifted back by `days`; empty when the value does not start with a valid date.
std::string ShiftDate(std::string_view value, long days) {
  if (value.size() < 8) return {};
  unsigned y = 0, m = 0, d = 0;
  for (size_t i = 0; i < 8; ++i) {
    if (value[i] < '0' || value[i] > '9') return {};
  }
  std::sscanf(std::string(value.substr(0, 8)).c_str(), "%4u%2u%2u", &y, &m, &d);
  if (m < 1 || m > 12 || d < 1 || d > 31 || y < 1000) return {};
  return CivilFromDays(DaysFromCivil(y, m, d) - days) + std::string(value.substr(8));
}

std::vector<std::string> SplitValues(const OFString& s) {
  std::vector<std::string> out;
  std::string_view rest(s.c_str(), s.size());
  while (true) {
    const size_t pos = rest.find('\\');
    out.emplace_back(internal::TrimPadding(rest.substr(0, pos)));
    if (pos == std::string_view::npos) break;
    rest.remove_prefix(pos + 1);
  }
  return out;
}

class Deidentifier {
 public:
  explicit Deidentifier(const DeidentifyOptions& options) : options_(options) {
    const core::Sha256Digest h = core::Sha256Of(options.uid_salt + "\nimgpipe date shift");
    const uint32_t v =
        (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | h[3];
    date_shift_days_ = 365 + static_cast<long>(v % (3650 - 365));
  }

  // "2.25." + 128 bits of SHA-256(salt + uid), as an RFC 9562 version-8 UUID.
  std::string MapUid(std::string_view uid) const {
    core::Sha256 h;
    h.Update(options_.uid_salt);
    h.Update(uid);
    const core::Sha256Digest digest = h.Final();
    std::array<uint8_t, 16> uuid;
    std::copy_n(digest.begin(), 16, uuid.begin());
    uuid[6] = static_cast<uint8_t>((uuid[6] & 0x0F) | 0x80);
    uuid[8] = static_cast<uint8_t>((uuid[8] & 0x3F) | 0x80);
    return core::UidFromUuid(uuid);
  }

  std::string PseudonymId(std::string_view patient_id) const {
    return "ANON-" +
           core::ToHex(core::Sha256Of(options_.uid_salt + std::string(patient_id))).substr(0, 16);
  }

  void Walk(DcmItem& item) {
    for (unsigned long i = item.card(); i-- > 0;) {
      DcmElement* element = item.getElement(i);
      const DcmTag& tag = element->getTag();
      if (tag.isPrivate() || Decide(*element) == DeidAction::kRemove) {
        delete item.remove(i);
      }
    }
  }

  long date_shift_days() const { return date_shift_days_; }

 private:
  DeidAction Decide(DcmElement& element) {
    const DcmTag& tag = element.getTag();
    if (tag == DCM_PixelData) return DeidAction::kKeep;
    switch (internal::DeidActionFor(tag)) {
      case DeidAction::kRemove:
        return DeidAction::kRemove;
      case DeidAction::kEmpty:
        element.clear();
        return DeidAction::kEmpty;
      case DeidAction::kKeep:
        break;
    }
    switch (element.ident()) {
      case EVR_SQ: {
        auto& seq = static_cast<DcmSequenceOfItems&>(element);
        for (unsigned long k = 0; k < seq.card(); ++k) Walk(*seq.getItem(k));
        return DeidAction::kKeep;
      }
      case EVR_PN:
        element.clear();
        return DeidAction::kEmpty;
      case EVR_UI:
        RemapUids(element);
        return DeidAction::kKeep;
      case EVR_DA:
      case EVR_DT:
        if (!options_.shift_dates) {
          element.clear();
          return DeidAction::kEmpty;
        }
        ShiftDates(element);
        return DeidAction::kKeep;
      case EVR_TM:
        if (!options_.shift_dates) element.clear();
        return DeidAction::kKeep;
      case EVR_UN: {
        // A standard attribute read without its VR: remove it when its dictionary VR could
        // carry identity, since its value cannot be rewritten in place reliably.
        const DcmEVR vr = DcmTag(tag.getGroup(), tag.getElement()).getEVR();
        const bool risky = vr == EVR_PN || vr == EVR_UI || vr == EVR_DA || vr == EVR_DT ||
                           vr == EVR_TM || vr == EVR_SQ || vr == EVR_UNKNOWN || vr == EVR_UN;
        return risky ? DeidAction::kRemove : DeidAction::kKeep;
      }
      default:
        return DeidAction::kKeep;
    }
  }

  void RemapUids(DcmElement& element) {
    OFString value;
    if (element.getOFStringArray(value).bad() || value.empty()) return;
    if (internal::IsClassUidTag(element.getTag())) return;
    std::string out;
    for (const std::string& uid : SplitValues(value)) {
      if (!out.empty()) out += '\\';
      // DICOM-defined UIDs (well-known frames of reference, classes) identify no one.
      out += uid.empty() || uid.starts_with("1.2.840.10008.") ? uid : MapUid(uid);
    }
    element.putString(out.c_str());
  }

  void ShiftDates(DcmElement& element) {
    OFString value;
    if (element.getOFStringArray(value).bad()) return;
    std::string out;
    bool first = true;
    for (const std::string& v : SplitValues(value)) {
      if (!first) out += '\\';
      first = false;
      out += ShiftDate(v, date_shift_days_);
    }
    element.putString(out.c_str());
  }

  const DeidentifyOptions& options_;
  long date_shift_days_ = 0;
};

Status CheckOptions(const DeidentifyOptions& options) {
  if (options.uid_salt.empty()) return Status::InvalidArgument("deidentify: uid_salt is required");
  if (options.patient_name.size() > 64 || options.patient_id.size() > 64 ||
      options.patient_name.find('\\') != std::string::npos ||
      options.patient_id.find('\\') != std::string::npos) {
    return Status::InvalidArgument(
        "deidentify: patient name and ID must be <= 64 characters without backslash");
  }
  return Status::Ok();
}

void AddMethodCode(DcmDataset& ds, const char* value, const char* meaning) {
  auto* code = new DcmItem;
  code->putAndInsertString(DCM_CodeValue, value);
  code->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
  code->putAndInsertString(DCM_CodeMeaning, meaning);
  ds.insertSequenceItem(DCM_DeidentificationMethodCodeSequence, code);
}

core::Result<std::string> Run(std::string_view source_file, const DeidentifyOptions& options) {
  IMGPIPE_RETURN_IF_ERROR(CheckOptions(options));
  IMGPIPE_ASSIGN_OR_RETURN(internal::Parsed parsed, internal::Parse(source_file));
  DcmDataset& ds = *parsed.dataset;
  Deidentifier deid(options);
  const std::string patient_id =
      options.patient_id.empty() ? deid.PseudonymId(parsed.info.patient_id) : options.patient_id;
  // Earlier de-identification records are replaced, not merged.
  delete ds.remove(DCM_DeidentificationMethodCodeSequence);
  deid.Walk(ds);
  ds.putAndInsertString(DCM_PatientName, options.patient_name.c_str());
  ds.putAndInsertString(DCM_PatientID, patient_id.c_str());
  ds.putAndInsertString(DCM_PatientIdentityRemoved, "YES");
  ds.putAndInsertString(DCM_DeidentificationMethod, kMethod);
  AddMethodCode(ds, "113100", "Basic Application Confidentiality Profile");
  if (options.shift_dates) {
    AddMethodCode(ds, "113107", "Retain Longitudinal Temporal Information Modified Dates Option");
  }
  ds.putAndInsertString(DCM_LongitudinalTemporalInformationModified,
                        options.shift_dates ? "MODIFIED" : "REMOVED");
  const E_TransferSyntax xfer = DcmXfer(parsed.info.transfer_syntax_uid.c_str()).getXfer();
  return internal::WritePart10(*parsed.file, xfer);
}

}  // namespace

core::Result<std::string> Deidentify(std::string_view source_file,
                                     const DeidentifyOptions& options) {
  try {
    return Run(source_file, options);
  } catch (const std::exception& e) {
    return core::Status::Internal(std::string("de-identifying DICOM: ") + e.what());
  }
}

}  // namespace imgpipe::dicom
