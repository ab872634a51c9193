#include "core/uid.h"

#include <string>

namespace imgpipe::core {

bool IsValidUid(std::string_view uid) {
  if (uid.empty() || uid.size() > 64) return false;
  if (uid.front() == '.' || uid.back() == '.') return false;
  char prev = '.';
  for (char c : uid) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (c < '0' || c > '9') {
      return false;
    }
    prev = c;
  }
  return true;
}

Status ValidateUid(std::string_view uid, std::string_view what) {
  if (IsValidUid(uid)) return Status::Ok();
  std::string m(what);
  m += " must be a DICOM UID (1 to 64 digits and dots)";
  return Status::InvalidArgument(std::move(m));
}

}  // namespace imgpipe::core
