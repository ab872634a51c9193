#include "db/postgres/test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

namespace imgpipe::db::postgres {
namespace {

namespace stdfs = std::filesystem;

// A port the kernel just gave out and took back: free unless someone races us (Start retries).
int PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace

core::Status TestServer::Run(const std::vector<std::string>& argv) const {
  const passwd* pg = ::geteuid() == 0 ? ::getpwnam("postgres") : nullptr;
  if (::geteuid() == 0 && pg == nullptr) {
    return core::Status::Unavailable("running as root but there is no \"postgres\" user");
  }
  const std::string log = dir_ + "/server.log";
  pid_t pid = ::fork();
  if (pid < 0) return core::Status::Internal("fork failed");
  if (pid == 0) {
    if (pg != nullptr) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(pg->pw_gid) != 0 || ::setuid(pg->pw_uid) != 0) {
        ::_exit(126);
      }
    }
    // Opened after dropping root, so that the server (pg_ctl -l) may append to it too.
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return core::Status::Ok();
  return core::Status::Unavailable(argv[0] + " failed (exit status " +
                                   std::to_string(WEXITSTATUS(status)) + "); see " + log);
}

core::Status TestServer::Start() {
  for (const char* tool : {"initdb", "pg_ctl", "postgres"}) {
    if (::access(Bin(tool).c_str(), X_OK) != 0) {
      return core::Status::Unavailable(
          "PostgreSQL 15 is not installed (" + Bin(tool) +
          " is missing): run scripts/install-deps.sh (Debian package postgresql-15)");
    }
  }
  // Under /tmp rather than $IMGPIPE_TEST_TMPDIR: the postgres user must reach the folder, and
  // the unix socket path must stay short.
  std::string templ = "/tmp/imgpipe-pg-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) return core::Status::Internal("mkdtemp failed");
  dir_ = templ;
  if (::geteuid() == 0) {
    const passwd* pg = ::getpwnam("postgres");
    if (pg == nullptr || ::chown(dir_.c_str(), pg->pw_uid, pg->pw_gid) != 0) {
      return core::Status::Unavailable("cannot hand " + dir_ + " to the postgres user");
    }
  }
  // --no-sync only skips initdb's final flush of the fresh cluster; the server runs fsync=on.
  IMGPIPE_RETURN_IF_ERROR(Run({Bin("initdb"), "-D", dir_ + "/data", "-U", "postgres",
                               "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"}));
  core::Status started;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = PickFreePort();
    started = StartServer();
    if (started.ok()) break;
  }
  IMGPIPE_RETURN_IF_ERROR(started);
  PGconn* conn = PQconnectdb(UrlFor("postgres").c_str());
  PGresult* res = PQexec(conn, "CREATE DATABASE imgpipe_test");
  const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
  std::string error = PQerrorMessage(conn);
  PQclear(res);
  PQfinish(conn);
  if (!ok) return core::Status::Unavailable("CREATE DATABASE imgpipe_test failed: " + error);
  return core::Status::Ok();
}

core::Status TestServer::StartServer() {
  const std::string options = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " +
                              dir_ + " -c fsync=on -c max_connections=200";
  IMGPIPE_RETURN_IF_ERROR(Run({Bin("pg_ctl"), "start", "-w", "-t", "60", "-D", dir_ + "/data", "-l",
                               dir_ + "/server.log", "-o", options}));
  running_ = true;
  return core::Status::Ok();
}

core::Status TestServer::Stop() {
  if (!running_) return core::Status::Ok();
  IMGPIPE_RETURN_IF_ERROR(Run({Bin("pg_ctl"), "stop", "-w", "-m", "fast", "-D", dir_ + "/data"}));
  running_ = false;
  return core::Status::Ok();
}

core::Status TestServer::Restart() {
  IMGPIPE_RETURN_IF_ERROR(Stop());
  return StartServer();
}

std::string TestServer::UrlFor(const std::string& database) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

TestServer::~TestServer() {
  (void)Stop();
  if (!dir_.empty()) {
    std::error_code ec;
    stdfs::remove_all(dir_, ec);
  }
}

}  // namespace imgpipe::db::postgres
