// The module's shared helpers: AE title validation, status mapping, loading Part 10 files into
// DCMTK, process-wide DCMTK settings.
#include <csignal>
#include <mutex>

#include "dcmtk/config/osconfig.h"  // first, as DCMTK requires
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmnet/dul.h"
#include "dcmtk/oflog/oflog.h"
#include "dimse/dimse.h"
#include "dimse/internal.h"

namespace imgpipe::dimse {

core::Status ValidateAeTitle(std::string_view title, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return core::Status::InvalidArgument(std::string(what) + " \"" + std::string(title) +
                                         "\": " + std::string(why));
  };
  if (title.empty() || title.size() > 16) return bad("must be 1 to 16 characters");
  bool only_spaces = true;
  for (char c : title) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return bad("must not contain control characters");
    if (c == '\\') return bad("must not contain a backslash");
    if (c != ' ') only_spaces = false;
  }
  if (only_spaces) return bad("must not be only spaces");
  return core::Status::Ok();
}

uint16_t StoreStatusFor(const core::Status& status) {
  using core::StatusCode;
  switch (status.code()) {
    case StatusCode::kOk:
    case StatusCode::kAlreadyExists:
      return 0x0000;
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable:
    case StatusCode::kPayloadTooLarge:
    case StatusCode::kInternal:
      return 0xA700;
    case StatusCode::kConflict:
      return 0xA900;
    default:
      return 0xC000;
  }
}

namespace internal {

core::Result<LoadedFile> LoadPart10(std::string_view bytes) {
  InitializeDcmtk();
  LoadedFile out;
  out.file = std::make_unique<DcmFileFormat>();
  DcmInputBufferStream in;
  in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  in.setEos();
  out.file->transferInit();
  OFCondition cond = out.file->read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  out.file->transferEnd();
  if (cond.bad()) {
    return core::Status::InvalidArgument("not readable DICOM: " + ConditionText(cond));
  }
  DcmDataset* ds = out.file->getDataset();
  DcmMetaInfo* meta = out.file->getMetaInfo();
  OFString value;
  if (ds->findAndGetOFString(DCM_SOPClassUID, value).good())
    out.sop_class_uid = Trim(value.c_str());
  if (out.sop_class_uid.empty() &&
      meta->findAndGetOFString(DCM_MediaStorageSOPClassUID, value).good()) {
    out.sop_class_uid = Trim(value.c_str());
  }
  if (ds->findAndGetOFString(DCM_SOPInstanceUID, value).good()) {
    out.sop_instance_uid = Trim(value.c_str());
  }
  if (out.sop_instance_uid.empty() &&
      meta->findAndGetOFString(DCM_MediaStorageSOPInstanceUID, value).good()) {
    out.sop_instance_uid = Trim(value.c_str());
  }
  if (out.sop_class_uid.empty() || out.sop_instance_uid.empty()) {
    return core::Status::InvalidArgument("DICOM file without SOPClassUID or SOPInstanceUID");
  }
  DcmXfer xfer(ds->getOriginalXfer());
  if (xfer.getXfer() == EXS_Unknown) {
    return core::Status::InvalidArgument("DICOM file with an unknown transfer syntax");
  }
  out.transfer_syntax_uid = xfer.getXferID();
  out.encapsulated = xfer.isEncapsulated();
  return out;
}

int TimeoutSeconds(std::chrono::milliseconds timeout) {
  auto ms = timeout.count();
  if (ms <= 1000) return 1;
  return static_cast<int>((ms + 999) / 1000);
}

std::string ConditionText(const OFCondition& cond) { return cond.text() ? cond.text() : "?"; }

std::string Trim(std::string_view text) {
  size_t begin = text.find_first_not_of(' ');
  if (begin == std::string_view::npos) return "";
  size_t end = text.find_last_not_of(' ');
  return std::string(text.substr(begin, end - begin + 1));
}

void InitializeDcmtk() {
  static std::once_flag once;
  std::call_once(once, [] {
    dcmDisableGethostbyaddr.set(OFTrue);
    // DCMTK writes with plain send(): a peer that closed its end would raise SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    // DCMTK's own log is for its tools; ours reports what matters (spdlog).
    OFLog::configure(OFLogger::ERROR_LOG_LEVEL);
    (void)dcmDataDict.isDictionaryLoaded();
  });
}

}  // namespace internal
}  // namespace imgpipe::dimse
