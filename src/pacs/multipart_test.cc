#include "pacs/multipart.h"

#include <gtest/gtest.h>

namespace imgpipe::pacs {
namespace {

TEST(MultipartTest, RoundTrip) {
  std::string b = NewBoundary();
  std::string body;
  AppendPart(body, b, "application/dicom", std::string("abc\r\n--x\0yz", 11));
  AppendPart(body, b, "application/dicom", "");
  CloseMultipart(body, b);
  auto parts = ParseMultipart(body, b);
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].body, std::string_view(std::string("abc\r\n--x\0yz", 11)));
  EXPECT_EQ((*parts)[0].content_type, "application/dicom");
  EXPECT_EQ((*parts)[1].body, "");
}

TEST(MultipartTest, ContentTypeParams) {
  std::string ct = "Multipart/Related; type=\"application/dicom\"; boundary=abc123";
  EXPECT_EQ(MediaType(ct), "multipart/related");
  EXPECT_EQ(ContentTypeParam(ct, "type"), "application/dicom");
  EXPECT_EQ(ContentTypeParam(ct, "boundary"), "abc123");
  EXPECT_EQ(ContentTypeParam(ct, "missing"), "");
  EXPECT_EQ(ContentTypeParam("multipart/related; boundary=\"q;x\"", "boundary"), "q;x");
}

TEST(MultipartTest, RejectsMalformedBodies) {
  EXPECT_FALSE(ParseMultipart("no delimiter here", "b").ok());
  EXPECT_FALSE(ParseMultipart("--b\r\nContent-Type: x\r\n\r\nbody without end", "b").ok());
  EXPECT_FALSE(ParseMultipart("--b\r\nbroken header line\r\n\r\nx\r\n--b--", "b").ok());
  EXPECT_FALSE(ParseMultipart("--b--", "").ok());
  auto empty = ParseMultipart("--b--\r\n", "b");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

// Each part ends at the FIRST delimiter line, whichever line break precedes it: a bare-LF
// delimiter is not skipped in favour of a later CRLF one.
TEST(MultipartTest, MixedLineBreaksEndEachPartAtItsOwnDelimiter) {
  auto parts = ParseMultipart("--b\n\nfirst\n--b\r\n\r\nsecond\r\n--b\n\nthird\n--b--", "b");
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->size(), 3u);
  EXPECT_EQ((*parts)[0].body, "first");
  EXPECT_EQ((*parts)[1].body, "second");
  EXPECT_EQ((*parts)[2].body, "third");
}

// Many bare-LF parts: the parse is linear in the body (one forward search per part), so a 4 MB
// body of 500,000 parts parses at once; a parse that scanned the rest of the body for a CRLF
// delimiter before each bare-LF one would take minutes here.
TEST(MultipartTest, ManyBareLfPartsParse) {
  std::string body;
  const int n = 500'000;
  for (int i = 0; i < n; ++i) body += "--b\n\nx\n";
  body += "--b--";
  auto parts = ParseMultipart(body, "b");
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->size(), static_cast<size_t>(n));
  EXPECT_EQ(parts->back().body, "x");
}

}  // namespace
}  // namespace imgpipe::pacs
