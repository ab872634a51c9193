// Small ASCII string helpers for protocol text (HTTP headers, multipart parts, config files).
#pragma once

#include <string>
#include <string_view>

namespace imgpipe::core {

// `s` with ASCII letters lowercased (protocol tokens are ASCII; other bytes are kept).
inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// `s` without leading and trailing spaces, tabs and carriage returns.
inline std::string_view TrimSpace(std::string_view s) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace imgpipe::core
