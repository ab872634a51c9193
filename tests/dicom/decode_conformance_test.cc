// Decode conformance against independent encoders: every row of corpus_rows.txt is a DICOM file
// made by a DCMTK or GDCM command-line tool (make_corpus.sh, run by the CTest fixture), with a
// reference decode made by a tool. Our DecodeFrame must agree with the reference (exactly for
// lossless rows, within a rounding step for lossy ones) and with the original pixels (exactly, or
// within the row's error budget); ParseInstance and Render must accept the file.
//
// The corpus lives in $IMGPIPE_DICOM_CORPUS; the row list is read from the source tree at start
// so each row is its own test case, Decode/Row.Matches/<RowName>.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "dicom/dicom.h"

namespace imgpipe::dicom {
namespace {

struct Row {
  std::string name, source;
  int ref_tol = 0;
  std::string orig;  // "exact", "mae:P", "max:N" or "raw:N"
};

// gtest prints parameters in test listings; the name is what matters.
void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

std::vector<Row> LoadRows() {
  std::vector<Row> rows;
  std::ifstream in(IMGPIPE_CORPUS_ROWS);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string part; std::getline(ss, part, '|');) f.push_back(part);
    if (f.size() != 6) continue;  // a malformed row shows up as a missing test, see RowCount
    rows.push_back({f[0], f[1], std::stoi(f[4]), f[5]});
  }
  return rows;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string CorpusDir() {
  const char* dir = std::getenv("IMGPIPE_DICOM_CORPUS");
  return dir ? dir : "";
}

// The frame's samples as integers: little-endian words of bytes_per_sample, reduced to
// bits_stored (sign-extended when signed) so bits above the high bit never matter.
std::vector<int64_t> Values(const Frame& f) {
  std::vector<int64_t> v;
  const size_t n = f.pixels.size() / f.bytes_per_sample;
  v.reserve(n);
  const int bits = f.bits_stored > 0 && f.bits_stored < 64 ? f.bits_stored : 8 * f.bytes_per_sample;
  const uint64_t mask = bits >= 64 ? ~0ull : (1ull << bits) - 1;
  for (size_t i = 0; i < n; ++i) {
    uint64_t u = 0;
    for (int b = 0; b < f.bytes_per_sample; ++b) {
      u |= static_cast<uint64_t>(f.pixels[i * f.bytes_per_sample + b]) << (8 * b);
    }
    u &= mask;
    int64_t s = static_cast<int64_t>(u);
    if (f.is_signed && bits < 64 && (u >> (bits - 1)) & 1) s -= static_cast<int64_t>(1ull << bits);
    v.push_back(s);
  }
  return v;
}

void ExpectSameShape(const Frame& a, const Frame& b, const std::string& what) {
  EXPECT_EQ(a.rows, b.rows) << what;
  EXPECT_EQ(a.columns, b.columns) << what;
  EXPECT_EQ(a.samples, b.samples) << what;
}

struct Diff {
  int64_t max = 0;
  double mean = 0;
};
Diff Compare(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  Diff d;
  if (a.size() != b.size() || a.empty()) return {INT64_MAX, INFINITY};
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const int64_t e = std::llabs(a[i] - b[i]);
    d.max = std::max(d.max, e);
    sum += static_cast<double>(e);
  }
  d.mean = sum / static_cast<double>(a.size());
  return d;
}

class RowTest : public testing::TestWithParam<Row> {};

TEST_P(RowTest, Matches) {
  const Row& row = GetParam();
  const std::string dir = CorpusDir();
  ASSERT_FALSE(dir.empty()) << "IMGPIPE_DICOM_CORPUS is not set (run through CTest)";
  const std::string file = ReadFile(dir + "/" + row.name + ".dcm");
  const std::string ref = ReadFile(dir + "/" + row.name + ".ref.dcm");
  const std::string orig = ReadFile(dir + "/src/" + row.source + ".dcm");
  ASSERT_FALSE(file.empty()) << "the tools did not produce this row; see " << dir << "/tools.log";
  ASSERT_FALSE(ref.empty()) << "no reference decode; see " << dir << "/tools.log";
  ASSERT_FALSE(orig.empty());

  core::Result<InstanceInfo> info = ParseInstance(file);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_TRUE(ParseInstance(ref).ok());
  ASSERT_GE(info->number_of_frames, 1);

  for (int n = 1; n <= info->number_of_frames; ++n) {
    SCOPED_TRACE("frame " + std::to_string(n));
    core::Result<Frame> got = DecodeFrame(file, n);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    core::Result<Frame> want = DecodeFrame(ref, n);
    ASSERT_TRUE(want.ok()) << "reference: " << want.status().ToString();
    ExpectSameShape(*got, *want, "vs reference");
    const std::vector<int64_t> got_v = Values(*got);
    const Diff vs_ref = Compare(got_v, Values(*want));
    EXPECT_LE(vs_ref.max, row.ref_tol) << "vs the reference decode (mean " << vs_ref.mean << ")";

    const std::string kind = row.orig.substr(0, row.orig.find(':'));
    const double budget = kind == "exact" ? 0 : std::stod(row.orig.substr(row.orig.find(':') + 1));
    if (kind == "raw") {
      if (n > 1) continue;  // expected.raw holds frame 1
      const std::string raw = ReadFile(dir + "/src/" + row.source + ".expected.raw");
      ASSERT_FALSE(raw.empty());
      std::vector<int64_t> expected(raw.begin(), raw.end());
      for (int64_t& e : expected) e &= 0xFF;
      std::vector<int64_t> scaled = got_v;
      if (got->bytes_per_sample == 2) {  // 16-bit palette entries hold v * 257
        for (int64_t& s : scaled) s >>= 8;
      }
      const Diff d = Compare(scaled, expected);
      EXPECT_LE(d.max, budget) << "vs the expected decode written by make_sources.py";
      continue;
    }
    core::Result<Frame> original = DecodeFrame(orig, n);
    ASSERT_TRUE(original.ok()) << "original: " << original.status().ToString();
    ExpectSameShape(*got, *original, "vs original");
    const Diff d = Compare(got_v, Values(*original));
    if (kind == "exact" || kind == "max") {
      EXPECT_LE(d.max, budget) << "vs the original pixels (mean " << d.mean << ")";
    } else {
      ASSERT_EQ(kind, "mae");
      const double range = std::ldexp(1.0, original->bits_stored) - 1;
      EXPECT_LE(100 * d.mean / range, budget) << "mean abs error vs the original, % of range";
      EXPECT_GT(d.max, 0) << "a lossy row identical to the original: is it really lossy?";
    }
  }
  RenderOptions options;
  options.size = 64;
  core::Result<EncodedImage> rendered = Render(file, options);
  ASSERT_TRUE(rendered.ok()) << rendered.status().ToString();
  EXPECT_GT(rendered->width, 0);
  EXPECT_FALSE(rendered->bytes.empty());
}

INSTANTIATE_TEST_SUITE_P(Decode, RowTest, testing::ValuesIn(LoadRows()),
                         [](const testing::TestParamInfo<Row>& info) { return info.param.name; });

// Guards against a row file that silently lost rows (a test that cannot fail is no test).
TEST(DecodeCorpus, RowCount) { EXPECT_GE(LoadRows().size(), 88u); }

}  // namespace
}  // namespace imgpipe::dicom
