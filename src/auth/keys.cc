#include "auth/keys.h"

#include <fstream>

#include "core/ids.h"
#include "core/strings.h"

namespace imgpipe::auth {
namespace {

using core::Status;

// Equal when every byte is equal; the time taken does not depend on where they differ.
bool ConstantTimeEqual(const core::Sha256Digest& a, const core::Sha256Digest& b) {
  uint8_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i];
  return diff == 0;
}

}  // namespace

std::string NewKey() { return core::RandomUrlSafeToken(32); }

std::string KeyDigestHex(std::string_view key) { return core::ToHex(core::Sha256Of(key)); }

Status KeySet::AddKey(std::string_view key) {
  if (key.size() < 16) {
    return Status::InvalidArgument("a key must be at least 16 characters long");
  }
  digests_.push_back(core::Sha256Of(key));
  return Status::Ok();
}

Status KeySet::AddDigestHex(std::string_view hex) {
  core::Sha256Digest digest{};
  if (hex.size() != 2 * digest.size()) {
    return Status::InvalidArgument("a key digest must be 64 hex characters");
  }
  for (size_t i = 0; i < digest.size(); ++i) {
    int hi = core::HexDigitValue(hex[2 * i]);
    int lo = core::HexDigitValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Status::InvalidArgument("a key digest must be hex");
    digest[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  digests_.push_back(digest);
  return Status::Ok();
}

Status KeySet::AddFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read the key file " + path);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string_view entry = core::TrimSpace(line);
    if (entry.empty() || entry.front() == '#') continue;
    Status st = entry.starts_with("sha256:") ? AddDigestHex(entry.substr(7)) : AddKey(entry);
    if (!st.ok()) {
      // The message names the line, never its content: it may be a key.
      return Status::InvalidArgument(path + " line " + std::to_string(number) + ": " +
                                     st.message());
    }
  }
  return Status::Ok();
}

bool KeySet::Contains(std::string_view key) const {
  core::Sha256Digest digest = core::Sha256Of(key);
  bool found = false;
  for (const core::Sha256Digest& d : digests_) found |= ConstantTimeEqual(d, digest);
  return found;
}

}  // namespace imgpipe::auth
