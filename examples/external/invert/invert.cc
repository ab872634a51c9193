// invert: the example external algorithm (docs/algorithms.md, "External algorithms").
//
// Runs in the work folder imgpipe made for it (also $IMGPIPE_INPUT): reads input.json and
// input.f32 (real values, float32, row-major, samples interleaved), writes the inverted image
// v -> (min + max) - v + params.offset as output.raw (f32) and output.json, and one line to stdout.
// Exit status 0 on success; 2 for bad input; 3 when memory runs out.
//
// Test hook: `invert --allocate-mb N` first allocates N MiB (to show the memory limit at work).
//
// It uses Boost.JSON header-only (compiled in), so it has no runtime dependency at all.
#include <boost/json/src.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <new>
#include <string>
#include <vector>

namespace {

namespace json = boost::json;

volatile char* g_sink;  // keeps the test allocation from being optimised away

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "invert: %s\n", message.c_str());
  return code;
}

bool ReadAll(const char* path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

bool WriteAll(const char* path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  return static_cast<bool>(out.flush());
}

int Run(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--allocate-mb") == 0) {
      const size_t mb = std::strtoul(argv[i + 1], nullptr, 10);
      try {
        g_sink = new char[mb << 20];
        g_sink[0] = 1;
      } catch (const std::bad_alloc&) {
        return Fail(3, "cannot allocate " + std::to_string(mb) + " MB");
      }
    }
  }

  std::string text;
  if (!ReadAll("input.json", &text)) return Fail(2, "cannot read input.json");
  boost::system::error_code ec;
  json::value input = json::parse(text, ec);
  if (ec || !input.is_object()) return Fail(2, "input.json is not a JSON object");
  const json::object& in = input.get_object();
  const int64_t rows = in.at("rows").to_number<int64_t>();
  const int64_t columns = in.at("columns").to_number<int64_t>();
  const int64_t samples = in.at("samples").to_number<int64_t>();
  double offset = 0;
  if (const json::value* o = in.at("params").get_object().if_contains("offset")) {
    offset = o->to_number<double>();
  }
  const size_t count = static_cast<size_t>(rows * columns * samples);

  std::string raw;
  if (!ReadAll("input.f32", &raw)) return Fail(2, "cannot read input.f32");
  if (count == 0) return Fail(2, "the image is empty");
  if (raw.size() != count * sizeof(float)) return Fail(2, "input.f32 does not match input.json");
  std::vector<float> values(count);
  std::memcpy(values.data(), raw.data(), raw.size());  // little-endian host assumed

  float lo = values[0], hi = values[0];
  for (float v : values) lo = v < lo ? v : lo, hi = v > hi ? v : hi;
  for (float& v : values) v = static_cast<float>(static_cast<double>(lo) + hi - v + offset);
  if (!WriteAll("output.raw", values.data(), values.size() * sizeof(float))) {
    return Fail(2, "cannot write output.raw");
  }

  json::object out;
  out["rows"] = rows;
  out["columns"] = columns;
  out["samples"] = samples;
  out["type"] = "f32";
  // The input's window, mirrored like the values, keeps the display comparable.
  const json::value* wc = in.if_contains("window_center");
  const json::value* ww = in.if_contains("window_width");
  if (wc != nullptr && wc->is_number() && ww != nullptr && ww->is_number()) {
    out["window_center"] = static_cast<double>(lo) + hi - wc->to_number<double>() + offset;
    out["window_width"] = ww->to_number<double>();
  }
  out["summary"] = {{"min", lo}, {"max", hi}, {"offset", offset}};
  const std::string json_text = json::serialize(out);
  if (!WriteAll("output.json", json_text.data(), json_text.size())) {
    return Fail(2, "cannot write output.json");
  }
  std::printf("invert: %lldx%lldx%lld, range [%g, %g]\n", static_cast<long long>(rows),
              static_cast<long long>(columns), static_cast<long long>(samples), lo, hi);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {  // a missing or mistyped field of input.json
    return Fail(2, e.what());
  }
}
