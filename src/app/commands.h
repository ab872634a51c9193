// The subcommands of the imgpipe binary. Each returns the process exit code.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "app/config.h"

namespace imgpipe::app {

int RunServe(const Config& config);
int RunImport(const Config& config, const std::vector<std::string>& paths);
// Ingests the demo dataset into the store, or writes it as files under `out_dir` when given.
int RunDemo(const Config& config, const std::string& out_dir);
// Copies an embedded deployment's data_dir (SQLite database, blob folder) to the new folder
// args[0], consistently, while `serve` may run (backup.cc).
int RunBackup(const Config& config, const std::vector<std::string>& args);
// Prints the deployment outputs as shell (or PowerShell) variable assignments.
int RunEnv(const Config& config, bool powershell);

// The base URL clients use for a listen address ("0.0.0.0:80" -> "http://127.0.0.1:80").
std::string PublicBaseUrl(const std::string& host, int port);
// Splits a listen address "HOST:PORT" ("[::1]:80" gives "::1"); InvalidArgument when malformed.
core::Status ParseListen(const std::string& listen, std::string* host, uint16_t* port);

// The command-line client: `command` is provision, process, jobs or queues; `args` the words
// after it. Endpoints come from API_BASE / WS_ENDPOINT in `env`, else from `config`.
int RunClient(const std::string& command, const Config& config,
              const std::map<std::string, std::string>& env, const std::vector<std::string>& args);

}  // namespace imgpipe::app
