// Association negotiation for the listener: titles, limits, presentation contexts.
#include <algorithm>
#include <cstring>

#include "dcmtk/config/osconfig.h"  // first, as DCMTK requires
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dimse/internal.h"
#include "dimse/scp_internal.h"
#include "spdlog/spdlog.h"

namespace imgpipe::dimse::internal {
namespace {

bool IsStorageSopClass(const char* uid) {
  for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i) {
    if (std::strcmp(dcmAllStorageSOPClassUIDs[i], uid) == 0) return true;
  }
  return false;
}

void Reject(T_ASC_Association* assoc, T_ASC_RejectParametersResult result,
            T_ASC_RejectParametersSource source, T_ASC_RejectParametersReason reason) {
  T_ASC_RejectParameters rej = {result, source, reason};
  ASC_rejectAssociation(assoc, &rej);
}

}  // namespace

bool Negotiate(const ListenerOptions& options, T_ASC_Association* assoc, const PeerContext& peer,
               size_t active) {
  T_ASC_Parameters* params = assoc->params;
  char context[128] = {0};
  ASC_getApplicationContextName(params, context, sizeof(context));
  if (std::strcmp(context, UID_StandardApplicationContext) != 0) {
    spdlog::warn("dicom: association from {} rejected: application context {}", peer.peer_address,
                 context);
    Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
           ASC_REASON_SU_APPCONTEXTNAMENOTSUPPORTED);
    return false;
  }
  std::string called = Trim(params->DULparams.calledAPTitle);
  if (called != Trim(options.ae_title)) {
    spdlog::warn("dicom: association from {} ({}) rejected: called AE \"{}\" is not ours",
                 peer.calling_aet, peer.peer_address, called);
    Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
           ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED);
    return false;
  }
  const auto& allowed = options.allowed_calling_aets;
  if (!allowed.empty() && std::none_of(allowed.begin(), allowed.end(), [&](const std::string& a) {
        return Trim(a) == peer.calling_aet;
      })) {
    spdlog::warn("dicom: association from {} rejected: calling AE \"{}\" not allowed",
                 peer.peer_address, peer.calling_aet);
    Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
           ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED);
    return false;
  }
  if (active >= static_cast<size_t>(options.max_associations)) {
    spdlog::warn("dicom: association from {} ({}) rejected: {} associations already open",
                 peer.calling_aet, peer.peer_address, active);
    Reject(assoc, ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
           ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED);
    return false;
  }
  // Each presentation context: the first transfer syntax the peer proposes that DCMTK knows
  // (FIND: an uncompressed one), so received data is never transcoded.
  int count = ASC_countPresentationContexts(params);
  for (int i = 0; i < count; ++i) {
    T_ASC_PresentationContext pc;
    if (ASC_getPresentationContext(params, i, &pc).bad()) continue;
    const char* as = pc.abstractSyntax;
    bool is_find = std::strcmp(as, UID_FINDStudyRootQueryRetrieveInformationModel) == 0;
    bool supported = std::strcmp(as, UID_VerificationSOPClass) == 0 || IsStorageSopClass(as) ||
                     (is_find && options.on_find);
    if (!supported) {
      ASC_refusePresentationContext(params, pc.presentationContextID,
                                    ASC_P_ABSTRACTSYNTAXNOTSUPPORTED);
      continue;
    }
    const char* chosen = nullptr;
    for (int t = 0; t < pc.transferSyntaxCount && chosen == nullptr; ++t) {
      DcmXfer xfer(pc.proposedTransferSyntaxes[t]);
      if (xfer.getXfer() == EXS_Unknown) continue;
      if (is_find && xfer.isEncapsulated()) continue;
      chosen = pc.proposedTransferSyntaxes[t];
    }
    if (chosen == nullptr) {
      ASC_refusePresentationContext(params, pc.presentationContextID,
                                    ASC_P_TRANSFERSYNTAXESNOTSUPPORTED);
      continue;
    }
    ASC_acceptPresentationContext(params, pc.presentationContextID, chosen);
  }
  ASC_setAPTitles(params, nullptr, nullptr, options.ae_title.c_str());
  return true;
}

}  // namespace imgpipe::dimse::internal
