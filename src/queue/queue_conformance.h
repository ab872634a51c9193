// The one conformance suite every QueueService backend passes (queue.h's semantics).
//
// A backend test instantiates it with a factory that returns a fresh, EMPTY service over a fresh
// database for the given ServiceOptions (the suite passes its own clock), e.g. inside namespace
// imgpipe::queue:
//
//   IMGPIPE_INSTANTIATE_QUEUE_CONFORMANCE(SqliteFile, MakeSqliteHarness);
//
// Time: the suite moves a fake clock (ServiceOptions::now_ms) for visibility and dedup expiry;
// only the long-poll tests wait in real time (briefly).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "queue/queue.h"

namespace imgpipe::queue {

// A service and what it needs kept alive. Destroyed service first, then `owned`.
struct QueueHarness {
  std::shared_ptr<void> owned;  // e.g. the database
  db::Database* db = nullptr;   // the service's database (for SendInTransaction tests)
  std::unique_ptr<QueueService> service;
};

struct QueueServiceFactory {
  std::string name;
  std::function<core::Result<QueueHarness>(const ServiceOptions&)> make;
};
inline void PrintTo(const QueueServiceFactory& factory, std::ostream* os) { *os << factory.name; }

class QueueConformance : public ::testing::TestWithParam<QueueServiceFactory> {
 protected:
  static constexpr int64_t kStartMs = 1'800'000'000'000;

  void SetUp() override;
  void TearDown() override;

  QueueService& q() { return *harness_.service; }
  db::Database& db() { return *harness_.db; }
  void Advance(int64_t ms) { now_ms_ += ms; }
  int64_t Now() const { return now_ms_.load(); }

  // EnsureQueue with these options; fails the test on error.
  void Make(const std::string& name, QueueOptions options = {});
  // Sends; returns the message id ("" and a test failure on error).
  std::string SendOk(const std::string& queue, const std::string& body, const std::string& group,
                     const std::string& dedup);
  // Receives without waiting; fails the test on error.
  std::vector<Message> ReceiveOk(const std::string& queue, int max, int64_t lease_ms = -1);

 private:
  std::atomic<int64_t> now_ms_{kStartMs};
  QueueHarness harness_;
};

}  // namespace imgpipe::queue

// Runs every QueueConformance test against the services `factory` makes. Expand it inside
// namespace imgpipe::queue (gtest pastes the suite name, so it cannot be qualified).
#define IMGPIPE_INSTANTIATE_QUEUE_CONFORMANCE(label, factory)                    \
  INSTANTIATE_TEST_SUITE_P(                                                      \
      label, QueueConformance,                                                   \
      ::testing::Values(::imgpipe::queue::QueueServiceFactory{#label, factory}), \
      [](const auto& info) { return info.param.name; })
