// Server: binds and listens in Start(), accepts on a strand, runs one coroutine per connection on
// the I/O threads (one io_context), and runs route handlers on a separate handler pool; stops
// gracefully.
//
// Why two pools: handlers block (fsync, database, file reads), so there must be more handler
// threads than cores; but every idle thread that shares the I/O context is woken for a share of
// the ready sockets, and on a small machine those wake-ups cost more than the work (with 8
// threads on 2 cores, 1.7 context switches per accepted WebSocket; docs/benchmarks.md "Push").
// So I/O threads default to one per core, and only handlers go to the pool.
//
// Stopping: RequestStop() (from Stop(), a signal or the destructor) closes the acceptor, closes
// idle connections and tells busy ones to finish their current request with "Connection: close".
// A separate "stopper" thread then waits up to shutdown_grace for the connections to end, closes
// what is left, stops both contexts and joins their threads. It is a separate thread because
// Stop() may be called from a server thread (a handler, the signal handler), which cannot join
// itself.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <csignal>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/http.h"
#include "http/session.h"

namespace imgpipe::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using internal::Connection;
using internal::SessionHub;

// After the grace period, force-closed sessions get this long to unwind before the loop stops.
constexpr std::chrono::milliseconds kForcedCloseWait{1000};

// The server whose I/O or handler thread the current thread is (nullptr elsewhere).
thread_local const void* tls_pool_owner = nullptr;

std::string HostPort(const std::string& host, uint16_t port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

class ServerImpl final : public Server {
 public:
  ServerImpl(const ServerOptions& options, std::shared_ptr<const Router> router)
      : acceptor_(asio::make_strand(ioc_)),
        hub_(std::make_shared<SessionHub>(options, std::move(router))) {
    hub_->set_handler_executor(handler_ioc_.get_executor());
  }

  ~ServerImpl() override {
    Stop();
    if (stopper_.joinable()) stopper_.join();
  }

  core::Status Listen();
  void Run();

  uint16_t port() const override { return port_; }
  std::string host() const override { return hub_->options().host; }

  void Stop() override {
    RequestStop();
    if (tls_pool_owner == this) return;  // cannot wait for our own thread to be joined
    Wait();
  }

  void Wait() override {
    std::unique_lock lock(mu_);
    stopped_cv_.wait(lock, [&] { return stopped_; });
  }

 private:
  asio::awaitable<void> AcceptLoop();
  // Registers and runs a session for an accepted socket; false once stopping.
  bool StartSession(tcp::socket socket);
  asio::awaitable<void> KeepaliveLoop();
  void RequestStop();
  void FinishStop();

  asio::io_context ioc_;  // first: destroyed last, after everything bound to it
  // Route handlers (SessionHub::handler_executor). After ioc_: a handler still queued at
  // destruction holds a session's coroutine, whose socket needs ioc_.
  asio::io_context handler_ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> handler_work_ =
      asio::make_work_guard(handler_ioc_);
  tcp::acceptor acceptor_;
  std::optional<asio::signal_set> signals_;
  std::shared_ptr<SessionHub> hub_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;  // io_threads_ I/O threads, then the handler threads
  int io_threads_ = 0;

  std::mutex mu_;
  std::condition_variable stopped_cv_;
  bool stop_requested_ = false;  // GUARDED_BY(mu_)
  bool stopped_ = false;         // GUARDED_BY(mu_)
  std::thread stopper_;          // GUARDED_BY(mu_)
};

core::Status ServerImpl::Listen() {
  const ServerOptions& options = hub_->options();
  const std::string where = HostPort(options.host, options.port);
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(options.host, ec);
  if (ec) {  // not a literal address: resolve the name (e.g. "localhost"), take the first
    tcp::resolver resolver(ioc_);
    auto results = resolver.resolve(options.host, std::to_string(options.port), ec);
    if (ec || results.empty()) {
      return core::Status::InvalidArgument("cannot listen on " + where +
                                           ": cannot resolve host: " + ec.message());
    }
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, options.port);
  auto fail = [&](const boost::system::error_code& e) {
    return core::Status::Unavailable("cannot listen on " + where + ": " + e.message());
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail(ec);
  // SO_REUSEADDR lets a restart bind while old connections sit in TIME_WAIT; on Linux it does not
  // allow two listeners on one port, so a taken port is still reported.
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail(ec);
  acceptor_.bind(endpoint, ec);
  if (ec) return fail(ec);
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(ec);
  port_ = acceptor_.local_endpoint(ec).port();
  if (ec) return fail(ec);
  acceptor_.non_blocking(true, ec);  // AcceptLoop's synchronous accepts never wait
  if (ec) return fail(ec);
  return core::Status::Ok();
}

void ServerImpl::Run() {
  const ServerOptions& options = hub_->options();
  asio::co_spawn(acceptor_.get_executor(), AcceptLoop(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("http accept loop failed: {}", ex.what());
    }
  });
  asio::co_spawn(asio::make_strand(ioc_), KeepaliveLoop(), asio::detached);
  if (options.stop_on_signals) {
    signals_.emplace(ioc_, SIGINT, SIGTERM);
    signals_->async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      spdlog::info("signal {} received, stopping", signal);
      RequestStop();
    });
  }
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  io_threads_ = options.io_threads > 0 ? options.io_threads : cores;
  const int handler_threads = options.threads > 0 ? options.threads : cores;
  threads_.reserve(io_threads_ + handler_threads);
  for (int i = 0; i < io_threads_; ++i) {
    threads_.emplace_back([this] {
      tls_pool_owner = this;
      ioc_.run();
    });
  }
  for (int i = 0; i < handler_threads; ++i) {
    threads_.emplace_back([this] {
      tls_pool_owner = this;
      handler_ioc_.run();
    });
  }
}

asio::awaitable<void> ServerImpl::AcceptLoop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(ioc_),
                                                        asio::as_tuple(asio::use_awaitable));
    if (!acceptor_.is_open() || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // E.g. out of file descriptors: back off instead of spinning.
      spdlog::warn("http accept failed: {}", ec.message());
      asio::steady_timer timer(acceptor_.get_executor(), std::chrono::milliseconds(100));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (!StartSession(std::move(socket))) co_return;
    // Connections that arrived meanwhile are taken at once (the acceptor is non-blocking), not
    // one trip through the reactor each: a burst of connects costs fewer wake-ups.
    for (int more = 0; more < 64; ++more) {
      boost::system::error_code accept_ec;
      tcp::socket next = acceptor_.accept(asio::make_strand(ioc_), accept_ec);
      if (accept_ec) break;  // would_block: none waiting (other errors: the loop above)
      if (!StartSession(std::move(next))) co_return;
    }
  }
}

bool ServerImpl::StartSession(tcp::socket socket) {
  auto connection = std::make_shared<Connection>(std::move(socket));
  if (!hub_->Add(connection)) return false;  // stopping: the socket closes with `connection`
  asio::co_spawn(connection->stream.get_executor(), internal::RunSession(hub_, connection),
                 asio::detached);
  return true;
}

// The WebSockets' heartbeats: one sweep over all of them every quarter of the ping interval,
// instead of a timer per connection. Ends with the loop (ioc_.stop()).
asio::awaitable<void> ServerImpl::KeepaliveLoop() {
  const auto interval = hub_->options().ws_ping_interval;
  if (interval.count() <= 0) co_return;
  const auto every = std::clamp<std::chrono::milliseconds>(
      interval / 4, std::chrono::milliseconds(5), std::chrono::milliseconds(5'000));
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!hub_->stopping()) {
    timer.expires_after(every);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    hub_->SweepWebSockets();
  }
}

void ServerImpl::RequestStop() {
  std::lock_guard lock(mu_);
  if (stop_requested_) return;
  stop_requested_ = true;
  hub_->BeginStop();
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
    if (signals_) signals_->cancel(ec);
  });
  stopper_ = std::thread([this] { FinishStop(); });
}

void ServerImpl::FinishStop() {
  const auto grace = hub_->options().shutdown_grace;
  if (!hub_->WaitEmpty(std::chrono::steady_clock::now() + grace)) {
    spdlog::warn("http: requests still running after the {} ms grace; closing them", grace.count());
    hub_->CloseAll();
    hub_->WaitEmpty(std::chrono::steady_clock::now() + kForcedCloseWait);
  }
  // The I/O threads stop first; the handler pool then runs out of work: callbacks already posted
  // to it (a WebSocket's on_close) still run.
  ioc_.stop();
  for (int i = 0; i < io_threads_; ++i) threads_[i].join();
  handler_work_.reset();
  for (size_t i = io_threads_; i < threads_.size(); ++i) threads_[i].join();
  // The loop may have stopped before the posted close ran; no thread runs it any more, so close
  // here: after Stop() returns, connections are refused.
  boost::system::error_code ec;
  acceptor_.close(ec);
  if (signals_) signals_->cancel(ec);
  std::lock_guard lock(mu_);
  stopped_ = true;
  stopped_cv_.notify_all();
}

}  // namespace

core::Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                                    std::shared_ptr<const Router> router) {
  if (router == nullptr) return core::Status::InvalidArgument("http server needs a router");
  auto server = std::make_unique<ServerImpl>(options, std::move(router));
  IMGPIPE_RETURN_IF_ERROR(server->Listen());
  server->Run();
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace imgpipe::http
