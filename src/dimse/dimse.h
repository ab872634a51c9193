// dimse: DICOM networking (DIMSE over TCP) on DCMTK's dcmnet: a listener (C-ECHO, C-STORE and
// C-FIND SCP) and a C-ECHO / C-STORE sender (SCU).
//
// The module knows nothing of the PACS: the listener hands every received instance to a
// StoreHandler and every query to a FindHandler (the app wires them to pacs::Pacs), so it uses
// only core, dicom's conventions (Part 10 bytes) and metrics.
//
// Thread-safety: a Listener is driven by one owner (Start/Stop from one thread); its handlers are
// called concurrently, one thread per association. Echo and Store are safe to call concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace imgpipe::dimse {

// An AE title as the listener and the sender accept it: 1..16 characters, no backslash, no
// control characters, not only spaces. InvalidArgument (naming `what`) otherwise.
core::Status ValidateAeTitle(std::string_view title, std::string_view what = "AE title");

// ---- Sender (SCU) ----

struct RemoteNode {
  std::string host;
  int port = 104;
  std::string called_aet;
  std::string calling_aet = "IMGPIPE";
  // Bounds connecting, association negotiation and each DIMSE response (rounded up to seconds).
  std::chrono::milliseconds timeout{30'000};
};

// The C-STORE response status of one file (0 = success; 0xB000, 0xB007, 0xB006 are warnings: the
// peer stored it). A file that was not sent gets a failure status of ours with `error` set:
// 0xC000 when the file is not readable DICOM, 0x0122 when the peer accepted no presentation
// context for its SOP class and transfer syntax.
struct StoreOutcome {
  std::string sop_instance_uid;
  uint16_t status = 0;
  std::string error;  // empty on success; the peer's error comment or our reason otherwise
};

// One association with a Verification presentation context and one C-ECHO. Unavailable when the
// peer cannot be reached, rejects the association or does not answer success; InvalidArgument for
// a bad node (AE titles, port).
core::Status Echo(const RemoteNode& node);

// One association; proposes each file's SOP class with its own transfer syntax (plus explicit and
// implicit little endian when uncompressed), and sends the files as stored (never transcoded;
// uncompressed files may go in whichever little-endian syntax the peer accepted). Unavailable when
// the association cannot be made or breaks; otherwise one outcome per file, in order.
core::Result<std::vector<StoreOutcome>> Store(const RemoteNode& node,
                                              const std::vector<std::string>& part10_files);

// ---- Listener (SCP) ----

// A DICOM tag as (group << 16) | element, e.g. 0x0020000D for StudyInstanceUID.
using Tag = uint32_t;
constexpr Tag MakeTag(uint16_t group, uint16_t element) {
  return (static_cast<Tag>(group) << 16) | element;
}

// Who sent an instance or a query.
struct PeerContext {
  std::string calling_aet;   // trimmed
  std::string peer_address;  // numeric IP of the peer
};

struct StoreContext : PeerContext {
  std::string sop_class_uid;     // from the C-STORE request
  std::string sop_instance_uid;  // from the C-STORE request
  std::string transfer_syntax_uid;
};

// Receives one instance as a Part 10 file: a meta header (the request's SOP class and instance,
// the presentation context's transfer syntax, SourceApplicationEntityTitle = the calling AE)
// followed by the data set exactly as received. Its Status becomes the C-STORE response status
// (StoreStatusFor). Called on the association's thread; may block (the peer waits).
using StoreHandler = std::function<core::Status(std::string part10, const StoreContext&)>;

// The C-STORE response status for a handler's Status: 0x0000 ok, 0xA700 (out of resources)
// for ResourceExhausted, Unavailable, PayloadTooLarge and Internal; 0xA900 (data set does not
// match SOP class) for Conflict; 0xC000 (cannot understand) for everything else (InvalidArgument,
// Unprocessable, UnsupportedMediaType, ...). AlreadyExists counts as success (0x0000): a resent
// instance is not an error.
uint16_t StoreStatusFor(const core::Status& status);

// C-FIND, Study Root Query/Retrieve Information Model - FIND, levels STUDY, SERIES, IMAGE.
enum class QueryLevel { kStudy, kSeries, kImage };

// The query's keys, tag -> value as received (trimmed of padding): an empty value is a return
// key (match anything, return the attribute); a value may hold DICOM wildcards (* ?), a date range
// (A-B, A-, -B) or a UID list (a\b). Sequences are ignored. QueryRetrieveLevel and
// SpecificCharacterSet are not among them. Matching semantics are the handler's (see the app).
struct FindQuery {
  QueryLevel level = QueryLevel::kStudy;
  std::map<Tag, std::string> keys;
  PeerContext peer;
};

// One match: tag -> value. The listener answers with the query's keys only: a requested key the
// match lacks goes back empty, a match's tag the query did not ask for is left out; it adds
// QueryRetrieveLevel (and SpecificCharacterSet ISO_IR 192 when the query had it). Values are
// written with the dictionary VR of their tag (unknown tags are skipped).
using FindMatch = std::map<Tag, std::string>;
// Returns the matches, or an error answered as a C-FIND failure (0xA700 for
// ResourceExhausted/Unavailable, 0xC000 otherwise).
using FindHandler = std::function<core::Result<std::vector<FindMatch>>(const FindQuery&)>;

struct ListenerOptions {
  std::string host = "127.0.0.1";  // numeric IPv4 address or a name ("0.0.0.0": every interface)
  int port = 104;                  // 0 picks a free port (Start returns it)
  std::string ae_title = "IMGPIPE";
  // Calling AE titles allowed to associate; empty = any. Compared after trimming spaces.
  std::vector<std::string> allowed_calling_aets;
  int max_associations = 8;  // at once; further ones are rejected (transient, local limit)
  // An instance whose data set is larger is refused (0xA700) and not handed to on_store; the
  // bytes past the cap are read and dropped, so memory per association stays bounded.
  size_t max_instance_bytes = 512ull << 20;
  // A peer silent for this long during association negotiation (ACSE) or between/within
  // messages (DIMSE) is dropped, freeing its slot.
  std::chrono::milliseconds acse_timeout{30'000};
  std::chrono::milliseconds dimse_timeout{60'000};
  StoreHandler on_store;  // required
  FindHandler on_find;    // optional: without it, Study Root FIND is not negotiated
};

// Accepts associations for Verification, every storage SOP class DCMTK knows (in every transfer
// syntax DCMTK knows, the one the peer proposes first being chosen, so nothing is transcoded) and,
// with on_find, Study Root FIND (uncompressed syntaxes). Rejects an association whose called AE
// is not ours or whose calling AE is not allowed, and one beyond max_associations. A peer that
// sends garbage, aborts or stalls costs only its own association (logged, counted).
//
// Metrics: imgpipe_dimse_associations_total{result=accepted|rejected},
// imgpipe_dimse_instances_total{result=stored|failed}, imgpipe_dimse_finds_total{result=ok|failed},
// imgpipe_dimse_echoes_total, imgpipe_dimse_active_associations.
class Listener {
 public:
  explicit Listener(ListenerOptions options);
  ~Listener();  // Stop()
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds host:port and starts serving on background threads; returns the bound port.
  // InvalidArgument for bad options, Unavailable when the address cannot be bound. Once only.
  core::Result<int> Start();
  // Stops accepting, aborts open associations and joins every thread; prompt (within about a
  // second) and idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace imgpipe::dimse
