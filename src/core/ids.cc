#include "core/ids.h"

#include <sys/random.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <random>

namespace imgpipe::core {
namespace {

// Fills `n` bytes from the kernel CSPRNG; falls back to std::random_device if getrandom fails.
void FillRandom(uint8_t* out, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = getrandom(out + done, n - done, 0);
    if (r <= 0) break;
    done += static_cast<size_t>(r);
  }
  if (done < n) {
    std::random_device rd;
    for (; done < n; ++done) out[done] = static_cast<uint8_t>(rd());
  }
}

// Request ids need speed, not secrecy: a per-thread PRNG seeded from the kernel.
uint64_t FastRandom() {
  thread_local std::mt19937_64 gen([] {
    uint64_t seed;
    FillRandom(reinterpret_cast<uint8_t*>(&seed), sizeof seed);
    return seed;
  }());
  return gen();
}

}  // namespace

std::string NewRequestId() {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(FastRandom()));
  return buf;
}

std::string NewUuidV7() {
  std::array<uint8_t, 16> b{};
  FillRandom(b.data(), b.size());
  const uint64_t now_ms =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  // Monotonic within the process (RFC 9562 6.2, method 1): the 12-bit rand_a field counts ids
  // made in the same millisecond, starting at a random point in its lower half; on overflow the
  // timestamp moves on by one. So ids sort in creation order, even within one millisecond.
  uint64_t ms = 0;
  uint32_t counter = 0;
  {
    static std::mutex mu;
    static uint64_t last_ms = 0;     // GUARDED_BY(mu)
    static uint32_t last_count = 0;  // GUARDED_BY(mu)
    std::lock_guard lock(mu);
    if (now_ms > last_ms) {
      last_ms = now_ms;
      last_count = ((static_cast<uint32_t>(b[6]) << 8) | b[7]) & 0x7FF;
    } else if (++last_count > 0xFFF) {
      ++last_ms;
      last_count = 0;
    }
    ms = last_ms;
    counter = last_count;
  }
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  b[6] = static_cast<uint8_t>(0x70 | (counter >> 8));
  b[7] = static_cast<uint8_t>(counter & 0xFF);
  b[8] = static_cast<uint8_t>((b[8] & 0x3F) | 0x80);
  static const char* hex = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += hex[b[i] >> 4];
    s += hex[b[i] & 15];
  }
  return s;
}

std::string RandomUrlSafeToken(size_t bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string raw(bytes, '\0');
  FillRandom(reinterpret_cast<uint8_t*>(raw.data()), raw.size());
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      out += alphabet[(acc >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits > 0) out += alphabet[(acc << (6 - bits)) & 63];
  return out;
}

std::string ShortHash(std::string_view secret) {
  // FNV-1a 64, folded: enough to correlate log lines, useless to recover the secret.
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : secret) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>((h >> 32) ^ h));
  return buf;
}

bool IsAcceptableRequestId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace imgpipe::core
