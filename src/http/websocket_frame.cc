// RFC 6455 framing for the server side: client frames in, server frames out.
#include "http/websocket_frame.h"

#include <openssl/evp.h>

#include <algorithm>

namespace imgpipe::http::internal {
namespace {

bool IsControl(Opcode opcode) { return static_cast<uint8_t>(opcode) >= 0x8; }

bool IsKnownOpcode(uint8_t opcode) { return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xa); }

// Codes a peer may send in a close frame (RFC 6455 section 7.4; 1004-1006 and 1015 are reserved
// for local use and never travel).
bool IsSendableCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

FrameEvent Error(uint16_t code, std::string_view why) {
  FrameEvent event;
  event.kind = FrameEvent::Kind::kError;
  event.close_code = code;
  event.payload = why;
  return event;
}

}  // namespace

size_t FrameParser::HeaderSize() const {
  if (header_bytes_ < 2) return 2;
  const uint8_t length7 = header_[1] & 0x7f;
  const size_t extended = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
  const size_t mask = (header_[1] & 0x80) != 0 ? 4 : 0;
  return 2 + extended + mask;
}

void FrameParser::Trim() {
  if (delivered_) {
    std::string().swap(message_);
    delivered_ = false;
  }
  if (!(in_payload_ && IsControl(opcode_))) std::string().swap(control_);
}

size_t FrameParser::RetainedBytes() const {
  const size_t inline_capacity = std::string().capacity();
  return (message_.capacity() - inline_capacity) + (control_.capacity() - inline_capacity);
}

size_t FrameParser::Parse(std::string_view data, FrameEvent& event) {
  event = FrameEvent{};
  Trim();
  size_t used = 0;
  while (used < data.size()) {
    if (!in_payload_) {
      while (header_bytes_ < HeaderSize() && used < data.size()) {
        header_[header_bytes_++] = static_cast<uint8_t>(data[used++]);
      }
      if (header_bytes_ < HeaderSize()) return used;
      if (!StartFrame(event)) return used;
      if (remaining_ == 0) {
        FinishFrame(event);
        if (event.kind != FrameEvent::Kind::kNone) return used;
        continue;
      }
    }
    const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size() - used));
    std::string& target = IsControl(opcode_) ? control_ : message_;
    const size_t at = target.size();
    target.append(data.data() + used, take);
    for (size_t i = 0; i < take; ++i) {
      target[at + i] =
          static_cast<char>(static_cast<uint8_t>(target[at + i]) ^ mask_[(mask_offset_ + i) & 3]);
    }
    mask_offset_ = static_cast<uint8_t>((mask_offset_ + take) & 3);
    used += take;
    remaining_ -= take;
    if (remaining_ == 0) {
      FinishFrame(event);
      if (event.kind != FrameEvent::Kind::kNone) return used;
    }
  }
  return used;
}

bool FrameParser::StartFrame(FrameEvent& event) {
  const uint8_t b0 = header_[0];
  const uint8_t b1 = header_[1];
  header_bytes_ = 0;
  if ((b0 & 0x70) != 0) {
    event = Error(kCloseProtocolError, "reserved bits set (no extension was negotiated)");
    return false;
  }
  if ((b1 & 0x80) == 0) {
    event = Error(kCloseProtocolError, "unmasked frame from a client");
    return false;
  }
  if (!IsKnownOpcode(b0 & 0x0f)) {
    event = Error(kCloseProtocolError, "unknown opcode");
    return false;
  }
  const auto opcode = static_cast<Opcode>(b0 & 0x0f);
  const bool fin = (b0 & 0x80) != 0;
  const uint8_t length7 = b1 & 0x7f;
  uint64_t length = length7;
  size_t at = 2;
  if (length7 == 126 || length7 == 127) {
    const size_t bytes = length7 == 126 ? 2 : 8;
    length = 0;
    for (size_t i = 0; i < bytes; ++i) length = (length << 8) | header_[at + i];
    at += bytes;
    if ((length7 == 126 && length < 126) || (length7 == 127 && length < 65536) ||
        (length >> 63) != 0) {
      event = Error(kCloseProtocolError, "payload length not in its shortest form");
      return false;
    }
  }
  if (IsControl(opcode)) {
    if (!fin) {
      event = Error(kCloseProtocolError, "fragmented control frame");
      return false;
    }
    if (length > 125) {
      event = Error(kCloseProtocolError, "control frame over 125 bytes");
      return false;
    }
    control_.clear();
  } else {
    if (opcode == Opcode::kContinuation && !in_message_) {
      event = Error(kCloseProtocolError, "continuation frame outside a message");
      return false;
    }
    if (opcode != Opcode::kContinuation && in_message_) {
      event = Error(kCloseProtocolError, "new message before the last one ended");
      return false;
    }
    if (length > max_message_ - std::min<uint64_t>(message_.size(), max_message_)) {
      event = Error(kCloseTooBig, "message too big");
      return false;
    }
    if (opcode != Opcode::kContinuation) {
      in_message_ = true;
      message_binary_ = opcode == Opcode::kBinary;
    }
    message_.reserve(message_.size() + static_cast<size_t>(length));
  }
  std::copy_n(header_.begin() + static_cast<ptrdiff_t>(at), 4, mask_.begin());
  mask_offset_ = 0;
  opcode_ = opcode;
  fin_ = fin;
  remaining_ = length;
  in_payload_ = true;
  return true;
}

void FrameParser::FinishFrame(FrameEvent& event) {
  in_payload_ = false;
  switch (opcode_) {
    case Opcode::kPing:
      event.kind = FrameEvent::Kind::kPing;
      event.payload = control_;
      return;
    case Opcode::kPong:
      event.kind = FrameEvent::Kind::kPong;
      event.payload = control_;
      return;
    case Opcode::kClose: {
      if (control_.empty()) {
        event.kind = FrameEvent::Kind::kClose;
        event.close_code = 1005;  // "no status received"
        return;
      }
      if (control_.size() == 1) {
        event = Error(kCloseProtocolError, "close frame with a one-byte payload");
        return;
      }
      const auto code = static_cast<uint16_t>((static_cast<uint8_t>(control_[0]) << 8) |
                                              static_cast<uint8_t>(control_[1]));
      std::string_view reason = std::string_view(control_).substr(2);
      if (!IsSendableCloseCode(code)) {
        event = Error(kCloseProtocolError, "invalid close code");
      } else if (!IsValidUtf8(reason)) {
        event = Error(kCloseInvalidPayload, "close reason is not UTF-8");
      } else {
        event.kind = FrameEvent::Kind::kClose;
        event.close_code = code;
        event.payload = reason;
      }
      return;
    }
    default:
      if (!fin_) return;  // more fragments to come
      in_message_ = false;
      if (!message_binary_ && !IsValidUtf8(message_)) {
        event = Error(kCloseInvalidPayload, "text message is not UTF-8");
        return;
      }
      event.kind = FrameEvent::Kind::kMessage;
      event.binary = message_binary_;
      event.payload = message_;
      delivered_ = true;
      return;
  }
}

size_t EncodeFrameHeader(Opcode opcode, uint64_t payload_size, std::array<char, 10>& out) {
  out[0] = static_cast<char>(0x80 | static_cast<uint8_t>(opcode));
  if (payload_size < 126) {
    out[1] = static_cast<char>(payload_size);
    return 2;
  }
  if (payload_size < 65536) {
    out[1] = static_cast<char>(126);
    out[2] = static_cast<char>(payload_size >> 8);
    out[3] = static_cast<char>(payload_size & 0xff);
    return 4;
  }
  out[1] = static_cast<char>(127);
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>((payload_size >> (56 - 8 * i)) & 0xff);
  return 10;
}

std::string EncodeFrame(Opcode opcode, std::string_view payload) {
  std::array<char, 10> header;
  const size_t n = EncodeFrameHeader(opcode, payload.size(), header);
  std::string frame;
  frame.reserve(n + payload.size());
  frame.append(header.data(), n);
  frame.append(payload);
  return frame;
}

std::string ClosePayload(uint16_t code, std::string_view reason) {
  std::string payload;
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xff);
  reason = reason.substr(0, 123);
  // Never cut a UTF-8 sequence in two: drop continuation bytes left at the end.
  while (!reason.empty() && !IsValidUtf8(reason)) reason.remove_suffix(1);
  payload.append(reason);
  return payload;
}

bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const uint8_t c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t extra;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      extra = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) <= extra) return false;
    for (size_t i = 1; i <= extra; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    static constexpr uint32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kSmallest[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    p += extra + 1;
  }
  return true;
}

std::string WebSocketAccept(std::string_view key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input(key);
  input.append(kGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  // Fetched once: an implicit fetch per call (EVP_sha1()) costs more than the hash itself.
  static EVP_MD* const sha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  EVP_Digest(input.data(), input.size(), digest, &digest_size, sha1, nullptr);
  std::string accept(4 * ((digest_size + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(accept.data()), digest,
                                static_cast<int>(digest_size));
  accept.resize(static_cast<size_t>(std::max(n, 0)));
  return accept;
}

bool IsValidWebSocketKey(std::string_view key) {
  // 16 bytes in base64: 22 characters and "==".
  if (key.size() != 24 || key.substr(22) != "==") return false;
  unsigned char decoded[18];
  return EVP_DecodeBlock(decoded, reinterpret_cast<const unsigned char*>(key.data()), 24) == 18;
}

}  // namespace imgpipe::http::internal
