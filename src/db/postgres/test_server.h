// TestServer: a throwaway PostgreSQL 15 for tests (test support only, never linked into
// imgpipe). Start() runs initdb in a fresh temp folder, starts the server on a free port of
// 127.0.0.1 (unix socket in that folder, fsync=on as in production), and creates the database
// "imgpipe_test"; the destructor stops the server and removes the folder.
//
// When we run as root, the PostgreSQL binaries run as the "postgres" user (the server refuses
// root) and the folder is handed to that user.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace imgpipe::db::postgres {

class TestServer {
 public:
  // Where Debian's postgresql-15 package puts initdb, pg_ctl and postgres.
  static constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";

  // `bin_dir` holds initdb, pg_ctl and postgres.
  explicit TestServer(std::string bin_dir = kBinDir) : bin_dir_(std::move(bin_dir)) {}
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  // Creates the cluster and starts it. Unavailable, with a clear message,
  // when PostgreSQL 15 is not installed (scripts/install-deps.sh installs it).
  core::Status Start();
  // Stops the server (pg_ctl stop -m fast), keeping the cluster; Restart() starts it again on
  // the same port, so URLs stay valid.
  core::Status Stop();
  core::Status Restart();

  // postgresql://postgres@127.0.0.1:PORT/imgpipe_test
  std::string url() const { return UrlFor("imgpipe_test"); }
  std::string UrlFor(const std::string& database) const;
  int port() const { return port_; }

 private:
  core::Status StartServer();
  // Runs `argv` (as the postgres user when we are root), output appended to the log file.
  core::Status Run(const std::vector<std::string>& argv) const;

  std::string Bin(const char* tool) const { return bin_dir_ + "/" + tool; }

  const std::string bin_dir_;
  std::string dir_;  // temp folder: data/, server.log, the unix socket
  int port_ = 0;
  bool running_ = false;
};

}  // namespace imgpipe::db::postgres
