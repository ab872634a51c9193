// The SCU side: C-ECHO and C-STORE over one association each.
#include <map>
#include <utility>

#include "dcmtk/config/osconfig.h"  // first, as DCMTK requires
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dimse.h"
#include "dcmtk/dcmnet/dul.h"
#include "dimse/dimse.h"
#include "dimse/internal.h"
#include "spdlog/spdlog.h"

namespace imgpipe::dimse {
namespace {

using internal::ConditionText;
using internal::TimeoutSeconds;

constexpr uint16_t kStatusNotSentUnreadable = 0xC000;
constexpr uint16_t kStatusNoPresentationContext = 0x0122;
constexpr size_t kMaxPresentationContexts = 128;  // odd ids 1..255

// One proposed presentation context: an abstract syntax and its transfer syntaxes in order.
struct Proposal {
  std::string abstract_syntax;
  std::vector<std::string> transfer_syntaxes;
};

// An association as the requestor; aborts on destruction unless released.
class ScuAssociation {
 public:
  ~ScuAssociation() {
    if (assoc_ != nullptr) {
      ASC_abortAssociation(assoc_);
      ASC_destroyAssociation(&assoc_);
    }
    if (net_ != nullptr) ASC_dropNetwork(&net_);
  }

  static core::Result<std::unique_ptr<ScuAssociation>> Open(
      const RemoteNode& node, const std::vector<Proposal>& proposals) {
    IMGPIPE_RETURN_IF_ERROR(ValidateAeTitle(node.called_aet, "called AE title"));
    IMGPIPE_RETURN_IF_ERROR(ValidateAeTitle(node.calling_aet, "calling AE title"));
    if (node.host.empty() || node.port < 1 || node.port > 65535) {
      return core::Status::InvalidArgument("DICOM node needs a host and a port in 1..65535");
    }
    internal::InitializeDcmtk();
    auto self = std::unique_ptr<ScuAssociation>(new ScuAssociation());
    int timeout = TimeoutSeconds(node.timeout);
    self->timeout_ = timeout;
    dcmConnectionTimeout.set(timeout);
    OFCondition cond = ASC_initializeNetwork(NET_REQUESTOR, 0, timeout, &self->net_);
    if (cond.bad()) return core::Status::Internal("DICOM network: " + ConditionText(cond));
    T_ASC_Parameters* params = nullptr;
    cond = ASC_createAssociationParameters(&params, ASC_DEFAULTMAXPDU);
    if (cond.bad()) return core::Status::Internal("DICOM association: " + ConditionText(cond));
    ASC_setAPTitles(params, node.calling_aet.c_str(), node.called_aet.c_str(), nullptr);
    std::string peer = node.host + ":" + std::to_string(node.port);
    ASC_setPresentationAddresses(params, "localhost", peer.c_str());
    T_ASC_PresentationContextID id = 1;
    for (const Proposal& p : proposals) {
      std::vector<const char*> syntaxes;
      for (const std::string& ts : p.transfer_syntaxes) syntaxes.push_back(ts.c_str());
      cond = ASC_addPresentationContext(params, id, p.abstract_syntax.c_str(), syntaxes.data(),
                                        static_cast<int>(syntaxes.size()));
      if (cond.bad()) {
        ASC_destroyAssociationParameters(&params);
        return core::Status::Internal("DICOM presentation context: " + ConditionText(cond));
      }
      id += 2;
    }
    // On failure the parameters belong to the (destroyed) association DCMTK made, if any.
    cond = ASC_requestAssociation(self->net_, params, &self->assoc_);
    std::string where = node.called_aet + "@" + peer;
    if (cond.bad()) {
      std::string why = ConditionText(cond);
      if (cond == DUL_ASSOCIATIONREJECTED && self->assoc_ != nullptr) {
        T_ASC_RejectParameters rej;
        ASC_getRejectParameters(self->assoc_->params, &rej);
        OFString text;
        why = std::string("association rejected: ") + ASC_printRejectParameters(text, &rej).c_str();
      }
      if (self->assoc_ != nullptr) {
        ASC_dropAssociation(self->assoc_);
        ASC_destroyAssociation(&self->assoc_);
      } else {
        ASC_destroyAssociationParameters(&params);
      }
      return core::Status::Unavailable("DICOM node " + where + ": " + why);
    }
    if (ASC_countAcceptedPresentationContexts(self->assoc_->params) == 0) {
      return core::Status::Unavailable("DICOM node " + where + " accepted no presentation context");
    }
    return self;
  }

  T_ASC_Association* get() { return assoc_; }
  int timeout() const { return timeout_; }

  void Release() {
    if (assoc_ == nullptr) return;
    OFCondition cond = ASC_releaseAssociation(assoc_);
    if (cond.bad()) ASC_abortAssociation(assoc_);
    ASC_destroyAssociation(&assoc_);
  }

 private:
  ScuAssociation() = default;
  T_ASC_Network* net_ = nullptr;
  T_ASC_Association* assoc_ = nullptr;
  int timeout_ = 30;
};

const std::vector<std::string>& UncompressedSyntaxes() {
  static const std::vector<std::string> kSyntaxes = {UID_LittleEndianExplicitTransferSyntax,
                                                     UID_LittleEndianImplicitTransferSyntax};
  return kSyntaxes;
}

std::string ErrorComment(DcmDataset* detail) {
  if (detail == nullptr) return "";
  OFString comment;
  if (detail->findAndGetOFString(DCM_ErrorComment, comment).good()) return comment.c_str();
  return "";
}

std::string StatusText(uint16_t status, const std::string& comment) {
  char hex[8];
  std::snprintf(hex, sizeof(hex), "%04X", status);
  std::string text = std::string("C-STORE status 0x") + hex;
  if (!comment.empty()) text += ": " + comment;
  return text;
}

}  // namespace

core::Status Echo(const RemoteNode& node) {
  std::vector<Proposal> proposals = {{UID_VerificationSOPClass, UncompressedSyntaxes()}};
  IMGPIPE_ASSIGN_OR_RETURN(auto assoc, ScuAssociation::Open(node, proposals));
  DIC_US status = 0;
  DcmDataset* detail = nullptr;
  OFCondition cond = DIMSE_echoUser(assoc->get(), assoc->get()->nextMsgID++, DIMSE_NONBLOCKING,
                                    assoc->timeout(), &status, &detail);
  delete detail;
  if (cond.bad()) return core::Status::Unavailable("C-ECHO failed: " + ConditionText(cond));
  assoc->Release();
  if (status != STATUS_Success) {
    return core::Status::Unavailable(StatusText(status, "C-ECHO not successful"));
  }
  return core::Status::Ok();
}

core::Result<std::vector<StoreOutcome>> Store(const RemoteNode& node,
                                              const std::vector<std::string>& part10_files) {
  std::vector<StoreOutcome> outcomes(part10_files.size());
  std::vector<internal::LoadedFile> files(part10_files.size());
  // Proposals keyed by (SOP class, transfer syntax), in first-seen order.
  std::map<std::pair<std::string, std::string>, size_t> proposal_index;
  std::vector<Proposal> proposals;
  for (size_t i = 0; i < part10_files.size(); ++i) {
    auto loaded = internal::LoadPart10(part10_files[i]);
    if (!loaded.ok()) {
      outcomes[i].status = kStatusNotSentUnreadable;
      outcomes[i].error = loaded.status().message();
      continue;
    }
    files[i] = std::move(loaded).value();
    outcomes[i].sop_instance_uid = files[i].sop_instance_uid;
    auto key = std::make_pair(files[i].sop_class_uid, files[i].transfer_syntax_uid);
    if (proposal_index.count(key) || proposals.size() >= kMaxPresentationContexts) continue;
    Proposal p{files[i].sop_class_uid, {files[i].transfer_syntax_uid}};
    if (!files[i].encapsulated) {
      for (const std::string& ts : UncompressedSyntaxes()) {
        if (ts != files[i].transfer_syntax_uid) p.transfer_syntaxes.push_back(ts);
      }
    }
    proposal_index[key] = proposals.size();
    proposals.push_back(std::move(p));
  }
  if (proposals.empty()) return outcomes;  // nothing sendable: no association needed

  IMGPIPE_ASSIGN_OR_RETURN(auto assoc, ScuAssociation::Open(node, proposals));
  for (size_t i = 0; i < files.size(); ++i) {
    internal::LoadedFile& f = files[i];
    if (f.file == nullptr) continue;  // unreadable: outcome already set
    T_ASC_PresentationContextID pres_id = ASC_findAcceptedPresentationContextID(
        assoc->get(), f.sop_class_uid.c_str(), f.transfer_syntax_uid.c_str());
    T_ASC_PresentationContext pc;
    bool usable = pres_id != 0 &&
                  ASC_findAcceptedPresentationContext(assoc->get()->params, pres_id, &pc).good();
    if (usable && f.encapsulated) usable = f.transfer_syntax_uid == pc.acceptedTransferSyntax;
    if (usable && !f.encapsulated) usable = !DcmXfer(pc.acceptedTransferSyntax).isEncapsulated();
    if (!usable) {
      outcomes[i].status = kStatusNoPresentationContext;
      outcomes[i].error = "the peer accepted no presentation context for SOP class " +
                          f.sop_class_uid + " in transfer syntax " + f.transfer_syntax_uid;
      continue;
    }
    T_DIMSE_C_StoreRQ req;
    std::memset(&req, 0, sizeof(req));
    req.MessageID = assoc->get()->nextMsgID++;
    OFStandard::strlcpy(req.AffectedSOPClassUID, f.sop_class_uid.c_str(),
                        sizeof(req.AffectedSOPClassUID));
    OFStandard::strlcpy(req.AffectedSOPInstanceUID, f.sop_instance_uid.c_str(),
                        sizeof(req.AffectedSOPInstanceUID));
    req.DataSetType = DIMSE_DATASET_PRESENT;
    req.Priority = DIMSE_PRIORITY_MEDIUM;
    T_DIMSE_C_StoreRSP rsp;
    std::memset(&rsp, 0, sizeof(rsp));
    DcmDataset* detail = nullptr;
    OFCondition cond =
        DIMSE_storeUser(assoc->get(), pres_id, &req, nullptr, f.file->getDataset(), nullptr,
                        nullptr, DIMSE_NONBLOCKING, assoc->timeout(), &rsp, &detail);
    std::string comment = ErrorComment(detail);
    delete detail;
    f.file.reset();  // frees the data set as soon as it is sent
    if (cond.bad()) {
      return core::Status::Unavailable("C-STORE of " + outcomes[i].sop_instance_uid +
                                       " failed: " + ConditionText(cond));
    }
    outcomes[i].status = rsp.DimseStatus;
    bool ok = rsp.DimseStatus == STATUS_Success || (rsp.DimseStatus & 0xF000) == 0xB000;
    if (!ok) outcomes[i].error = StatusText(rsp.DimseStatus, comment);
  }
  assoc->Release();
  return outcomes;
}

}  // namespace imgpipe::dimse
