// SHA-256 (FIPS 180-4), for keyed, deterministic identifiers (e.g. de-identified DICOM UIDs).
// Not for passwords or MACs: use a real crypto library for those. Neither OpenSSL nor DCMTK's
// dcmsign is linked into imgpipe, so this small implementation is checked against the FIPS
// test vectors in sha256_test.cc.
//
// Thread-safety: Sha256 objects are not shared; the free function is pure.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace imgpipe::core {

using Sha256Digest = std::array<uint8_t, 32>;

// Incremental hashing: Update any number of times, then Final once.
class Sha256 {
 public:
  Sha256();
  void Update(std::string_view data);
  // REQUIRES: not called before on this object.
  Sha256Digest Final();

 private:
  void Block(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

Sha256Digest Sha256Of(std::string_view data);

// Lower-case hex of `digest` ("ba7816bf...").
std::string ToHex(const Sha256Digest& digest);

}  // namespace imgpipe::core
