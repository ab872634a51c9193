// SendTo: one attempt at one destination; C-STORE through src/dimse.
#include <cstdio>

#include "dimse/dimse.h"
#include "exporter/exporter.h"
#include "exporter/internal.h"

namespace imgpipe::exporter {
namespace internal {

bool IsStored(uint16_t status) {
  return status == 0x0000 || status == 0x0001 || status == 0xB000 || status == 0xB006 ||
         status == 0xB007;
}

SendReport SendCStore(const Destination& d, const std::vector<std::string>& files) {
  SendReport report;
  dimse::RemoteNode node;
  node.host = d.host;
  node.port = d.port;
  node.called_aet = d.called_aet;
  node.calling_aet = d.calling_aet;
  node.timeout = d.timeout;
  auto outcomes = dimse::Store(node, files);
  const std::string where = d.called_aet + "@" + d.host + ":" + std::to_string(d.port);
  if (!outcomes.ok()) {
    report.error = "C-STORE to " + where + " failed: " + outcomes.status().message();
    return report;
  }
  std::string refused;
  int refused_count = 0;
  for (const dimse::StoreOutcome& o : *outcomes) {
    if (IsStored(o.status)) {  // a warning's comment does not undo the store
      ++report.stored;
      continue;
    }
    ++refused_count;
    if (refused.size() < 400) {
      char status[16];
      std::snprintf(status, sizeof(status), "0x%04X", o.status);
      refused += (refused.empty() ? "" : ", ") + o.sop_instance_uid + " (" +
                 (o.error.empty() ? std::string(status) : o.error) + ")";
    }
  }
  if (refused_count > 0) {
    report.error = "C-STORE to " + where + ": " + std::to_string(refused_count) + " of " +
                   std::to_string(files.size()) + " instances refused: " + refused;
  } else if (outcomes->size() < files.size()) {
    report.error = "C-STORE to " + where + ": only " + std::to_string(outcomes->size()) + " of " +
                   std::to_string(files.size()) + " instances were answered";
  }
  return report;
}

}  // namespace internal

SendReport SendTo(const Destination& destination, const std::vector<std::string>& files) {
  if (destination.type == DestinationType::kDicomWeb) return internal::SendStow(destination, files);
  return internal::SendCStore(destination, files);
}

}  // namespace imgpipe::exporter
