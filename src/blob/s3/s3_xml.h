// Just enough XML for S3 responses (Error, ListBucketResult, InitiateMultipartUploadResult,
// CompleteMultipartUploadResult): S3 documents are flat, a tag never nests inside itself, and we
// only ever read the text of named elements. Not a general XML parser: no CDATA, comments or DTDs
// (S3 sends none).
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imgpipe::blob::s3 {

// The raw (still escaped) content of each <tag ...>...</tag> (or "" for <tag/>) at or after
// `xml`'s start, in document order. A tag name matches exactly ("Key" does not match "KeyCount").
std::vector<std::string_view> XmlElements(std::string_view xml, std::string_view tag);

// The unescaped text of the first <tag>, if any.
std::optional<std::string> XmlText(std::string_view xml, std::string_view tag);

// Resolves &lt; &gt; &amp; &quot; &apos; and &#N; / &#xH; (as UTF-8); unknown entities stay as
// they are.
std::string XmlUnescape(std::string_view text);

// Escapes & < > " ' for element text.
std::string XmlEscape(std::string_view text);

}  // namespace imgpipe::blob::s3
