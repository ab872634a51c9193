#include "pacs/multipart.h"

#include <algorithm>
#include <cctype>

#include "core/ids.h"
#include "core/strings.h"

namespace imgpipe::pacs {
namespace {}  // namespace

std::string MediaType(std::string_view content_type) {
  return core::AsciiLower(core::TrimSpace(content_type.substr(0, content_type.find(';'))));
}

std::string ContentTypeParam(std::string_view content_type, std::string_view name) {
  size_t pos = content_type.find(';');
  while (pos != std::string_view::npos) {
    std::string_view rest = content_type.substr(pos + 1);
    size_t eq = rest.find('=');
    if (eq == std::string_view::npos) return "";
    std::string_view key = core::TrimSpace(rest.substr(0, eq));
    std::string_view value = rest.substr(eq + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    std::string parsed;
    size_t consumed;
    if (!value.empty() && value.front() == '"') {
      size_t close = value.find('"', 1);
      if (close == std::string_view::npos) return "";
      parsed = std::string(value.substr(1, close - 1));
      consumed = close + 1;
    } else {
      size_t end = value.find(';');
      parsed = std::string(core::TrimSpace(value.substr(0, end)));
      consumed = end == std::string_view::npos ? value.size() : end;
    }
    if (core::AsciiLower(key) == core::AsciiLower(name)) return parsed;
    size_t next = value.substr(consumed).find(';');
    if (next == std::string_view::npos) return "";
    pos = static_cast<size_t>((value.data() + consumed + next) - content_type.data());
  }
  return "";
}

core::Result<std::vector<Part>> ParseMultipart(std::string_view body, std::string_view boundary) {
  if (boundary.empty() || boundary.size() > 200) {
    return core::Status::InvalidArgument("multipart body needs a boundary of 1 to 200 characters");
  }
  const std::string delim = "--" + std::string(boundary);
  const std::string lf_delim = "\n" + delim;
  std::vector<Part> parts;
  size_t pos = body.find(delim);
  if (pos == std::string_view::npos) {
    return core::Status::InvalidArgument("multipart body has no opening boundary");
  }
  pos += delim.size();
  for (;;) {
    if (body.substr(pos, 2) == "--") return parts;  // closing delimiter
    // Skip transport padding and the CRLF after the delimiter.
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) == "\r\n") {
      pos += 2;
    } else if (body.substr(pos, 1) == "\n") {
      pos += 1;
    } else {
      return core::Status::InvalidArgument("multipart delimiter not followed by a line break");
    }
    Part part;
    // Headers up to an empty line.
    for (;;) {
      size_t eol = body.find('\n', pos);
      if (eol == std::string_view::npos) {
        return core::Status::InvalidArgument("multipart part headers are not terminated");
      }
      std::string_view line = core::TrimSpace(body.substr(pos, eol - pos));
      pos = eol + 1;
      if (line.empty()) break;
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        return core::Status::InvalidArgument("malformed multipart part header");
      }
      if (core::AsciiLower(core::TrimSpace(line.substr(0, colon))) == "content-type") {
        part.content_type = std::string(core::TrimSpace(line.substr(colon + 1)));
      }
    }
    // The part ends at the first line that starts with the delimiter; the line break before it
    // (CRLF, or a bare LF) belongs to the delimiter. One forward search per part keeps the parse
    // linear in the body whatever its line breaks.
    size_t next = body.find(lf_delim, pos);
    if (next == std::string_view::npos) {
      return core::Status::InvalidArgument("multipart body has no closing boundary");
    }
    size_t body_end = next > pos && body[next - 1] == '\r' ? next - 1 : next;
    part.body = body.substr(pos, body_end - pos);
    parts.push_back(part);
    pos = next + lf_delim.size();
  }
}

std::string NewBoundary() { return "imgpipe-" + core::RandomUrlSafeToken(18); }

void AppendPart(std::string& out, std::string_view boundary, std::string_view content_type,
                std::string_view body, std::string_view extra_headers) {
  out += "--";
  out += boundary;
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\n";
  out += extra_headers;
  out += "\r\n";
  out += body;
  out += "\r\n";
}

void CloseMultipart(std::string& out, std::string_view boundary) {
  out += "--";
  out += boundary;
  out += "--\r\n";
}

}  // namespace imgpipe::pacs
