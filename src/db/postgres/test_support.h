// Test support: one throwaway PostgreSQL 15 per test binary, and fresh databases on it.
// Linking imgpipe_db_pgtest registers a gtest global environment that starts the server before
// the first test and stops it after the last; a missing PostgreSQL fails every test that asks
// for a database, loudly (scripts/install-deps.sh installs it).
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "db/database.h"
#include "db/postgres.h"
#include "db/postgres/test_server.h"

namespace imgpipe::db::postgres {

// The shared server, or nullptr when it could not start (SharedTestServerError() says why).
TestServer* SharedTestServer();
const std::string& SharedTestServerError();

// Runs one statement on the server's maintenance database outside any transaction (CREATE
// DATABASE cannot run in one).
core::Status AdminExec(const std::string& sql);

// The URL of a new, empty database on the shared server.
core::Result<std::string> FreshTestDatabaseUrl();
// A pool on a new, empty database.
core::Result<std::unique_ptr<Database>> OpenFreshTestDatabase(const PostgresOptions& options = {});

}  // namespace imgpipe::db::postgres
