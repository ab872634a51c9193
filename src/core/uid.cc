#include "core/uid.h"

#include <algorithm>
#include <random>
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

std::string UidFromUuid(const std::array<uint8_t, 16>& uuid) {
  // Long division of the big-endian byte string by 10, most significant byte first.
  std::array<uint8_t, 16> n = uuid;
  std::string digits;
  bool zero = false;
  while (!zero) {
    unsigned rem = 0;
    zero = true;
    for (uint8_t& b : n) {
      const unsigned cur = rem * 256 + b;
      b = static_cast<uint8_t>(cur / 10);
      rem = cur % 10;
      if (b != 0) zero = false;
    }
    digits.push_back(static_cast<char>('0' + rem));
  }
  std::reverse(digits.begin(), digits.end());
  return "2.25." + digits;
}

std::string NewUid() {
  thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }());
  std::array<uint8_t, 16> uuid;
  const uint64_t hi = rng(), lo = rng();
  for (int i = 0; i < 8; ++i) {
    uuid[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
    uuid[8 + i] = static_cast<uint8_t>(lo >> (56 - 8 * i));
  }
  uuid[6] = static_cast<uint8_t>((uuid[6] & 0x0F) | 0x40);  // version 4 (random)
  uuid[8] = static_cast<uint8_t>((uuid[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return UidFromUuid(uuid);
}

}  // namespace imgpipe::core
