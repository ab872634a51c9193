// Serialising DCMTK objects to Part 10 bytes in memory, shared by every writer in the module
// (demo data, derived images, de-identification).
#include <dcmtk/dcmdata/dcostrmb.h>

#include <vector>

#include "dicom/internal.h"

namespace imgpipe::dicom::internal {

core::Result<std::string> WritePart10(DcmFileFormat& ff, E_TransferSyntax xfer) {
  InitDcmtk();
  // A fresh meta header: media storage SOP class/instance and transfer syntax from the dataset,
  // nothing carried over from a source file (its source AE title, private information).
  OFCondition cond = ff.validateMetaInfo(xfer, EWM_createNewMeta);
  if (cond.bad()) return core::Status::Internal(std::string("DICOM meta header: ") + cond.text());
  std::string out;
  std::vector<char> buf(1 << 20);
  DcmOutputBufferStream stream(buf.data(), static_cast<offile_off_t>(buf.size()));
  auto drain = [&stream, &out] {
    void* data = nullptr;
    offile_off_t n = 0;
    stream.flushBuffer(data, n);
    out.append(static_cast<const char*>(data), static_cast<size_t>(n));
  };
  ff.transferInit();
  // The stream hands back control (EC_StreamNotifyClient) whenever its buffer is full.
  do {
    cond = ff.write(stream, xfer, EET_ExplicitLength, nullptr);
    drain();
  } while (cond == EC_StreamNotifyClient);
  ff.transferEnd();
  if (cond.bad()) return core::Status::Internal(std::string("writing DICOM: ") + cond.text());
  // A deflate filter may still hold output.
  stream.flush();
  drain();
  while (!stream.isFlushed()) {
    stream.flush();
    drain();
  }
  return out;
}

}  // namespace imgpipe::dicom::internal
