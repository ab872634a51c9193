#include "blob/s3/s3_test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

namespace imgpipe::blob::s3 {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

bool Accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = Loopback(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = Loopback(0);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

S3rver::S3rver() {
  std::string script =
      std::string(IMGPIPE_SOURCE_DIR) + "/tests/s3/node_modules/s3rver/bin/s3rver.js";
  if (!std::filesystem::exists(script)) {
    error_ = script + " is missing: run scripts/install-test-tools.sh";
    return;
  }
  port_ = FreePort();
  std::string port = std::to_string(port_);
  pid_ = ::fork();
  if (pid_ == 0) {
    // Dies with the test process, even when that one crashes, and holds none of its output
    // pipes (ctest would wait for them).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null_fd = ::open("/dev/null", O_RDWR);
    ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
    // s3rver's ListObjectsV2 continuation tokens use DES, which OpenSSL 3 (Node >= 17) only
    // offers through its legacy provider.
    ::execlp("node", "node", "--openssl-legacy-provider", script.c_str(), "--directory",
             dir_.path().c_str(), "--address", "127.0.0.1", "--port", port.c_str(), "--silent",
             static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!Accepts(port_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = "s3rver exited at start (is node installed?)";
      return;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      error_ = "s3rver did not listen on port " + port + " within 30 s";
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

S3rver::~S3rver() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
}

FakeHttpServer::FakeHttpServer(std::function<Reply(const std::string&)> respond)
    : respond_(std::move(respond)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr = Loopback(0);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::listen(listen_fd_, 16);
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

FakeHttpServer::~FakeHttpServer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::vector<std::string> FakeHttpServer::requests() {
  std::lock_guard lock(mu_);
  return requests_;
}

void FakeHttpServer::Serve() {
  while (!stop_) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 20) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    // Reads the head, then Content-Length bytes of body.
    std::string data;
    char buf[65536];
    size_t head_end;
    while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      data.append(buf, static_cast<size_t>(n));
    }
    if (head_end != std::string::npos) {
      size_t length = 0;
      std::string lower = data.substr(0, head_end);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (size_t at = lower.find("content-length:"); at != std::string::npos) {
        length = std::strtoull(lower.c_str() + at + 15, nullptr, 10);
      }
      while (data.size() < head_end + 4 + length) {
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n <= 0) break;
        data.append(buf, static_cast<size_t>(n));
      }
      std::string line = data.substr(0, data.find("\r\n"));
      {
        std::lock_guard lock(mu_);
        requests_.push_back(line);
      }
      Reply reply = respond_(line);
      std::string out = "HTTP/1.1 " + std::to_string(reply.status) +
                        " X\r\nContent-Length: " + std::to_string(reply.body.size()) +
                        "\r\nConnection: close\r\n" + reply.extra_headers + "\r\n" + reply.body;
      if (line.starts_with("HEAD ")) out.resize(out.size() - reply.body.size());
      for (size_t sent = 0; sent < out.size();) {
        ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
    }
    ::close(fd);
  }
}

}  // namespace imgpipe::blob::s3
