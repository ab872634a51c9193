// Who may call what: an operation needs one of four access levels, and a request proves it with
// an "Authorization: Bearer TOKEN" header (DESIGN.md "HTTP API"). The token is the admin key, an
// API key, or a JWT (auth/jwt.h) accepted by the configured verifier.
//
// Thread-safety: an Authenticator is immutable once built; Check may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/keys.h"
#include "core/status.h"

namespace imgpipe::auth {

enum class Access {
  kPublic,  // health, metrics, the API's description, the frontend: anyone
  kClient,  // a client's jobs, results, events, WebSocket: its client_id (a capability) decides
  kUser,    // PACS reads, provisioning, job submission: an API key or JWT when any is configured
  kAdmin,   // PACS writes, queue and dead-letter administration: the admin key
};

const char* AccessName(Access access);

// What a verified bearer token grants: its scopes ("imgpipe:admin" ...).
struct TokenGrant {
  std::vector<std::string> scopes;
};

// Checks a token that is not a static key (a JWT): the grant, or Unauthenticated with the reason.
using TokenVerifier = std::function<core::Result<TokenGrant>(std::string_view token)>;

struct AuthOptions {
  KeySet admin_keys;  // empty: admin operations are open (the embedded demo only)
  KeySet api_keys;
  TokenVerifier verify_token;                 // empty: no bearer tokens besides the keys
  std::string admin_scope = "imgpipe:admin";  // a token holding it is an admin
};

class Authenticator {
 public:
  explicit Authenticator(AuthOptions options) : options_(std::move(options)) {}

  // Ok when a request carrying `token` (the bearer token; nullopt when none) may use an
  // operation needing `access`. Unauthenticated (401) when the token is missing or not valid,
  // PermissionDenied (403) when it is valid but grants less than `access` needs. Messages name
  // what is needed, never the token.
  core::Status Check(Access access, std::optional<std::string_view> token) const;

  // kUser operations need a credential (API keys or a token verifier are configured).
  bool users_need_credentials() const {
    return !options_.api_keys.empty() || static_cast<bool>(options_.verify_token);
  }
  // kAdmin operations need the admin key (or an admin token).
  bool admin_needs_credentials() const { return !options_.admin_keys.empty(); }

 private:
  AuthOptions options_;
};

// The token of an Authorization header value "Bearer TOKEN" (scheme case-insensitive, RFC 6750);
// nullopt for other schemes or an empty token.
std::optional<std::string_view> BearerToken(std::string_view authorization);

}  // namespace imgpipe::auth
