#include "db/postgres/test_support.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>

namespace imgpipe::db::postgres {
namespace {

TestServer* g_server = nullptr;
std::string g_server_error = "the PostgreSQL test environment did not run";

class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    server_ = std::make_unique<TestServer>();
    core::Status started = server_->Start();
    if (!started.ok()) {
      g_server_error = "cannot start the PostgreSQL test server: " + started.ToString();
      FAIL() << g_server_error;
    }
    g_server = server_.get();
  }
  void TearDown() override {
    g_server = nullptr;
    server_.reset();
  }

 private:
  std::unique_ptr<TestServer> server_;
};

[[maybe_unused]] const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

}  // namespace

TestServer* SharedTestServer() { return g_server; }
const std::string& SharedTestServerError() { return g_server_error; }

core::Status AdminExec(const std::string& sql) {
  if (g_server == nullptr) return core::Status::Unavailable(g_server_error);
  PGconn* conn = PQconnectdb(g_server->UrlFor("postgres").c_str());
  PGresult* res = PQexec(conn, sql.c_str());
  core::Status status = PQresultStatus(res) == PGRES_COMMAND_OK
                            ? core::Status::Ok()
                            : core::Status::Internal(sql + ": " + PQerrorMessage(conn));
  PQclear(res);
  PQfinish(conn);
  return status;
}

core::Result<std::string> FreshTestDatabaseUrl() {
  static std::atomic<int> counter{0};
  std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
  IMGPIPE_RETURN_IF_ERROR(AdminExec("CREATE DATABASE " + name));
  return g_server->UrlFor(name);
}

core::Result<std::unique_ptr<Database>> OpenFreshTestDatabase(const PostgresOptions& options) {
  IMGPIPE_ASSIGN_OR_RETURN(std::string url, FreshTestDatabaseUrl());
  return OpenPostgres(url, options);
}

}  // namespace imgpipe::db::postgres
