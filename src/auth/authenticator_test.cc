#include "auth/authenticator.h"

#include <gtest/gtest.h>

namespace imgpipe::auth {
namespace {

using core::StatusCode;

constexpr std::string_view kAdminKey = "admin-key-0123456789";
constexpr std::string_view kApiKey = "api-key-0123456789ab";

// A token verifier standing in for a JWT issuer: "user.token" and "admin.token" verify, with and
// without the admin scope; anything else is refused with a reason.
TokenVerifier FakeIssuer() {
  return [](std::string_view token) -> core::Result<TokenGrant> {
    if (token == "user.token") return TokenGrant{{"imgpipe:read"}};
    if (token == "admin.token") return TokenGrant{{"openid", "imgpipe:admin"}};
    return core::Status::Unauthenticated("token expired");
  };
}

Authenticator Configured(bool with_tokens) {
  AuthOptions options;
  EXPECT_TRUE(options.admin_keys.AddKey(kAdminKey).ok());
  EXPECT_TRUE(options.api_keys.AddKey(kApiKey).ok());
  if (with_tokens) options.verify_token = FakeIssuer();
  return Authenticator(std::move(options));
}

TEST(AuthenticatorTest, NothingConfiguredLeavesEverythingOpen) {
  Authenticator open{AuthOptions{}};
  for (Access a : {Access::kPublic, Access::kClient, Access::kUser, Access::kAdmin}) {
    EXPECT_TRUE(open.Check(a, std::nullopt).ok()) << AccessName(a);
  }
  EXPECT_FALSE(open.users_need_credentials());
  EXPECT_FALSE(open.admin_needs_credentials());
}

TEST(AuthenticatorTest, AdminKeyAloneGuardsOnlyAdminOperations) {
  AuthOptions options;
  ASSERT_TRUE(options.admin_keys.AddKey(kAdminKey).ok());
  Authenticator auth(std::move(options));
  EXPECT_TRUE(auth.Check(Access::kUser, std::nullopt).ok());
  EXPECT_EQ(auth.Check(Access::kAdmin, std::nullopt).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(auth.Check(Access::kAdmin, "wrong-key-0123456789").code(),
            StatusCode::kUnauthenticated);
  EXPECT_TRUE(auth.Check(Access::kAdmin, kAdminKey).ok());
}

TEST(AuthenticatorTest, EachCredentialGrantsItsLevel) {
  Authenticator auth = Configured(/*with_tokens=*/true);
  // Public and client operations never ask.
  EXPECT_TRUE(auth.Check(Access::kPublic, std::nullopt).ok());
  EXPECT_TRUE(auth.Check(Access::kClient, "garbage").ok());
  // User operations: any valid credential.
  EXPECT_EQ(auth.Check(Access::kUser, std::nullopt).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(auth.Check(Access::kUser, "").code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(auth.Check(Access::kUser, "not-a-key-0123456789").code(), StatusCode::kUnauthenticated);
  for (std::string_view ok :
       {kApiKey, kAdminKey, std::string_view("user.token"), std::string_view("admin.token")}) {
    EXPECT_TRUE(auth.Check(Access::kUser, ok).ok()) << ok;
  }
  // Admin operations: the admin key or an admin-scoped token; other valid credentials are 403.
  EXPECT_TRUE(auth.Check(Access::kAdmin, kAdminKey).ok());
  EXPECT_TRUE(auth.Check(Access::kAdmin, "admin.token").ok());
  EXPECT_EQ(auth.Check(Access::kAdmin, kApiKey).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(auth.Check(Access::kAdmin, "user.token").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(auth.Check(Access::kAdmin, std::nullopt).code(), StatusCode::kUnauthenticated);
}

TEST(AuthenticatorTest, RefusalsGiveTheReasonNeverTheToken) {
  Authenticator auth = Configured(/*with_tokens=*/true);
  core::Status st = auth.Check(Access::kUser, "expired.jwt.here");
  EXPECT_EQ(st.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(st.message().find("token expired"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find("expired.jwt.here"), std::string::npos) << st.message();
  st = auth.Check(Access::kAdmin, "secret-guess-0123456789");
  EXPECT_EQ(st.message().find("secret-guess"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("admin key"), std::string::npos) << st.message();
}

TEST(AuthenticatorTest, WithoutATokenVerifierOnlyKeysCount) {
  Authenticator auth = Configured(/*with_tokens=*/false);
  EXPECT_EQ(auth.Check(Access::kUser, "user.token").code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(auth.Check(Access::kUser, kApiKey).ok());
}

TEST(BearerTokenTest, ParsesTheSchemeCaseInsensitively) {
  EXPECT_EQ(BearerToken("Bearer abc"), "abc");
  EXPECT_EQ(BearerToken("bearer   abc  "), "abc");
  EXPECT_EQ(BearerToken("BEARER abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(BearerToken("Basic dXNlcjpwYXNz"), std::nullopt);
  EXPECT_EQ(BearerToken("Bearer"), std::nullopt);
  EXPECT_EQ(BearerToken("Bearer "), std::nullopt);
  EXPECT_EQ(BearerToken("Bearerabc"), std::nullopt);
  EXPECT_EQ(BearerToken(""), std::nullopt);
}

}  // namespace
}  // namespace imgpipe::auth
