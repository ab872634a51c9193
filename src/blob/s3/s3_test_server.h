// Test support for the S3 blob store tests: a local s3rver process, and a scripted fake HTTP
// server for failure paths (retries, aborts) that a real server will not produce on demand.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/temp_dir.h"

namespace imgpipe::blob::s3 {

// A port on 127.0.0.1 that was free a moment ago.
int FreePort();

// s3rver (tests/s3/node_modules) on a free port with a fresh data folder; killed by the
// destructor. Its default credentials are S3RVER / S3RVER.
class S3rver {
 public:
  S3rver();
  ~S3rver();
  // Empty when the server started and answers; else why not.
  const std::string& error() const { return error_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  core::TempDir dir_{"s3rver"};
  int port_ = 0;
  pid_t pid_ = -1;
  std::string error_;
};

// Answers each request with respond(request line, e.g. "PUT /b/k?partNumber=1 HTTP/1.1") and
// records the request lines. One connection per request (Connection: close).
class FakeHttpServer {
 public:
  struct Reply {
    int status = 200;
    std::string body = {};
    std::string extra_headers = {};  // "ETag: \"x\"\r\n"
  };
  explicit FakeHttpServer(std::function<Reply(const std::string&)> respond);
  ~FakeHttpServer();
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requests();

 private:
  void Serve();

  std::function<Reply(const std::string&)> respond_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

}  // namespace imgpipe::blob::s3
