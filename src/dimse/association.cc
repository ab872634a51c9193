// The per-association service loop of the listener: C-ECHO, C-STORE and C-FIND.
#include <cstring>
#include <exception>

#include "dcmtk/config/osconfig.h"  // first, as DCMTK requires
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcelem.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcostrma.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dimse.h"
#include "dimse/internal.h"
#include "dimse/scp_internal.h"
#include "spdlog/spdlog.h"

namespace imgpipe::dimse::internal {
namespace {

constexpr size_t kMaxFindIdentifierBytes = 1 << 20;

// Collects a data set's bytes up to a cap; past it, refuses every write (the DIMSE layer then
// reads and drops the rest of the data set), so memory stays bounded.
class CappedConsumer : public DcmConsumer {
 public:
  explicit CappedConsumer(size_t cap) : cap_(cap) {}
  OFBool good() const override { return !overflowed_; }
  OFCondition status() const override { return overflowed_ ? EC_MemoryExhausted : EC_Normal; }
  OFBool isFlushed() const override { return OFTrue; }
  offile_off_t avail() const override {
    return overflowed_ ? 0 : static_cast<offile_off_t>(cap_ - bytes_.size());
  }
  offile_off_t write(const void* buf, offile_off_t len) override {
    if (overflowed_ || static_cast<size_t>(len) > cap_ - bytes_.size()) {
      overflowed_ = true;
      return 0;
    }
    bytes_.append(static_cast<const char*>(buf), static_cast<size_t>(len));
    return len;
  }
  void flush() override {}
  bool overflowed() const { return overflowed_; }
  std::string& bytes() { return bytes_; }

 private:
  const size_t cap_;
  std::string bytes_;
  bool overflowed_ = false;
};

struct ConsumerHolder {
  explicit ConsumerHolder(size_t cap) : consumer(cap) {}
  CappedConsumer consumer;
};

// The output stream DIMSE_receiveDataSetInFile writes the raw data set into.
class CappedStream : private ConsumerHolder, public DcmOutputStream {
 public:
  explicit CappedStream(size_t cap) : ConsumerHolder(cap), DcmOutputStream(&consumer) {}
  CappedConsumer& sink() { return consumer; }
};

std::string UidOf(const char* field) { return Trim(field); }

// The transfer syntax UID of an accepted presentation context ("" when unknown).
std::string AcceptedSyntax(T_ASC_Association* assoc, T_ASC_PresentationContextID id) {
  T_ASC_PresentationContext pc;
  if (ASC_findAcceptedPresentationContext(assoc->params, id, &pc).bad()) return "";
  return pc.acceptedTransferSyntax;
}

// Receives a data set of at most `cap` bytes. Returns the condition of the network layer;
// `overflowed` tells a too-large data set (read and dropped, the association still usable).
OFCondition ReceiveRaw(T_ASC_Association* assoc, int timeout, size_t cap, std::string& out,
                       bool& overflowed) {
  CappedStream stream(cap);
  T_ASC_PresentationContextID pres_id = 0;
  OFCondition cond = DIMSE_receiveDataSetInFile(assoc, DIMSE_NONBLOCKING, timeout, &pres_id,
                                                &stream, nullptr, nullptr);
  overflowed = stream.sink().overflowed();
  out = std::move(stream.sink().bytes());
  return cond;
}

DcmDataset* ErrorDetail(DcmDataset& detail, const std::string& message) {
  // ErrorComment is LO: at most 64 characters.
  detail.putAndInsertString(DCM_ErrorComment, message.substr(0, 64).c_str());
  return &detail;
}

OFCondition HandleEcho(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                       T_DIMSE_C_EchoRQ& req) {
  Metrics().echoes.Inc();
  return DIMSE_sendEchoResponse(assoc, pres_id, &req, STATUS_Success, nullptr);
}

OFCondition HandleStore(const ListenerOptions& options, T_ASC_Association* assoc,
                        T_ASC_PresentationContextID pres_id, T_DIMSE_C_StoreRQ& req,
                        const PeerContext& peer) {
  StoreContext ctx;
  static_cast<PeerContext&>(ctx) = peer;
  ctx.sop_class_uid = UidOf(req.AffectedSOPClassUID);
  ctx.sop_instance_uid = UidOf(req.AffectedSOPInstanceUID);
  ctx.transfer_syntax_uid = AcceptedSyntax(assoc, pres_id);
  std::string dataset;
  bool overflowed = false;
  OFCondition cond = ReceiveRaw(assoc, TimeoutSeconds(options.dimse_timeout),
                                options.max_instance_bytes, dataset, overflowed);
  if (cond.bad() && !overflowed) return cond;  // the association broke

  core::Status status;
  if (overflowed) {
    status = core::Status::ResourceExhausted("instance larger than " +
                                             std::to_string(options.max_instance_bytes) + " bytes");
  } else {
    std::string part10 = FramePart10(ctx.sop_class_uid, ctx.sop_instance_uid,
                                     ctx.transfer_syntax_uid, peer.calling_aet, dataset);
    dataset = std::string();  // one copy at a time
    try {
      status = options.on_store(std::move(part10), ctx);
    } catch (const std::exception& e) {
      status = core::Status::Internal(std::string("store handler threw: ") + e.what());
    }
  }
  T_DIMSE_C_StoreRSP rsp;
  std::memset(&rsp, 0, sizeof(rsp));
  rsp.MessageIDBeingRespondedTo = req.MessageID;
  rsp.DimseStatus = StoreStatusFor(status);
  rsp.DataSetType = DIMSE_DATASET_NULL;
  OFStandard::strlcpy(rsp.AffectedSOPClassUID, req.AffectedSOPClassUID,
                      sizeof(rsp.AffectedSOPClassUID));
  OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, req.AffectedSOPInstanceUID,
                      sizeof(rsp.AffectedSOPInstanceUID));
  rsp.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
  DcmDataset detail;
  DcmDataset* detail_ptr = nullptr;
  if (rsp.DimseStatus == STATUS_Success) {
    Metrics().instances_stored.Inc();
  } else {
    Metrics().instances_failed.Inc();
    detail_ptr = ErrorDetail(detail, status.message());
    spdlog::warn("dicom: C-STORE of {} from {} ({}) refused: {}", ctx.sop_instance_uid,
                 peer.calling_aet, peer.peer_address, status.ToString());
  }
  return DIMSE_sendStoreResponse(assoc, pres_id, &req, &rsp, detail_ptr);
}

// A C-FIND response to `req` with `status`, carrying a data set or not.
T_DIMSE_C_FindRSP FindResponse(const T_DIMSE_C_FindRQ& req, uint16_t status,
                               T_DIMSE_DataSetType data_set) {
  T_DIMSE_C_FindRSP rsp;
  std::memset(&rsp, 0, sizeof(rsp));
  rsp.MessageIDBeingRespondedTo = req.MessageID;
  OFStandard::strlcpy(rsp.AffectedSOPClassUID, req.AffectedSOPClassUID,
                      sizeof(rsp.AffectedSOPClassUID));
  rsp.opts = O_FIND_AFFECTEDSOPCLASSUID;
  rsp.DataSetType = data_set;
  rsp.DimseStatus = status;
  return rsp;
}

OFCondition SendFindFinal(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                          T_DIMSE_C_FindRQ& req, uint16_t status, const std::string& error) {
  T_DIMSE_C_FindRSP rsp = FindResponse(req, status, DIMSE_DATASET_NULL);
  DcmDataset detail;
  bool failed = status != STATUS_Success;
  (failed ? Metrics().finds_failed : Metrics().finds_ok).Inc();
  if (failed) spdlog::warn("dicom: C-FIND failed: {}", error);
  return DIMSE_sendFindResponse(assoc, pres_id, &req, &rsp, nullptr,
                                failed ? ErrorDetail(detail, error) : nullptr);
}

OFCondition HandleFind(const ListenerOptions& options, T_ASC_Association* assoc,
                       T_ASC_PresentationContextID pres_id, T_DIMSE_C_FindRQ& req,
                       const PeerContext& peer) {
  std::string raw;
  bool overflowed = false;
  OFCondition cond = ReceiveRaw(assoc, TimeoutSeconds(options.dimse_timeout),
                                kMaxFindIdentifierBytes, raw, overflowed);
  if (cond.bad() && !overflowed) return cond;
  if (overflowed) return SendFindFinal(assoc, pres_id, req, 0xA700, "query too large");
  if (!options.on_find) return SendFindFinal(assoc, pres_id, req, 0xC000, "C-FIND not served");

  DcmXfer xfer(AcceptedSyntax(assoc, pres_id).c_str());
  DcmDataset query;
  DcmInputBufferStream in;
  in.setBuffer(raw.data(), static_cast<offile_off_t>(raw.size()));
  in.setEos();
  query.transferInit();
  cond = query.read(in, xfer.getXfer());
  query.transferEnd();
  if (cond.bad()) return SendFindFinal(assoc, pres_id, req, 0xC000, "unreadable query");

  FindQuery q;
  q.peer = peer;
  OFString level;
  query.findAndGetOFString(DCM_QueryRetrieveLevel, level);
  std::string lvl = Trim(level.c_str());
  if (lvl == "STUDY") {
    q.level = QueryLevel::kStudy;
  } else if (lvl == "SERIES") {
    q.level = QueryLevel::kSeries;
  } else if (lvl == "IMAGE") {
    q.level = QueryLevel::kImage;
  } else {
    return SendFindFinal(assoc, pres_id, req, 0xA900, "unsupported QueryRetrieveLevel " + lvl);
  }
  bool had_charset = false;
  for (unsigned long i = 0; i < query.card(); ++i) {
    DcmElement* e = query.getElement(i);
    const DcmTag& tag = e->getTag();
    if (tag == DCM_SpecificCharacterSet) had_charset = true;
    if (tag == DCM_QueryRetrieveLevel || tag == DCM_SpecificCharacterSet) continue;
    if (e->ident() == EVR_SQ || tag.getGroup() == 0x0002) continue;
    OFString value;
    e->getOFStringArray(value);
    q.keys[MakeTag(tag.getGroup(), tag.getElement())] = Trim(value.c_str());
  }

  core::Result<std::vector<FindMatch>> matches = core::Status::Internal("unset");
  try {
    matches = options.on_find(q);
  } catch (const std::exception& e) {
    matches = core::Status::Internal(std::string("find handler threw: ") + e.what());
  }
  if (!matches.ok()) {
    auto code = matches.status().code();
    uint16_t status =
        code == core::StatusCode::kResourceExhausted || code == core::StatusCode::kUnavailable
            ? 0xA700
            : 0xC000;
    return SendFindFinal(assoc, pres_id, req, status, matches.status().message());
  }
  for (const FindMatch& match : *matches) {
    DcmDataset answer;
    if (had_charset) answer.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
    answer.putAndInsertString(DCM_QueryRetrieveLevel, lvl.c_str());
    for (const auto& [tag, unused] : q.keys) {
      DcmTag dcm_tag(static_cast<uint16_t>(tag >> 16), static_cast<uint16_t>(tag & 0xffff));
      if (dcm_tag.getEVR() == EVR_UNKNOWN || dcm_tag.getEVR() == EVR_UN) continue;
      auto it = match.find(tag);
      answer.putAndInsertString(dcm_tag, it == match.end() ? "" : it->second.c_str());
    }
    T_DIMSE_C_FindRSP rsp =
        FindResponse(req, STATUS_FIND_Pending_MatchesAreContinuing, DIMSE_DATASET_PRESENT);
    cond = DIMSE_sendFindResponse(assoc, pres_id, &req, &rsp, &answer, nullptr);
    if (cond.bad()) return cond;
  }
  return SendFindFinal(assoc, pres_id, req, STATUS_Success, "");
}

}  // namespace

void ServeAssociation(const ListenerOptions& options, T_ASC_Association* assoc,
                      const PeerContext& peer, const std::atomic<bool>& stopping) {
  const int dimse_timeout = TimeoutSeconds(options.dimse_timeout);
  int idle_seconds = 0;
  while (true) {
    T_DIMSE_Message msg;
    T_ASC_PresentationContextID pres_id = 0;
    DcmDataset* status_detail = nullptr;
    // One-second waits, so Stop and the idle timeout are noticed while the peer is quiet.
    OFCondition cond =
        DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, 1, &pres_id, &msg, &status_detail);
    delete status_detail;
    if (cond == DIMSE_NODATAAVAILABLE) {
      if (stopping.load()) {
        ASC_abortAssociation(assoc);
        return;
      }
      if (++idle_seconds >= dimse_timeout) {
        spdlog::info("dicom: association from {} ({}) idle for {} s, aborted", peer.calling_aet,
                     peer.peer_address, dimse_timeout);
        ASC_abortAssociation(assoc);
        return;
      }
      continue;
    }
    idle_seconds = 0;
    if (cond == DUL_PEERREQUESTEDRELEASE) {
      ASC_acknowledgeRelease(assoc);
      return;
    }
    if (cond == DUL_PEERABORTEDASSOCIATION) {
      spdlog::info("dicom: association from {} ({}) aborted by the peer", peer.calling_aet,
                   peer.peer_address);
      return;
    }
    if (cond.bad()) {
      spdlog::warn("dicom: association from {} ({}) broke: {}", peer.calling_aet, peer.peer_address,
                   ConditionText(cond));
      ASC_abortAssociation(assoc);
      return;
    }
    switch (msg.CommandField) {
      case DIMSE_C_ECHO_RQ:
        cond = HandleEcho(assoc, pres_id, msg.msg.CEchoRQ);
        break;
      case DIMSE_C_STORE_RQ:
        cond = HandleStore(options, assoc, pres_id, msg.msg.CStoreRQ, peer);
        break;
      case DIMSE_C_FIND_RQ:
        cond = HandleFind(options, assoc, pres_id, msg.msg.CFindRQ, peer);
        break;
      default:
        cond = DIMSE_BADCOMMANDTYPE;
        break;
    }
    if (cond.bad()) {
      spdlog::warn("dicom: association from {} ({}) aborted: {}", peer.calling_aet,
                   peer.peer_address, ConditionText(cond));
      ASC_abortAssociation(assoc);
      return;
    }
  }
}

}  // namespace imgpipe::dimse::internal
