// The folder protocol of external algorithms: the private work folder, the inputs written into it
// and the outputs read back (strictly: the program is not trusted to write sane files).
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "algorithms/external_internal.h"

namespace imgpipe::algorithms::internal {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using core::Status;

// The raw files are little-endian; we copy host-order samples as they are.
static_assert(std::endian::native == std::endian::little, "external raw I/O assumes LE host");

constexpr int kMaxSide = 65535;
constexpr uint64_t kMaxRawBytes = 1ull << 30;   // as RLIMIT_FSIZE: the program cannot write more
constexpr uint64_t kMaxJsonBytes = 1ull << 20;  // output.json

Status WriteFile(const std::string& path, std::string_view bytes) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal("creating " + path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      close(fd);
      return Status::Internal("writing " + path + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0) return Status::Internal("writing " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

// The file `name` in `dir`, of at most `max` bytes; nullopt when it does not exist.
core::Result<std::optional<std::string>> ReadFile(const std::string& dir, const char* name,
                                                  uint64_t max) {
  const std::string path = dir + "/" + name;
  // O_NOFOLLOW | O_NONBLOCK: the program could have left a symlink or a FIFO in its place.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0 && errno == ENOENT) return std::optional<std::string>();
  if (fd < 0) return Status::Unprocessable(fmt::format("{}: {}", name, std::strerror(errno)));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Status::Unprocessable(fmt::format("{}: not a regular file", name));
  }
  if (static_cast<uint64_t>(st.st_size) > max) {
    close(fd);
    return Status::Unprocessable(fmt::format("{}: {} bytes, more than the {} allowed", name,
                                             static_cast<uint64_t>(st.st_size), max));
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(fd);
  if (done != bytes.size()) return Status::Unprocessable(fmt::format("{}: short read", name));
  return std::optional<std::string>(std::move(bytes));
}

Status BadOutput(std::string_view problem) {
  return Status::Unprocessable(fmt::format("output.json: {}", problem));
}

// An integer member of `o` within [lo, hi].
core::Result<int> IntField(const json::object& o, std::string_view key, int lo, int hi) {
  const json::value* v = o.if_contains(key);
  const std::string rule = fmt::format("'{}' must be an integer within {}..{}", key, lo, hi);
  if (v == nullptr || !v->is_number()) return BadOutput(rule);
  const double x = v->to_number<double>();
  if (!(x >= lo && x <= hi) || x != std::floor(x)) return BadOutput(rule);
  return static_cast<int>(x);
}

// An optional finite number member of `o`.
core::Result<std::optional<double>> NumberField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::optional<double>();
  if (!v->is_number() || !std::isfinite(v->to_number<double>())) {
    return BadOutput(fmt::format("'{}' must be a finite number", key));
  }
  return std::optional<double>(v->to_number<double>());
}

// The image that output.json describes and output.raw holds.
core::Result<Image> ReadImage(const std::string& dir, const json::object& o, const Image& input) {
  IMGPIPE_ASSIGN_OR_RETURN(int rows, IntField(o, "rows", 1, kMaxSide));
  IMGPIPE_ASSIGN_OR_RETURN(int columns, IntField(o, "columns", 1, kMaxSide));
  int samples = 1;
  if (o.contains("samples")) {
    IMGPIPE_ASSIGN_OR_RETURN(samples, IntField(o, "samples", 1, 3));
    if (samples == 2) return BadOutput("'samples' must be 1 or 3");
  }
  const json::value* t = o.if_contains("type");
  PixelType type = PixelType::kU8;
  if (t == nullptr || !t->is_string()) return BadOutput("'type' must be u8, u16, s16 or f32");
  bool known = false;
  for (PixelType p : {PixelType::kU8, PixelType::kU16, PixelType::kS16, PixelType::kF32}) {
    if (t->get_string() == PixelTypeName(p)) type = p, known = true;
  }
  if (!known) return BadOutput("'type' must be u8, u16, s16 or f32");
  const uint64_t expected = static_cast<uint64_t>(rows) * columns * samples * BytesPerSample(type);
  if (expected > kMaxRawBytes) return BadOutput("image larger than 1 GiB");
  IMGPIPE_ASSIGN_OR_RETURN(std::optional<std::string> raw, ReadFile(dir, "output.raw", expected));
  if (!raw) return Status::Unprocessable("output.raw is missing (output.json describes an image)");
  if (raw->size() != expected) {
    return Status::Unprocessable(
        fmt::format("output.raw has {} bytes; output.json's {}x{}x{} {} needs {}", raw->size(),
                    rows, columns, samples, PixelTypeName(type), expected));
  }
  Image image = Image::Make(rows, columns, samples, type);
  std::memcpy(image.pixels.data(), raw->data(), raw->size());
  if (type == PixelType::kF32) {
    const float* f = image.data<float>();
    for (size_t i = 0; i < image.PixelCount() * samples; ++i) {
      if (!std::isfinite(f[i])) return Status::Unprocessable("output.raw has non-finite values");
    }
  }
  IMGPIPE_ASSIGN_OR_RETURN(std::optional<double> slope, NumberField(o, "rescale_slope"));
  IMGPIPE_ASSIGN_OR_RETURN(std::optional<double> intercept, NumberField(o, "rescale_intercept"));
  if (slope && *slope == 0) return BadOutput("'rescale_slope' must not be 0");
  image.rescale_slope = slope.value_or(1);
  image.rescale_intercept = intercept.value_or(0);
  IMGPIPE_ASSIGN_OR_RETURN(image.window_center, NumberField(o, "window_center"));
  IMGPIPE_ASSIGN_OR_RETURN(image.window_width, NumberField(o, "window_width"));
  if (image.window_width && *image.window_width < 1) return BadOutput("'window_width' below 1");
  image.modality = input.modality;
  if (rows == input.rows && columns == input.columns) {  // same grid: same geometry
    image.pixel_spacing_row = input.pixel_spacing_row;
    image.pixel_spacing_col = input.pixel_spacing_col;
    image.monochrome1 = input.monochrome1 && samples == 1;
  }
  return image;
}

}  // namespace

core::Result<std::unique_ptr<TempDir>> TempDir::Make() {
  const char* env = std::getenv("TMPDIR");
  std::string templ = (env != nullptr && env[0] == '/') ? env : "/tmp";
  templ += "/imgpipe-ext-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {  // mode 0700
    return Status::Internal("creating a work folder " + templ + ": " + std::strerror(errno));
  }
  return std::unique_ptr<TempDir>(new TempDir(std::move(templ)));
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
  if (!ec) return;
  // The program may have made folders read-only: make them writable again and retry.
  for (fs::recursive_directory_iterator it(path_, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ignored;
    if (it->is_directory(ignored) && !it->is_symlink(ignored)) {
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ignored);
    }
  }
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
  if (ec) spdlog::warn("external algorithm: cannot remove {}: {}", path_, ec.message());
}

Status WriteInputs(const std::string& dir, const Image& image, const Params& params,
                   std::string_view source_file) {
  json::object o;
  o["rows"] = image.rows;
  o["columns"] = image.columns;
  o["samples"] = image.samples;
  o["type"] = "f32";
  o["stored_type"] = PixelTypeName(image.type);
  o["modality"] = image.modality;
  o["rescale_slope"] = image.rescale_slope;
  o["rescale_intercept"] = image.rescale_intercept;
  o["pixel_spacing"] = json::array{image.pixel_spacing_row, image.pixel_spacing_col};
  o["window_center"] = image.window_center ? json::value(*image.window_center) : nullptr;
  o["window_width"] = image.window_width ? json::value(*image.window_width) : nullptr;
  o["monochrome1"] = image.monochrome1;
  o["params"] = params.ToJson();
  IMGPIPE_RETURN_IF_ERROR(WriteFile(dir + "/input.json", json::serialize(o)));

  // Real values (stored * slope + intercept) as float32, row-major, samples interleaved.
  const size_t count = image.PixelCount() * image.samples;
  std::string f32(count * sizeof(float), '\0');
  float* out = reinterpret_cast<float*>(f32.data());
  const double slope = image.rescale_slope, intercept = image.rescale_intercept;
  for (size_t i = 0; i < count; ++i) {
    double stored = 0;
    switch (image.type) {
      case PixelType::kU8:
        stored = image.data<uint8_t>()[i];
        break;
      case PixelType::kU16:
        stored = image.data<uint16_t>()[i];
        break;
      case PixelType::kS16:
        stored = image.data<int16_t>()[i];
        break;
      case PixelType::kF32:
        stored = image.data<float>()[i];
        break;
    }
    out[i] = static_cast<float>(stored * slope + intercept);
  }
  IMGPIPE_RETURN_IF_ERROR(WriteFile(dir + "/input.f32", f32));
  if (!source_file.empty()) IMGPIPE_RETURN_IF_ERROR(WriteFile(dir + "/input.dcm", source_file));
  return Status::Ok();
}

Status ReadOutputs(const std::string& dir, const Image& input, Output* out) {
  IMGPIPE_ASSIGN_OR_RETURN(std::optional<std::string> text,
                           ReadFile(dir, "output.json", kMaxJsonBytes));
  if (!text) return Status::Unprocessable("the program wrote no output.json");
  boost::system::error_code ec;
  json::value root = json::parse(*text, ec);
  if (ec) return BadOutput("not valid JSON: " + ec.message());
  if (!root.is_object()) return BadOutput("must be a JSON object");
  const json::object& o = root.get_object();
  static constexpr std::string_view kKeys[] = {
      "rows",          "columns",      "samples", "type", "rescale_slope", "rescale_intercept",
      "window_center", "window_width", "summary"};
  for (const auto& kv : o) {
    if (std::find(std::begin(kKeys), std::end(kKeys), kv.key()) == std::end(kKeys)) {
      return BadOutput(fmt::format("unknown key '{}'", std::string_view(kv.key())));
    }
  }
  if (const json::value* s = o.if_contains("summary")) {
    if (!s->is_object()) return BadOutput("'summary' must be an object");
    out->summary = s->get_object();
  }
  // Without "rows" the program produced no image of its own (a measurement, a mask, a DICOM):
  // the result image is the input, as de-identification's is.
  if (o.contains("rows")) {
    IMGPIPE_ASSIGN_OR_RETURN(out->image, ReadImage(dir, o, input));
  } else if (o.contains("columns") || o.contains("type") || o.contains("samples")) {
    return BadOutput("'rows' is missing ('columns', 'type' describe an image)");
  } else {
    out->image = input;
  }

  const uint64_t mask_bytes = input.PixelCount();
  IMGPIPE_ASSIGN_OR_RETURN(std::optional<std::string> mask, ReadFile(dir, "mask.raw", mask_bytes));
  if (mask) {
    if (mask->size() != mask_bytes) {
      return Status::Unprocessable(fmt::format("mask.raw has {} bytes; the input's {}x{} needs {}",
                                               mask->size(), input.rows, input.columns,
                                               mask_bytes));
    }
    Image m = Image::Make(input.rows, input.columns, 1, PixelType::kU8);
    m.pixel_spacing_row = input.pixel_spacing_row;
    m.pixel_spacing_col = input.pixel_spacing_col;
    m.modality = input.modality;
    for (size_t i = 0; i < mask->size(); ++i) m.pixels[i] = (*mask)[i] != 0 ? 255 : 0;
    out->mask = std::move(m);
  }

  IMGPIPE_ASSIGN_OR_RETURN(std::optional<std::string> dcm,
                           ReadFile(dir, "output.dcm", kMaxRawBytes));
  if (dcm) {
    core::Result<dicom::InstanceInfo> parsed = dicom::ParseInstance(*dcm);
    if (!parsed.ok()) {
      return Status::Unprocessable("output.dcm is not a usable DICOM file: " +
                                   parsed.status().message());
    }
    out->dicom = std::move(*dcm);
  }
  return Status::Ok();
}

}  // namespace imgpipe::algorithms::internal
