// Server tests over real sockets on 127.0.0.1 with a tiny blocking POSIX client.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "core/ids.h"
#include "http/http.h"

namespace imgpipe::http {
namespace {

using namespace std::chrono_literals;

// A blocking client socket with a 5 s receive timeout so a broken server fails, not hangs.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() { ::close(fd_); }
  bool connected() const { return connected_; }

  void Send(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += n;
    }
  }

  struct Reply {
    int status = 0;                              // 0: no (complete) response
    std::map<std::string, std::string> headers;  // names lowercased
    std::string body;
  };

  // Reads one response; `head` means no body follows despite Content-Length.
  Reply Read(bool head = false) {
    Reply reply;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return reply;
    }
    std::string header = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    size_t line_end = header.find("\r\n");
    std::string status_line = header.substr(0, line_end);
    if (status_line.size() < 12) return reply;
    size_t pos = line_end;
    while (pos != std::string::npos && pos < header.size()) {
      size_t next = header.find("\r\n", pos + 2);
      std::string line =
          header.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(c));
        reply.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
      }
      pos = next;
    }
    size_t length =
        head ? 0
             : std::stoul(reply.headers.count("content-length") ? reply.headers["content-length"]
                                                                : "0");
    while (buffer_.size() < length) {
      if (!Fill()) return reply;
    }
    reply.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    reply.status = std::stoi(status_line.substr(9, 3));
    return reply;
  }

  // True when the server closed the connection (EOF or reset) within the receive timeout.
  bool ClosedByPeer() {
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  bool Fill() {
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, n);
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

std::string Get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
}

ServerOptions TestOptions() {
  ServerOptions options;
  options.port = 0;
  options.threads = 2;
  options.stop_on_signals = false;
  return options;
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options = TestOptions()) {
    router_->Add("GET", "/hello/{name}", [](Request& r) {
      std::string body = "hello " + std::string(r.PathParam("name"));
      if (auto q = r.Query("q")) body += " q=" + std::string(*q);
      return Response::Bytes(200, "text/plain", body);
    });
    router_->Add("GET", "/id",
                 [](Request& r) { return Response::Bytes(200, "text/plain", r.request_id); });
    router_->Add("POST", "/echo", [](Request& r) {
      return Response::Bytes(200, "application/octet-stream", r.body);
    });
    router_->Add("GET", "/slow", [this](Request&) {
      {
        std::lock_guard lock(mu_);
        ++running_;
      }
      cv_.notify_all();
      std::this_thread::sleep_for(300ms);
      return Response::Bytes(200, "text/plain", "slow");
    });
    // Returns 200 only if two of these run at once (proves the pool serves them concurrently).
    router_->Add("GET", "/rendezvous", [this](Request&) {
      std::unique_lock lock(mu_);
      ++rendezvous_;
      cv_.notify_all();
      bool both = cv_.wait_for(lock, 5s, [&] { return rendezvous_ >= 2; });
      return Response::Bytes(both ? 200 : 500, "text/plain", "");
    });
    auto server = Server::Start(options, router_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    ASSERT_NE(server_->port(), 0);
  }

  void WaitRunning(int n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 5s, [&] { return running_ >= n; });
  }

  std::shared_ptr<Router> router_ = std::make_shared<Router>();
  std::unique_ptr<Server> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;
  int rendezvous_ = 0;
};

TEST_F(ServerTest, ServesRouteWithHeaders) {
  StartServer();
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  client.Send(Get("/hello/a%20b%2Fc?q=x+y%26z"));
  Client::Reply reply = client.Read();
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "hello a b/c q=x y&z");
  EXPECT_EQ(reply.headers["server"], "imgpipe");
  EXPECT_EQ(reply.headers["content-length"], std::to_string(reply.body.size()));
  EXPECT_TRUE(reply.headers.count("date"));
  EXPECT_TRUE(core::IsAcceptableRequestId(reply.headers["x-request-id"]));
  // No response may be sniffed into another type (an external program's output, say).
  EXPECT_EQ(reply.headers["x-content-type-options"], "nosniff");
}

TEST_F(ServerTest, CorsOnlyForListedOrigins) {
  ServerOptions options = TestOptions();
  options.cors_origins = {"https://viewer.example"};
  StartServer(options);
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  // A preflight from the listed origin: 204 with what the API accepts, not the router's 405.
  client.Send(
      "OPTIONS /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://viewer.example\r\n"
      "Access-Control-Request-Method: POST\r\n"
      "Access-Control-Request-Headers: content-type\r\n\r\n");
  Client::Reply preflight = client.Read();
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.headers["access-control-allow-origin"], "https://viewer.example");
  EXPECT_NE(preflight.headers["access-control-allow-methods"].find("POST"), std::string::npos);
  EXPECT_NE(preflight.headers["access-control-allow-headers"].find("Content-Type"),
            std::string::npos);
  // Its requests carry the origin back, errors included.
  client.Send(Get("/hello/x", "Origin: https://viewer.example\r\n"));
  Client::Reply ok = client.Read();
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.headers["access-control-allow-origin"], "https://viewer.example");
  EXPECT_EQ(ok.headers["vary"], "Origin");
  EXPECT_NE(ok.headers["access-control-expose-headers"].find("X-Request-Id"), std::string::npos);
  client.Send(Get("/nope", "Origin: https://viewer.example\r\n"));
  Client::Reply missing = client.Read();
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.headers["access-control-allow-origin"], "https://viewer.example");
  // Another origin gets nothing: no preflight answer, no header.
  client.Send(
      "OPTIONS /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n"
      "Access-Control-Request-Method: POST\r\n\r\n");
  Client::Reply refused = client.Read();
  EXPECT_EQ(refused.status, 405);
  EXPECT_EQ(refused.headers.count("access-control-allow-origin"), 0u);
  client.Send(Get("/hello/x", "Origin: https://evil.example\r\n"));
  EXPECT_EQ(client.Read().headers.count("access-control-allow-origin"), 0u);
}

// A request its route's guard refuses is answered from its headers: the body is never awaited
// (the client here never sends the 100 MB it announces), and the connection closes after.
TEST_F(ServerTest, GuardRefusesBeforeTheBodyIsRead) {
  std::atomic<int> guarded{0};
  router_->SetGuard([&guarded](const Request& r) -> std::optional<Response> {
    if (r.route != "/echo") return std::nullopt;
    ++guarded;
    if (r.Header("authorization") == "Bearer right") return std::nullopt;
    return ErrorResponse(core::Status::Unauthenticated("key required"));
  });
  StartServer();
  {
    Client client(server_->port());
    ASSERT_TRUE(client.connected());
    client.Send(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        "Content-Length: 100000000\r\nExpect: 100-continue\r\n\r\n");
    Client::Reply reply = client.Read();
    EXPECT_EQ(reply.status, 401);  // not 100 Continue
    EXPECT_EQ(reply.headers["www-authenticate"], "Bearer");
    EXPECT_EQ(reply.headers["connection"], "close");
    EXPECT_TRUE(client.ClosedByPeer());
  }
  {
    Client client(server_->port());
    client.Send(
        "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer right\r\n"
        "Content-Length: 5\r\n\r\nhello");
    Client::Reply reply = client.Read();
    EXPECT_EQ(reply.status, 200);
    EXPECT_EQ(reply.body, "hello");
  }
  // Once before the body (Admit), once before the handler (Dispatch); once for the refusal.
  EXPECT_EQ(guarded.load(), 3);
  // Routes the guard lets through, bodies or not, are served as before.
  Client client(server_->port());
  client.Send(Get("/hello/x"));
  EXPECT_EQ(client.Read().status, 200);
}

TEST_F(ServerTest, NoCorsByDefault) {
  StartServer();
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  client.Send(
      "OPTIONS /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://viewer.example\r\n"
      "Access-Control-Request-Method: POST\r\n\r\n");
  Client::Reply preflight = client.Read();
  EXPECT_EQ(preflight.status, 405);
  EXPECT_EQ(preflight.headers.count("access-control-allow-origin"), 0u);
  client.Send(Get("/hello/x", "Origin: https://viewer.example\r\n"));
  EXPECT_EQ(client.Read().headers.count("access-control-allow-origin"), 0u);
}

TEST_F(ServerTest, NotFoundAndMethodNotAllowedAreJson) {
  StartServer();
  Client client(server_->port());
  client.Send(Get("/nope"));
  Client::Reply reply = client.Read();
  EXPECT_EQ(reply.status, 404);
  EXPECT_EQ(reply.headers["content-type"], "application/json");
  EXPECT_NE(reply.body.find(R"("code":"not_found")"), std::string::npos);
  client.Send("DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  reply = client.Read();
  EXPECT_EQ(reply.status, 405);
  EXPECT_EQ(reply.headers["allow"], "POST");
}

TEST_F(ServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  StartServer();
  Client client(server_->port());
  client.Send(Get("/hello/one"));
  EXPECT_EQ(client.Read().body, "hello one");
  client.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde");
  Client::Reply reply = client.Read();
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "abcde");
}

TEST_F(ServerTest, ExpectContinueGetsInterimResponse) {
  StartServer();
  Client client(server_->port());
  client.Send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(client.Read().status, 100);
  client.Send("xyz");
  Client::Reply reply = client.Read();
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "xyz");
}

TEST_F(ServerTest, HeadKeepsContentLengthWithoutBody) {
  StartServer();
  Client client(server_->port());
  client.Send("HEAD /hello/abc HTTP/1.1\r\nHost: x\r\n\r\n");
  Client::Reply reply = client.Read(/*head=*/true);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers["content-length"], "9");  // "hello abc"
  // No body bytes may follow: the next response must parse right away.
  client.Send(Get("/hello/x"));
  EXPECT_EQ(client.Read().body, "hello x");
}

TEST_F(ServerTest, MalformedRequestsGet400) {
  StartServer();
  Client bad_path(server_->port());
  bad_path.Send(Get("/hello/%zz"));
  EXPECT_EQ(bad_path.Read().status, 400);
  Client garbage(server_->port());
  garbage.Send("THIS IS NOT HTTP\r\n\r\n");
  EXPECT_EQ(garbage.Read().status, 400);
}

TEST_F(ServerTest, TooLargeContentLengthGets413AndClose) {
  ServerOptions options = TestOptions();
  options.body_limit = 1024;
  StartServer(options);
  Client client(server_->port());
  client.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n");
  Client::Reply reply = client.Read();
  EXPECT_EQ(reply.status, 413);
  EXPECT_NE(reply.body.find("payload_too_large"), std::string::npos) << reply.body;
  EXPECT_TRUE(client.ClosedByPeer());
}

TEST_F(ServerTest, ChunkedBodyOverLimitGets413) {
  ServerOptions options = TestOptions();
  options.body_limit = 1024;
  StartServer(options);
  Client client(server_->port());
  std::string chunk(2000, 'x');
  client.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" +
              chunk + "\r\n0\r\n\r\n");
  EXPECT_EQ(client.Read().status, 413);
  EXPECT_TRUE(client.ClosedByPeer());
}

TEST_F(ServerTest, HeaderOverLimitIsRejected) {
  ServerOptions options = TestOptions();
  options.header_limit = 512;
  StartServer(options);
  Client client(server_->port());
  client.Send(Get("/hello/a", "X-Big: " + std::string(2000, 'y') + "\r\n"));
  EXPECT_EQ(client.Read().status, 431);
}

TEST_F(ServerTest, HeaderTimeoutClosesSilentConnection) {
  ServerOptions options = TestOptions();
  options.header_timeout = 200ms;
  StartServer(options);
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  EXPECT_TRUE(client.ClosedByPeer());
}

TEST_F(ServerTest, IdleTimeoutClosesKeepAliveConnection) {
  ServerOptions options = TestOptions();
  options.idle_timeout = 200ms;
  StartServer(options);
  Client client(server_->port());
  client.Send(Get("/hello/a"));
  EXPECT_EQ(client.Read().status, 200);
  EXPECT_TRUE(client.ClosedByPeer());
}

TEST_F(ServerTest, RequestIdEchoedWhenAcceptableElseGenerated) {
  StartServer();
  Client client(server_->port());
  client.Send(Get("/id", "X-Request-Id: abc-123.X_y\r\n"));
  Client::Reply reply = client.Read();
  EXPECT_EQ(reply.headers["x-request-id"], "abc-123.X_y");
  EXPECT_EQ(reply.body, "abc-123.X_y");
  client.Send(Get("/id", "X-Request-Id: bad id with spaces\r\n"));
  reply = client.Read();
  EXPECT_NE(reply.headers["x-request-id"], "bad id with spaces");
  EXPECT_TRUE(core::IsAcceptableRequestId(reply.headers["x-request-id"]));
  EXPECT_EQ(reply.body, reply.headers["x-request-id"]);
}

TEST_F(ServerTest, ConcurrentSlowRequestsRunOnThePool) {
  StartServer();
  auto fetch = [this] {
    Client client(server_->port());
    client.Send(Get("/rendezvous"));
    return client.Read().status;
  };
  auto a = std::async(std::launch::async, fetch);
  auto b = std::async(std::launch::async, fetch);
  EXPECT_EQ(a.get(), 200);
  EXPECT_EQ(b.get(), 200);
}

// Handlers run on their own pool: with its only thread held in a handler, the one I/O thread
// still accepts, parses and answers what needs no handler (a malformed request gets its 400),
// and a queued request is served once the handler thread is free.
TEST_F(ServerTest, BusyHandlerThreadsNeverHoldUpTheIoThreads) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  router_->Add("GET", "/block", [this, released](Request&) {
    {
      std::lock_guard lock(mu_);
      ++running_;
    }
    cv_.notify_all();
    released.wait();
    return Response::Bytes(200, "text/plain", "unblocked");
  });
  ServerOptions options = TestOptions();
  options.threads = 1;
  options.io_threads = 1;
  StartServer(options);
  uint16_t port = server_->port();
  auto blocked = std::async(std::launch::async, [port] {
    Client client(port);
    client.Send(Get("/block"));
    return client.Read().body;
  });
  WaitRunning(1);
  Client queued(port);
  queued.Send(Get("/hello/after"));
  Client bad(port);
  bad.Send("NOT A REQUEST\r\n\r\n");
  EXPECT_EQ(bad.Read().status, 400);  // the Client gives up after 5 s: 0 if held up
  release.set_value();
  Client::Reply reply = queued.Read();
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "hello after");
  EXPECT_EQ(blocked.get(), "unblocked");
}

TEST_F(ServerTest, GracefulStopFinishesInFlightThenRefuses) {
  StartServer();
  uint16_t port = server_->port();
  Client idle(port);  // an idle keep-alive connection must not hold up the stop
  auto slow = std::async(std::launch::async, [port] {
    Client client(port);
    client.Send(Get("/slow"));
    return client.Read();
  });
  WaitRunning(1);
  server_->Stop();
  Client::Reply reply = slow.get();
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "slow");
  EXPECT_EQ(reply.headers["connection"], "close");
  EXPECT_TRUE(idle.ClosedByPeer());
  Client late(port);
  EXPECT_FALSE(late.connected());
  server_->Stop();  // idempotent
  server_->Wait();  // returns at once when stopped
}

TEST_F(ServerTest, StopFromAnotherThreadUnblocksWait) {
  StartServer();
  std::thread stopper([this] { server_->Stop(); });
  server_->Wait();
  stopper.join();
  Client late(server_->port());
  EXPECT_FALSE(late.connected());
}

TEST_F(ServerTest, SigtermStopsGracefully) {
  ServerOptions options = TestOptions();
  options.stop_on_signals = true;
  StartServer(options);
  std::raise(SIGTERM);  // handled by the server's signal_set, not the default action
  server_->Wait();
  Client late(server_->port());
  EXPECT_FALSE(late.connected());
}

TEST_F(ServerTest, TakenPortFailsWithClearStatus) {
  StartServer();
  ServerOptions options = TestOptions();
  options.port = server_->port();
  auto second = Server::Start(options, router_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), core::StatusCode::kUnavailable);
  EXPECT_EQ(
      second.status().message(),
      "cannot listen on 127.0.0.1:" + std::to_string(options.port) + ": Address already in use");
}

}  // namespace
}  // namespace imgpipe::http
