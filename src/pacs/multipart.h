// multipart/related (RFC 2387) bodies, as STOW-RS and WADO-RS use them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace imgpipe::pacs {

struct Part {
  std::string content_type;  // "" when the part has no Content-Type header
  std::string_view body;     // points into the parsed body
};

// The value of parameter `name` in a Content-Type header value ("multipart/related;
// type=\"application/dicom\"; boundary=xyz"), unquoted; "" when absent.
std::string ContentTypeParam(std::string_view content_type, std::string_view name);
// The media type alone, lowercased ("multipart/related").
std::string MediaType(std::string_view content_type);

// Splits `body` on `boundary`. Malformed bodies (no opening or closing delimiter, a part without
// a header block) are InvalidArgument. The parts point into `body`, which must outlive them.
core::Result<std::vector<Part>> ParseMultipart(std::string_view body, std::string_view boundary);

// A fresh boundary string (random, cannot occur by chance in the parts).
std::string NewBoundary();

// Appends one part to `out` (delimiter, Content-Type, body); finish with CloseMultipart.
void AppendPart(std::string& out, std::string_view boundary, std::string_view content_type,
                std::string_view body, std::string_view extra_headers = {});
void CloseMultipart(std::string& out, std::string_view boundary);

}  // namespace imgpipe::pacs
