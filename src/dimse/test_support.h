// Test helpers for the dimse tests: free ports and DCMTK tools run as child processes.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace imgpipe::dimse::testing {

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// A child process running `argv` (argv[0] searched in PATH), killed (SIGTERM) and reaped by the
// destructor. stdout and stderr go to `log_path` when given.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv, const std::string& log_path = "");
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

// Connects to 127.0.0.1:`port`, sends `bytes`, closes its sending side and reads until the peer
// closes (at most `wait_seconds`); false when it could not connect.
bool SendRaw(int port, const std::string& bytes, int wait_seconds = 5);

// A connection to 127.0.0.1:`port` that sent `bytes` and stays open (closed by the caller);
// -1 when it could not connect.
int ConnectAndSend(int port, const std::string& bytes);

// Runs `command` through /bin/sh; returns its exit status and combined output.
struct CommandResult {
  int status = -1;
  std::string output;
};
CommandResult Run(const std::string& command);

}  // namespace imgpipe::dimse::testing
