// Validation of the identifiers that reach paths and queries.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace imgpipe::core {

// True when `uid` is a DICOM UID: 1..64 characters of digits and dots, components separated by
// single dots, no leading or trailing dot. (PS3.5 9.1; leading zeros are tolerated on read since
// real files carry them.) Anything else never reaches a path or a query.
bool IsValidUid(std::string_view uid);

// Status form of IsValidUid for request handlers: InvalidArgument naming `what` ("study_id").
Status ValidateUid(std::string_view uid, std::string_view what);

// "2.25." + the decimal value of `uuid` read as a 128-bit big-endian number (PS3.5 B.2): at most
// 44 characters, no leading zero (an all-zero input gives "2.25.0").
std::string UidFromUuid(const std::array<uint8_t, 16>& uuid);

// A new, random UID: UidFromUuid of a random (version 4) UUID. Thread-safe.
std::string NewUid();

}  // namespace imgpipe::core
