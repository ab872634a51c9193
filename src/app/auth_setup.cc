// LoadAuthenticator (app/access.h): the credentials `imgpipe serve` accepts, from the
// configuration and the database.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "app/access.h"
#include "auth/jwt.h"
#include "auth/keys.h"

namespace imgpipe::app {
namespace {

using core::Result;
using core::Status;
using db::Value;

constexpr std::string_view kSchema[] = {
    "CREATE TABLE auth_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
};
constexpr std::string_view kAdminDigest = "admin_key_sha256";

// Writes `key` to `path` readable by its owner only, whole or not at all.
Status WriteKeyFile(const std::string& path, const std::string& key) {
  std::string temp = path + ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Unavailable("cannot create " + temp);
  std::string line = key + "\n";
  bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                 ::fsync(fd) == 0;
  ::close(fd);
  if (!written || std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    return Status::Unavailable("cannot write " + path);
  }
  return Status::Ok();
}

// The admin key's digest this deployment uses when none is configured: the one stored in the
// database, else a new key's, stored (the first process to store one wins: several may start at
// once on one database). A key this process made is shown once on stderr and kept in
// data_dir/admin.key (mode 0600): the database holds only its digest.
Result<std::string> StoredAdminDigest(const Config& config, db::Database& db) {
  IMGPIPE_RETURN_IF_ERROR(db::Migrate(db, "auth", kSchema));
  Value name[] = {std::string(kAdminDigest)};
  {
    IMGPIPE_ASSIGN_OR_RETURN(auto tx, db.Begin(db::TxMode::kRead));
    IMGPIPE_ASSIGN_OR_RETURN(auto rows,
                             tx->Query("SELECT value FROM auth_settings WHERE name = ?", name));
    if (!rows.empty()) return rows[0].Text(0);
  }
  std::string key = auth::NewKey();
  std::string digest = auth::KeyDigestHex(key);
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db.Begin(db::TxMode::kWrite));
  Value insert[] = {std::string(kAdminDigest), digest};
  IMGPIPE_RETURN_IF_ERROR(
      tx->Exec(
            "INSERT INTO auth_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            insert)
          .status());
  IMGPIPE_ASSIGN_OR_RETURN(auto rows,
                           tx->Query("SELECT value FROM auth_settings WHERE name = ?", name));
  IMGPIPE_RETURN_IF_ERROR(tx->Commit());
  if (rows.empty()) return Status::Internal("admin key digest not stored");
  if (rows[0].Text(0) != digest) return rows[0].Text(0);  // another process made it
  std::string file = (std::filesystem::path(config.data_dir) / "admin.key").string();
  Status saved = WriteKeyFile(file, key);
  // On stderr, not in the log: log files are shipped and kept; this is shown once.
  std::fprintf(stderr,
               "imgpipe: generated the admin key (needed for uploads and queue administration, "
               "as Authorization: Bearer KEY):\n\n    %s\n\n%s",
               key.c_str(),
               saved.ok() ? ("It is also in " + file + " (readable by you only). ").c_str()
                          : "It could not be saved to the data folder: copy it now. ");
  std::fprintf(stderr, "Set IMGPIPE_ADMIN_KEY to use a key of your own.\n");
  spdlog::warn("generated an admin key at first start (shown on stderr{})",
               saved.ok() ? ", kept in " + file : "");
  return digest;
}

}  // namespace

Result<std::shared_ptr<const auth::Authenticator>> LoadAuthenticator(const Config& config,
                                                                     db::Database& db) {
  auth::AuthOptions options;
  if (!config.admin_key.empty()) {
    if (Status st = options.admin_keys.AddKey(config.admin_key); !st.ok()) {
      return Status::InvalidArgument("admin_key: " + st.message());
    }
  } else if (config.demo) {
    spdlog::warn(
        "--demo without an admin key: uploads and queue administration are open to "
        "anyone who can reach this port");
  } else {
    IMGPIPE_ASSIGN_OR_RETURN(std::string digest, StoredAdminDigest(config, db));
    IMGPIPE_RETURN_IF_ERROR(options.admin_keys.AddDigestHex(digest));
  }
  if (!config.auth_api_keys_file.empty()) {
    if (Status st = options.api_keys.AddFile(config.auth_api_keys_file); !st.ok()) {
      return Status::InvalidArgument("auth.api_keys_file: " + st.message());
    }
    if (options.api_keys.empty()) {
      return Status::InvalidArgument("auth.api_keys_file " + config.auth_api_keys_file +
                                     " holds no key");
    }
  }
  if (!config.auth_jwt_jwks_file.empty()) {
    auth::JwtOptions jwt_options{.issuer = config.auth_jwt_issuer,
                                 .audience = config.auth_jwt_audience};
    auto verifier = auth::JwtVerifier::FromJwksFile(config.auth_jwt_jwks_file, jwt_options);
    if (!verifier.ok()) {
      return Status::InvalidArgument("auth.jwt_jwks_file: " + verifier.status().message());
    }
    std::shared_ptr<const auth::JwtVerifier> jwt = std::move(*verifier);
    options.verify_token = [jwt](std::string_view token) -> Result<auth::TokenGrant> {
      auto now = std::chrono::system_clock::now().time_since_epoch();
      IMGPIPE_ASSIGN_OR_RETURN(
          auth::JwtClaims claims,
          jwt->Verify(token, std::chrono::duration_cast<std::chrono::seconds>(now).count()));
      return auth::TokenGrant{std::move(claims.scopes)};
    };
  }
  options.admin_scope = config.auth_jwt_admin_scope;
  auto authenticator = std::make_shared<const auth::Authenticator>(std::move(options));
  spdlog::info(
      "access: admin operations {}, PACS reads and submissions {}",
      authenticator->admin_needs_credentials() ? "need the admin key" : "are open",
      authenticator->users_need_credentials()
          ? (config.auth_jwt_jwks_file.empty() ? "need an API key" : "need an API key or a JWT")
          : "are open");
  return authenticator;
}

}  // namespace imgpipe::app
