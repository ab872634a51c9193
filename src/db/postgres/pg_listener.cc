#include "db/postgres/pg_listener.h"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace imgpipe::db::postgres {
namespace {

bool ValidChannel(std::string_view channel) {
  if (channel.empty() || channel.size() > 63) return false;
  for (size_t i = 0; i < channel.size(); ++i) {
    char c = channel[i];
    bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

class Listener final : public Subscription {
 public:
  Listener(std::string url, std::string channel, std::function<void(std::string_view)> on_notify)
      : url_(std::move(url)), channel_(std::move(channel)), on_notify_(std::move(on_notify)) {}

  ~Listener() override {
    stop_ = true;
    uint64_t one = 1;
    if (wake_fd_ >= 0) (void)::write(wake_fd_, &one, sizeof one);
    if (thread_.joinable()) thread_.join();
    if (conn_ != nullptr) PQfinish(conn_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  core::Status Start() {
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return core::Status::Internal("eventfd failed");
    IMGPIPE_RETURN_IF_ERROR(Connect());
    connected_ = true;
    thread_ = std::thread([this] { Run(); });
    return core::Status::Ok();
  }

  bool Connected() const override { return connected_; }

 private:
  core::Status Connect() {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = PQconnectdb(url_.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string reason = PQerrorMessage(conn_);
      while (!reason.empty() && reason.back() == '\n') reason.pop_back();
      return core::Status::Unavailable("LISTEN connection failed: " + reason);
    }
    std::string sql = "LISTEN " + channel_;  // channel_ is a validated identifier
    PGresult* result = PQexec(conn_, sql.c_str());
    bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    if (!ok) return core::Status::Unavailable("LISTEN " + channel_ + " failed");
    return core::Status::Ok();
  }

  void Run() {
    auto backoff = std::chrono::milliseconds(100);
    while (!stop_) {
      if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
        core::Status status = Connect();
        if (!status.ok()) {
          connected_ = false;
          spdlog::warn("{}; retrying in {} ms", status.message(), backoff.count());
          WaitForStop(backoff);
          backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
          continue;
        }
        backoff = std::chrono::milliseconds(100);
        connected_ = true;
        on_notify_("");  // anything may have happened while we were away
      }
      pollfd fds[2] = {{PQsocket(conn_), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) continue;  // EINTR
      if (stop_) break;
      if (PQconsumeInput(conn_) == 0) {
        spdlog::warn("LISTEN {} connection lost: {}", channel_, PQerrorMessage(conn_));
        PQfinish(conn_);
        conn_ = nullptr;  // reconnected at the top of the loop
        connected_ = false;
        continue;
      }
      while (PGnotify* n = PQnotifies(conn_)) {
        on_notify_(n->extra != nullptr ? std::string_view(n->extra) : std::string_view());
        PQfreemem(n);
      }
    }
  }

  void WaitForStop(std::chrono::milliseconds timeout) {
    pollfd fd = {wake_fd_, POLLIN, 0};
    (void)::poll(&fd, 1, static_cast<int>(timeout.count()));
  }

  const std::string url_;
  const std::string channel_;
  const std::function<void(std::string_view)> on_notify_;
  PGconn* conn_ = nullptr;  // owned by the thread once it runs
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::thread thread_;
};

}  // namespace

core::Result<std::unique_ptr<Subscription>> StartListener(
    const std::string& url, std::string_view channel,
    std::function<void(std::string_view payload)> on_notify) {
  if (!ValidChannel(channel)) {
    return core::Status::InvalidArgument("notification channel must match [a-z_][a-z0-9_]*");
  }
  auto listener = std::make_unique<Listener>(url, std::string(channel), std::move(on_notify));
  IMGPIPE_RETURN_IF_ERROR(listener->Start());
  return std::unique_ptr<Subscription>(std::move(listener));
}

}  // namespace imgpipe::db::postgres
