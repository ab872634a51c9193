// Validation of the identifiers that reach paths and queries.
#pragma once

#include <string_view>

#include "core/status.h"

namespace imgpipe::core {

// True when `uid` is a DICOM UID: 1..64 characters of digits and dots, components separated by
// single dots, no leading or trailing dot. (PS3.5 9.1; leading zeros are tolerated on read since
// real files carry them.) Anything else never reaches a path or a query.
bool IsValidUid(std::string_view uid);

// Status form of IsValidUid for request handlers: InvalidArgument naming `what` ("study_id").
Status ValidateUid(std::string_view uid, std::string_view what);

}  // namespace imgpipe::core
