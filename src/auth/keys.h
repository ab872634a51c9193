// Static keys: the admin key and API keys. Keys are held only as SHA-256 digests and compared in
// constant time, so a key never sits in memory longer than a request, and a key file may list
// digests instead of keys.
//
// Thread-safety: a KeySet is immutable once built; Contains may be called from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/sha256.h"
#include "core/status.h"

namespace imgpipe::auth {

// A new random key: 32 bytes, URL-safe base64 (43 characters).
std::string NewKey();

// Lower-case hex SHA-256 of `key`: what is stored instead of the key.
std::string KeyDigestHex(std::string_view key);

class KeySet {
 public:
  // Adds `key` (as its digest). Keys shorter than 16 characters are refused: InvalidArgument.
  core::Status AddKey(std::string_view key);
  // Adds a digest given as 64 hex characters.
  core::Status AddDigestHex(std::string_view hex);
  // Reads a key file: one entry per line, either a key or "sha256:" followed by its hex digest;
  // blank lines and lines starting with '#' are skipped. Errors name the file and line, never
  // the line's content.
  core::Status AddFile(const std::string& path);

  bool Contains(std::string_view key) const;
  bool empty() const { return digests_.empty(); }
  size_t size() const { return digests_.size(); }

 private:
  std::vector<core::Sha256Digest> digests_;
};

}  // namespace imgpipe::auth
