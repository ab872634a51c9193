// Generated identifiers.
#pragma once

#include <string>
#include <string_view>

namespace imgpipe::core {

// 16 lowercase hex characters from a CSPRNG-seeded generator; for request ids.
std::string NewRequestId();

// A UUIDv7 (RFC 9562) in canonical text form: unique and sortable by creation time; within one
// process strictly increasing, even for ids made in the same millisecond.
std::string NewUuidV7();

// `bytes` random bytes as URL-safe base64 without padding (128 bits -> 22 characters).
std::string RandomUrlSafeToken(size_t bytes);

// A short, stable, non-reversible tag for secrets that must not be logged whole (8 hex chars).
std::string ShortHash(std::string_view secret);

// True when `id` is acceptable as an incoming X-Request-Id: 1..64 of [A-Za-z0-9._-].
bool IsAcceptableRequestId(std::string_view id);

}  // namespace imgpipe::core
