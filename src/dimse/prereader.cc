// Waiting for a connection's A-ASSOCIATE-RQ before DCMTK reads it (see WaitForAssociateRequest).
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>
#include <vector>

#include "dimse/scp_internal.h"

namespace imgpipe::dimse::internal {

RequestWait WaitForAssociateRequest(int fd, std::chrono::milliseconds timeout,
                                    const std::atomic<bool>& stopping) {
  constexpr size_t kHeader = 6;              // PDU type, reserved, 32-bit length
  constexpr size_t kMaxBuffered = 64 << 10;  // beyond this, DCMTK reads the rest itself
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<unsigned char> buf(kMaxBuffered);
  while (true) {
    if (stopping.load()) return RequestWait::kStopped;
    if (std::chrono::steady_clock::now() >= deadline) return RequestWait::kTimedOut;
    pollfd p = {fd, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    // The peer sent all it will: DCMTK reads what is there and reports what is wrong with it.
    bool finished = (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
    ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return RequestWait::kClosed;
    if (n > 0 && finished) return RequestWait::kReady;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return RequestWait::kClosed;
    }
    size_t have = static_cast<size_t>(n);
    if (have >= kHeader) {
      // Not an A-ASSOCIATE-RQ: DCMTK reads it at once and reports what is wrong.
      if (buf[0] != 0x01) return RequestWait::kReady;
      size_t length =
          (size_t{buf[2]} << 24) | (size_t{buf[3]} << 16) | (size_t{buf[4]} << 8) | size_t{buf[5]};
      if (have >= std::min(kHeader + length, kMaxBuffered)) return RequestWait::kReady;
    }
    // Part of the request is here: wait for more without spinning on the readable socket.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace imgpipe::dimse::internal
