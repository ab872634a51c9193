#include "blob/blob_store.h"

#include <algorithm>
#include <string>

#include "blob/internal.h"

namespace imgpipe::blob {

namespace {

constexpr size_t kMaxKeyBytes = 1024;

bool IsKeyChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

bool IsValidKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyBytes) return false;
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view segment = key.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") return false;
    for (char c : segment) {
      if (!IsKeyChar(c)) return false;
    }
    start = end + 1;
  }
  return true;
}

core::Result<std::string> BlobStore::GetRange(std::string_view key, uint64_t offset,
                                              uint64_t length) {
  IMGPIPE_ASSIGN_OR_RETURN(std::string data, Get(key));
  if (offset >= data.size()) return std::string();
  return data.substr(static_cast<size_t>(offset),
                     static_cast<size_t>(std::min<uint64_t>(length, data.size() - offset)));
}

core::Status SizedStream::Next(size_t want, std::string* chunk) {
  chunk->resize(want);
  size_t filled = 0;
  while (filled < want) {
    IMGPIPE_ASSIGN_OR_RETURN(size_t n, read_(chunk->data() + filled, want - filled));
    if (n == 0) break;
    if (n > want - filled) return core::Status::InvalidArgument("reader overfilled its buffer");
    filled += n;
  }
  chunk->resize(filled);
  total_ += filled;
  if (total_ > size_) {
    return core::Status::InvalidArgument("stream longer than its declared " +
                                         std::to_string(size_) + " bytes");
  }
  if (filled < want && total_ != size_) {
    return core::Status::InvalidArgument("stream ended after " + std::to_string(total_) +
                                         " of its declared " + std::to_string(size_) + " bytes");
  }
  return core::Status::Ok();
}

core::Result<std::string> ReadExactly(uint64_t size, const BlobStore::Reader& read) {
  SizedStream stream(read, size);
  std::string data, chunk;
  do {
    IMGPIPE_RETURN_IF_ERROR(stream.Next(64 * 1024, &chunk));
    data += chunk;
  } while (!chunk.empty());
  return data;
}

core::Status BlobStore::PutStream(std::string_view key, uint64_t size, const Reader& read) {
  IMGPIPE_ASSIGN_OR_RETURN(std::string data, ReadExactly(size, read));
  return Put(key, data);
}

}  // namespace imgpipe::blob
