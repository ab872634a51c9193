// The exporter's senders, one per destination type. Internal to src/exporter.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "exporter/exporter.h"

namespace imgpipe::exporter::internal {

// STOW-RS to d.url (stow.cc).
SendReport SendStow(const Destination& d, const std::vector<std::string>& files);
// C-STORE to d.host:d.port through src/dimse (send.cc).
SendReport SendCStore(const Destination& d, const std::vector<std::string>& files);

// A DIMSE C-STORE status that means stored: success (0x0000) or a warning (0x0001, 0xB000,
// 0xB006, 0xB007: stored with coercion or elements discarded).
bool IsStored(uint16_t status);

}  // namespace imgpipe::exporter::internal
