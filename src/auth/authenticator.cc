#include "auth/authenticator.h"

#include <algorithm>

#include "core/strings.h"

namespace imgpipe::auth {
namespace {

using core::Status;

enum class Grant { kNone, kUser, kAdmin };

}  // namespace

const char* AccessName(Access access) {
  switch (access) {
    case Access::kPublic:
      return "public";
    case Access::kClient:
      return "client";
    case Access::kUser:
      return "user";
    case Access::kAdmin:
      return "admin";
  }
  return "unknown";
}

Status Authenticator::Check(Access access, std::optional<std::string_view> token) const {
  if (access == Access::kPublic || access == Access::kClient) return Status::Ok();
  const bool needs_credentials =
      access == Access::kAdmin ? admin_needs_credentials() : users_need_credentials();
  if (!needs_credentials) return Status::Ok();
  const char* needed =
      access == Access::kAdmin
          ? "the admin key"
          : (options_.verify_token ? "an API key or a bearer token" : "an API key");
  if (!token || token->empty()) {
    return Status::Unauthenticated(std::string("this operation needs ") + needed +
                                   " (Authorization: Bearer ...)");
  }
  // What the token grants: the admin key everything; an API key user operations; a verified
  // token user operations, or everything with the admin scope.
  Grant grant = Grant::kNone;
  Status token_error = Status::Ok();
  if (options_.admin_keys.Contains(*token)) {
    grant = Grant::kAdmin;
  } else if (options_.api_keys.Contains(*token)) {
    grant = Grant::kUser;
  } else if (options_.verify_token) {
    core::Result<TokenGrant> verified = options_.verify_token(*token);
    if (verified.ok()) {
      const auto& scopes = verified->scopes;
      bool admin = !options_.admin_scope.empty() &&
                   std::find(scopes.begin(), scopes.end(), options_.admin_scope) != scopes.end();
      grant = admin ? Grant::kAdmin : Grant::kUser;
    } else {
      token_error = verified.status();
    }
  }
  if (grant == Grant::kNone) {
    if (!token_error.ok() && token->find('.') != std::string_view::npos) {
      return Status::Unauthenticated("bearer token refused: " + token_error.message());
    }
    return Status::Unauthenticated(std::string("this operation needs ") + needed +
                                   "; the credential given is not one");
  }
  if (access == Access::kAdmin && grant != Grant::kAdmin) {
    return Status::PermissionDenied("this operation needs the admin key");
  }
  return Status::Ok();
}

std::optional<std::string_view> BearerToken(std::string_view authorization) {
  authorization = core::TrimSpace(authorization);
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() ||
      core::AsciiLower(authorization.substr(0, kScheme.size())) != kScheme ||
      authorization[kScheme.size()] != ' ') {
    return std::nullopt;
  }
  std::string_view token = core::TrimSpace(authorization.substr(kScheme.size() + 1));
  if (token.empty()) return std::nullopt;
  return token;
}

}  // namespace imgpipe::auth
