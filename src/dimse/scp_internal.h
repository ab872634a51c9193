// The listener's parts (not part of the module's interface): the per-association service loop,
// the Part 10 framing of received data sets, and the metrics.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "dimse/dimse.h"
#include "metrics/metrics.h"

struct T_ASC_Association;

namespace imgpipe::dimse::internal {

struct ScpMetrics {
  metrics::Counter& associations_accepted;
  metrics::Counter& associations_rejected;
  metrics::Counter& instances_stored;
  metrics::Counter& instances_failed;
  metrics::Counter& finds_ok;
  metrics::Counter& finds_failed;
  metrics::Counter& echoes;
  metrics::Gauge& active_associations;
};
ScpMetrics& Metrics();

// A Part 10 file: preamble, "DICM", a meta header (explicit VR little endian) naming the SOP
// class and instance, the transfer syntax and the source AE title, then `dataset` unchanged.
std::string FramePart10(std::string_view sop_class_uid, std::string_view sop_instance_uid,
                        std::string_view transfer_syntax_uid, std::string_view source_aet,
                        std::string_view dataset);

// Checks a received association request (application context, called AE = ours, calling AE
// allowed, fewer than max_associations `active`) and accepts or refuses each presentation
// context. False when the association was rejected (A-ASSOCIATE-RJ sent).
bool Negotiate(const ListenerOptions& options, T_ASC_Association* assoc, const PeerContext& peer,
               size_t active);

enum class RequestWait { kReady, kClosed, kTimedOut, kStopped };

// Waits until the connection `fd` holds its whole A-ASSOCIATE-RQ PDU (or its first 64 KiB, or
// anything that is not such a request), so that DCMTK, reading it on the accepting thread, never
// waits for a slow or stalled peer. Peeks only: reads nothing. kClosed when the peer closed
// first, kTimedOut after `timeout`, kStopped as soon as `stopping` is set.
RequestWait WaitForAssociateRequest(int fd, std::chrono::milliseconds timeout,
                                    const std::atomic<bool>& stopping);

// Serves one acknowledged association until the peer releases or aborts it, it breaks, it is
// idle for the DIMSE timeout, or `stopping` is set (then it is aborted). Never throws. Does not
// destroy `assoc`.
void ServeAssociation(const ListenerOptions& options, T_ASC_Association* assoc,
                      const PeerContext& peer, const std::atomic<bool>& stopping);

}  // namespace imgpipe::dimse::internal
