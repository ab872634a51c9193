// Connection load generator for bench/push: opens N WebSocket connections (handshake only, no
// frames) with at most CONCURRENCY handshakes in flight, from source addresses 127.0.0.FIRST_SOURCE
// on (20,000 connections per address: past the ephemeral-port limit of one), on one thread with
// epoll, so that the server, not the generator, sets the rate. Prints one JSON line once all are
// open or failed, {"opened":N,"failed":F,"ms":T}, holds them HOLD_MS (the caller reads the
// server's RSS meanwhile), then closes them and exits.
// Usage: ws_connect HOST PORT TARGET N CONCURRENCY FIRST_SOURCE HOLD_MS
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Pending {
  int fd = -1;
  size_t sent = 0;       // bytes of the request written
  std::string response;  // bytes of the response read so far
};

int Open(const sockaddr_in& server, const std::string& source) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &local.sin_addr);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // The port is chosen at connect(), unique per 4-tuple: a bind() choosing it alone must search
  // past every port of the address in use or in TIME_WAIT (from an earlier run), which slowed
  // whichever server was measured second to a fraction of its rate.
  ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      (::connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof(server)) != 0 &&
       errno != EINPROGRESS)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: %s HOST PORT TARGET N CONCURRENCY FIRST_SOURCE HOLD_MS\n",
                 argv[0]);
    return 2;
  }
  const std::string host = argv[1];
  const int port = std::atoi(argv[2]);
  const std::string target = argv[3];
  const int n = std::atoi(argv[4]);
  const int concurrency = std::atoi(argv[5]);
  const int first_source = std::atoi(argv[6]);
  const int hold_ms = std::atoi(argv[7]);

  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &server.sin_addr);
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: " + host + ":" +
                              std::to_string(port) +
                              "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";

  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Pending> slots(static_cast<size_t>(concurrency));
  std::vector<int> open;  // connections past their handshake
  open.reserve(static_cast<size_t>(n));
  int started = 0, failed = 0, in_flight = 0;
  const auto t0 = std::chrono::steady_clock::now();

  auto start_one = [&](size_t slot) {
    while (started < n) {
      const std::string source = "127.0.0." + std::to_string(first_source + started / 20000);
      ++started;
      int fd = Open(server, source);
      if (fd < 0) {
        ++failed;
        continue;
      }
      slots[slot] = Pending{fd, 0, {}};
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLIN;
      ev.data.u64 = slot;
      ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
      ++in_flight;
      return;
    }
  };
  auto finish = [&](size_t slot, bool ok) {
    Pending& p = slots[slot];
    ::epoll_ctl(epoll, EPOLL_CTL_DEL, p.fd, nullptr);
    if (ok) {
      open.push_back(p.fd);
    } else {
      ::close(p.fd);
      ++failed;
    }
    p = Pending{};
    --in_flight;
    start_one(slot);
  };

  for (size_t slot = 0; slot < slots.size(); ++slot) start_one(slot);
  std::vector<epoll_event> events(256);
  char buffer[4096];
  while (in_flight > 0) {
    const int ready = ::epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 10'000);
    if (ready <= 0) break;  // 10 s without progress: give up on the rest
    for (int i = 0; i < ready; ++i) {
      const size_t slot = events[i].data.u64;
      Pending& p = slots[slot];
      if (p.fd < 0) continue;
      if ((events[i].events & (EPOLLERR | EPOLLHUP)) != 0) {
        finish(slot, false);
        continue;
      }
      if (p.sent < request.size() && (events[i].events & EPOLLOUT) != 0) {
        const ssize_t w =
            ::send(p.fd, request.data() + p.sent, request.size() - p.sent, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) {
          finish(slot, false);
          continue;
        }
        if (w > 0) p.sent += static_cast<size_t>(w);
        if (p.sent == request.size()) {
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u64 = slot;
          ::epoll_ctl(epoll, EPOLL_CTL_MOD, p.fd, &ev);
        }
      }
      if ((events[i].events & EPOLLIN) != 0) {
        const ssize_t r = ::recv(p.fd, buffer, sizeof(buffer), 0);
        if (r <= 0) {
          if (r < 0 && errno == EAGAIN) continue;
          finish(slot, false);
          continue;
        }
        p.response.append(buffer, static_cast<size_t>(r));
        if (p.response.find("\r\n\r\n") != std::string::npos) {
          finish(slot, p.response.compare(0, 12, "HTTP/1.1 101") == 0);
        }
      }
    }
  }
  for (Pending& p : slots) {
    if (p.fd >= 0) {
      ::close(p.fd);
      ++failed;
    }
  }
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  std::printf("{\"opened\":%zu,\"failed\":%d,\"ms\":%lld}\n", open.size(), failed,
              static_cast<long long>(ms));
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
  for (int fd : open) ::close(fd);
  return 0;
}
