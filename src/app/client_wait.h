// Waiting for one job's result (imgpipe process): over the client's WebSocket, reconnecting with
// last_seq when it drops (the server replays what was missed), or by polling GET /api/jobs/{id}
// when no WebSocket can be had (DESIGN.md: the fallback when there is no WebSocket).
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "app/client_common.h"
#include "http/client.h"

namespace imgpipe::app::client {

// Shows progress on stderr: a bar redrawn in place when stderr is a terminal, else one line per
// change ("progress: 3/40").
class ProgressDisplay {
 public:
  explicit ProgressDisplay(bool enabled);
  ~ProgressDisplay() { Finish(); }
  void Update(int64_t done, int64_t total);
  // Ends a drawn bar's line, so what follows starts on a line of its own.
  void Finish();

 private:
  bool enabled_;
  bool tty_;
  bool drawn_ = false;
  int64_t last_done_ = -1, last_total_ = -1;
};

// The client's event stream: the WebSocket when it can be opened, else nothing (polling).
class EventStream {
 public:
  // Opens {ws_endpoint}?client_id=... and waits (briefly) for its hello, so that the job
  // submitted next cannot finish before the connection is subscribed. When the WebSocket cannot
  // be opened, says so on stderr and the stream polls instead.
  EventStream(const Endpoints& endpoints, std::string client_id);

  // Waits until `deadline` for the result of `job_id`, showing its progress. kExitOk with the
  // result event in *result ({"type":"result","job_id","status",...}); kExitUnavailable on
  // timeout; what a failed poll returns otherwise.
  int WaitForResult(const std::string& job_id, std::chrono::steady_clock::time_point deadline,
                    ProgressDisplay& progress, boost::json::object* result);

 private:
  void Connect(bool quiet);
  // Reads one message within `wait` and handles it (progress shown; the result stored in *result,
  // *done set). When the connection dropped, reconnects after last_seq, or gives up on the
  // WebSocket after kMaxReconnectFailures attempts (polling from then on).
  int PollWebSocket(const std::string& job_id, std::chrono::milliseconds wait,
                    ProgressDisplay& progress, boost::json::object* result, bool* done);
  int PollHttp(const std::string& job_id, ProgressDisplay& progress, boost::json::object* result,
               bool* done);

  Endpoints endpoints_;
  std::string client_id_;
  std::unique_ptr<http::WebSocketClient> ws_;
  int64_t last_seq_ = 0;  // the highest sequence number seen (hello's, then events')
  bool connected_before_ = false;
  int reconnect_failures_ = 0;
};

}  // namespace imgpipe::app::client
