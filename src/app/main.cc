// imgpipe: one binary, many subcommands. main only parses the command line and wires modules.
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/config.h"
#include "core/allocator.h"
#include "core/log.h"

#ifndef IMGPIPE_VERSION
#define IMGPIPE_VERSION "dev"
#endif

namespace {

constexpr const char* kUsage = R"usage(usage: imgpipe COMMAND [options]

commands:
  serve    [--listen HOST:PORT] [--data-dir DIR] [--config FILE] [--database-url URL]
           [--roles api,worker,push] [--demo] [--render-cache-mb N] [--body-limit-mb N]
           [--threads N] [--io-threads N] [--log-level LEVEL] [--log-json]
           [--log-file PATH] [--log-retention-days N]
                              (also log to PATH, rotated daily; 0 days = keep every file)
           [--web-root DIR]   (the web frontend's build served at "/"; default web/dist)
           [--blob-url s3://bucket/prefix] [--blob-s3-endpoint URL] [--blob-s3-region R]
                              (blobs on S3-compatible storage; default the folder data_dir/blobs)
           [--algorithms a,b] [--concurrency N]   (worker role: which algorithms, threads each)
           [--dicom-listen HOST:PORT] [--aet TITLE]
                              (api role: the DICOM listener, C-ECHO/C-STORE/C-FIND SCP; port 0
                              picks one; received images are ingested like uploads; settings
                              dicom.listen, dicom.aet, dicom.allowed_aets)
           [--rules-file F] [--export-destinations-file F] [--pacs-upstream-url URL]
                              (automatic processing rules, export destinations, a remote
                              DICOMweb PACS served beside the local one: docs/dicom-networking.md)
  import   PATH|s3://B/P ...  index DICOM files (folders are walked recursively); the objects
                              of an S3 bucket are indexed in place and served from it, not copied
  demo     [--out DIR]        store the demo dataset (or write it as files under DIR)
  backup   DEST               copy the data dir (SQLite database, blob folder) to the new folder
                              DEST, consistently, while serve runs; restore: serve --data-dir DEST
  env      [--powershell]     print the deployment outputs as environment variables
  version                     print the version

the command-line client (talks to a running server at API_BASE / WS_ENDPOINT, default: what
`imgpipe env` prints; so `eval "$(imgpipe env)"` works):
  provision [--json]          provision a client id and print it
  process  ALGORITHM --study S [--series SE] [--image I] [--scope image|series|study]
           [--param NAME=VALUE ...] [--client-id C] [--json] [--output DIR]
           [--timeout SECONDS] [--idempotency-key K] [--export NAME ...]
                              submit a job, wait for its result on the WebSocket (polling when
                              there is none) and print it; --output downloads its outputs.
                              The client id: --client-id, else $IMGPIPE_CLIENT_ID, else a new one
  jobs     [--client-id C] [--status S] [--limit N] [--json]   that client's jobs
  queues   [--json]           the queues: depth, in flight, oldest message, dead letters
  exit codes: 0 success, 1 the job failed or was cancelled, 2 usage error, 3 the server refused
  the request (4xx), 4 cannot reach the server, timeout or server error (5xx)

Settings come from imgpipe.toml (or --config), then IMGPIPE_* variables, then flags.
)usage";

bool IsClientCommand(const std::string& command) {
  return command == "provision" || command == "process" || command == "jobs" || command == "queues";
}

const std::set<std::string> kBooleanFlags = {"demo", "log-json", "powershell"};

struct CommandLine {
  std::string command;
  std::map<std::string, std::string> flags;
  std::vector<std::string> args;
};

bool Parse(int argc, char** argv, CommandLine* out, std::string* error) {
  if (argc < 2) {
    *error = "missing command";
    return false;
  }
  out->command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      out->args.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (kBooleanFlags.count(name)) {
      value = "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      *error = "--" + name + " needs a value";
      return false;
    }
    out->flags[name] = value;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace imgpipe;
  core::ConfigureAllocator();
  if (argc >= 2 && IsClientCommand(argv[1])) {
    // The client parses its own flags (repeatable --param, boolean --json); settings such as the
    // default listen address come from imgpipe.toml and IMGPIPE_* variables only.
    std::vector<std::string> args(argv + 2, argv + argc);
    for (const std::string& a : args) {
      if (a == "--help" || a == "-h") {
        std::printf("%s", kUsage);
        return 0;
      }
    }
    auto config = app::LoadConfig({}, app::ProcessEnvironment());
    if (!config.ok()) {
      std::fprintf(stderr, "imgpipe: %s\n", config.status().message().c_str());
      return 2;
    }
    return app::RunClient(argv[1], *config, app::ProcessEnvironment(), args);
  }
  CommandLine cl;
  std::string error;
  if (!Parse(argc, argv, &cl, &error)) {
    std::fprintf(stderr, "imgpipe: %s\n\n%s", error.c_str(), kUsage);
    return 2;
  }
  if (cl.command == "version" || cl.command == "--version") {
    std::printf("imgpipe %s\n", IMGPIPE_VERSION);
    return 0;
  }
  if (cl.command == "help" || cl.command == "--help" || cl.command == "-h") {
    std::printf("%s", kUsage);
    return 0;
  }
  // Flags that are not settings.
  std::string out_dir;
  bool powershell = false;
  if (auto it = cl.flags.find("out"); it != cl.flags.end()) {
    out_dir = it->second;
    cl.flags.erase(it);
  }
  if (auto it = cl.flags.find("powershell"); it != cl.flags.end()) {
    powershell = true;
    cl.flags.erase(it);
  }
  if (auto it = cl.flags.find("log-json"); it != cl.flags.end()) {
    cl.flags["json"] = it->second;
    cl.flags.erase(it);
  }
  if (auto it = cl.flags.find("threads"); it != cl.flags.end()) {
    cl.flags["http.threads"] = it->second;
    cl.flags.erase(it);
  }
  if (auto it = cl.flags.find("io-threads"); it != cl.flags.end()) {
    cl.flags["http.io_threads"] = it->second;
    cl.flags.erase(it);
  }
  auto config = app::LoadConfig(cl.flags, app::ProcessEnvironment());
  if (!config.ok()) {
    std::fprintf(stderr, "imgpipe: %s\n", config.status().message().c_str());
    return 2;
  }
  if (core::Status st = core::InitLogging({.level = config->log_level,
                                           .json = config->log_json,
                                           .file = config->log_file,
                                           .retention_days = config->log_retention_days});
      !st.ok()) {
    std::fprintf(stderr, "imgpipe: %s\n", st.message().c_str());
    return 1;
  }

  if (cl.command == "serve") return app::RunServe(*config);
  if (cl.command == "import") return app::RunImport(*config, cl.args);
  if (cl.command == "backup") return app::RunBackup(*config, cl.args);
  if (cl.command == "demo") return app::RunDemo(*config, out_dir);
  if (cl.command == "env") return app::RunEnv(*config, powershell);
  std::fprintf(stderr, "imgpipe: unknown command \"%s\"\n\n%s", cl.command.c_str(), kUsage);
  return 2;
}
