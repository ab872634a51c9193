// Access control of `imgpipe serve` (docs/security.md): the access level of every route, the
// router guard that enforces it, and the Authenticator built from the configuration.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "app/config.h"
#include "auth/authenticator.h"
#include "core/status.h"
#include "db/database.h"
#include "http/http.h"

namespace imgpipe::app {

// The level a route needs, by its method and pattern as registered; nullopt for a route the
// table does not list (the guard then treats it as admin-only: fail closed).
std::optional<auth::Access> ListedAccess(std::string_view method, std::string_view pattern);

// Refuses (401/403, the JSON error body) a request its route's level does not allow. The token
// is the Authorization header's bearer token, else, for GET and HEAD, the `access_token` query
// parameter (RFC 6750 2.3: for <img> sources and links, which cannot carry headers).
http::Router::Guard MakeGuard(std::shared_ptr<const auth::Authenticator> authenticator);

// The admin key (admin_key / IMGPIPE_ADMIN_KEY; else, unless --demo, the one stored in the
// database, generated, stored as a digest and shown once at first start), the API keys of
// auth.api_keys_file and the JWT verifier of auth.jwt_jwks_file. Errors name the bad setting.
core::Result<std::shared_ptr<const auth::Authenticator>> LoadAuthenticator(const Config& config,
                                                                           db::Database& db);

}  // namespace imgpipe::app
