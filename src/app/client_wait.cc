#include "app/client_wait.h"

#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <thread>

namespace imgpipe::app::client {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kConnectTimeout{10'000};
constexpr milliseconds kHelloWait{5'000};
constexpr milliseconds kPollInterval{500};
constexpr int kMaxReconnectFailures = 5;

int64_t IntOf(const json::object& o, std::string_view key, int64_t otherwise = 0) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return otherwise;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->as_double());
  return otherwise;
}

std::string StringOf(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// A terminal job (GET /api/jobs/{id}) as the result event the WebSocket would have carried.
json::object ResultFromJob(const json::object& job) {
  json::object r{{"type", "result"},
                 {"job_id", StringOf(job, "job_id")},
                 {"algorithm", StringOf(job, "algorithm")},
                 {"status", StringOf(job, "status")}};
  for (const char* key : {"outputs", "summary", "duration_ms", "error"}) {
    if (const json::value* v = job.if_contains(key); v != nullptr && !v->is_null()) r[key] = *v;
  }
  return r;
}

}  // namespace

ProgressDisplay::ProgressDisplay(bool enabled) : enabled_(enabled), tty_(isatty(2) == 1) {}

void ProgressDisplay::Finish() {
  if (drawn_) std::fprintf(stderr, "\n");
  drawn_ = false;
}

void ProgressDisplay::Update(int64_t done, int64_t total) {
  if (!enabled_ || total <= 0 || (done == last_done_ && total == last_total_)) return;
  last_done_ = done;
  last_total_ = total;
  if (!tty_) {
    std::fprintf(stderr, "progress: %lld/%lld\n", static_cast<long long>(done),
                 static_cast<long long>(total));
    return;
  }
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(std::clamp<int64_t>(done * kWidth / total, 0, kWidth));
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '-');
  std::fprintf(stderr, "\r[%s] %lld/%lld", bar.c_str(), static_cast<long long>(done),
               static_cast<long long>(total));
  std::fflush(stderr);
  drawn_ = true;
}

EventStream::EventStream(const Endpoints& endpoints, std::string client_id)
    : endpoints_(endpoints), client_id_(std::move(client_id)) {
  Connect(/*quiet=*/false);
  if (!ws_) return;
  // hello comes first (the server subscribes the connection before sending it).
  auto first = ws_->ReadText(kHelloWait);
  if (first.ok() && first->has_value()) {
    boost::system::error_code ec;
    json::value hello = json::parse(**first, ec);
    if (!ec && hello.is_object() && StringOf(hello.as_object(), "type") == "hello") {
      last_seq_ = IntOf(hello.as_object(), "last_seq");
    }
  }
}

void EventStream::Connect(bool quiet) {
  std::string url = endpoints_.ws_endpoint +
                    (endpoints_.ws_endpoint.find('?') == std::string::npos ? "?" : "&") +
                    "client_id=" + UrlEncode(client_id_);
  // A reconnect resumes after what was seen; the first connection replays all stored events,
  // which WaitForResult skips unless they are the job's.
  if (connected_before_) url += "&last_seq=" + std::to_string(last_seq_);
  auto ws = http::WebSocketClient::Connect(url, kConnectTimeout);
  if (ws.ok()) {
    ws_ = std::move(*ws);
    connected_before_ = true;
    reconnect_failures_ = 0;
    return;
  }
  ws_.reset();
  ++reconnect_failures_;
  if (!quiet) {
    std::fprintf(stderr, "imgpipe: no WebSocket (%s); polling the job instead\n",
                 ws.status().message().c_str());
  }
}

int EventStream::PollWebSocket(const std::string& job_id, milliseconds wait,
                               ProgressDisplay& progress, json::object* result, bool* done) {
  auto message = ws_->ReadText(wait);
  if (!message.ok()) {
    // Dropped: reconnect after last_seq; the server replays whatever came meanwhile.
    std::fprintf(stderr, "imgpipe: %s; reconnecting\n", message.status().message().c_str());
    ws_.reset();
    while (!ws_ && reconnect_failures_ < kMaxReconnectFailures) {
      if (reconnect_failures_ > 0) {
        std::this_thread::sleep_for(milliseconds(250 << std::min(reconnect_failures_, 3)));
      }
      Connect(/*quiet=*/true);
    }
    if (!ws_) std::fprintf(stderr, "imgpipe: cannot reconnect the WebSocket; polling instead\n");
    return kExitOk;
  }
  if (!message->has_value()) return kExitOk;
  boost::system::error_code ec;
  json::value event = json::parse(**message, ec);
  if (ec || !event.is_object()) return kExitOk;  // not ours to judge; keep waiting
  const json::object& e = event.as_object();
  last_seq_ = std::max(last_seq_, IntOf(e, "seq"));
  if (StringOf(e, "job_id") != job_id) return kExitOk;  // another job of this client
  const std::string type = StringOf(e, "type");
  if (type == "progress") {
    progress.Update(IntOf(e, "done"), IntOf(e, "total"));
  } else if (type == "result") {
    *result = e;
    *done = true;
  }
  return kExitOk;
}

int EventStream::PollHttp(const std::string& job_id, ProgressDisplay& progress,
                          json::object* result, bool* done) {
  json::value job;
  if (int rc = CallJson("GET",
                        endpoints_.api_base + "/jobs/" + UrlEncode(job_id) +
                            "?client_id=" + UrlEncode(client_id_),
                        "", {}, &job)) {
    return rc;
  }
  if (!job.is_object()) return Fail(kExitUnavailable, "GET /jobs/" + job_id + ": not an object");
  const json::object& j = job.as_object();
  if (const json::value* p = j.if_contains("progress"); p != nullptr && p->is_object()) {
    progress.Update(IntOf(p->as_object(), "done"), IntOf(p->as_object(), "total"));
  }
  const std::string status = StringOf(j, "status");
  if (status == "succeeded" || status == "failed" || status == "cancelled") {
    *result = ResultFromJob(j);
    *done = true;
  }
  return kExitOk;
}

int EventStream::WaitForResult(const std::string& job_id, Clock::time_point deadline,
                               ProgressDisplay& progress, json::object* result) {
  bool done = false;
  while (!done) {
    const auto now = Clock::now();
    if (now >= deadline) {
      return Fail(kExitUnavailable, "timed out waiting for the result of job " + job_id);
    }
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
    if (ws_) {
      if (int rc =
              PollWebSocket(job_id, std::min(left, milliseconds(1000)), progress, result, &done)) {
        return rc;
      }
    } else {
      if (int rc = PollHttp(job_id, progress, result, &done)) return rc;
      if (!done) std::this_thread::sleep_for(std::min(left, kPollInterval));
    }
  }
  return kExitOk;
}

}  // namespace imgpipe::app::client
