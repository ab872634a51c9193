// Helpers shared by the listener and the sender (not part of the module's interface).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

class DcmFileFormat;
class OFCondition;

namespace imgpipe::dimse::internal {

// A Part 10 file loaded into DCMTK, with the identity the network layer needs.
struct LoadedFile {
  std::unique_ptr<DcmFileFormat> file;
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string transfer_syntax_uid;  // as stored
  bool encapsulated = false;        // compressed pixel data: sent only in its own syntax
};

// Parses `bytes` (a whole Part 10 file). InvalidArgument when it is not readable DICOM or lacks
// its SOP class or instance UID.
core::Result<LoadedFile> LoadPart10(std::string_view bytes);

// A DCMTK timeout in whole seconds, at least 1.
int TimeoutSeconds(std::chrono::milliseconds timeout);

// The condition's text, for logs and error messages.
std::string ConditionText(const OFCondition& cond);

// `text` without leading and trailing spaces (AE titles, UIDs from fixed-size fields).
std::string Trim(std::string_view text);

// Sets the process-wide DCMTK settings the module relies on (no reverse DNS lookups, data
// dictionary loaded, SIGPIPE ignored so a peer closing mid-write never kills the process). Once.
void InitializeDcmtk();

}  // namespace imgpipe::dimse::internal
