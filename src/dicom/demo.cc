#include "dicom/dicom.h"

namespace imgpipe::dicom {

// Placeholder until the demo dataset lands from its own worktree.
std::vector<DemoFile> MakeDemoDataset() { return {}; }

}  // namespace imgpipe::dicom
