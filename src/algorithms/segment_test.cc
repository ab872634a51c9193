// threshold and canny (masks and overlays), and what every Run checks: bad inputs, modalities,
// progress, cancellation.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "algorithms/algorithms.h"
#include "algorithms/test_util.h"

namespace imgpipe::algorithms {
namespace {

using core::StatusCode;
using testing::At;
using testing::MakeImage;
using testing::RunBuiltIn;

constexpr PixelType kGreyTypes[] = {PixelType::kU8, PixelType::kU16, PixelType::kS16,
                                    PixelType::kF32};

int Count(const Image& mask) {
  int n = 0;
  for (uint8_t v : mask.pixels) n += v == 255;
  return n;
}

TEST(ThresholdTest, OtsuSplitsABimodalImage) {
  for (PixelType type : kGreyTypes) {
    // Two noisy modes: 40 (left 3/4) and 200 (right quarter); S16 shifted negative.
    const double shift = type == PixelType::kS16 ? -1000 : (type == PixelType::kU8 ? 0 : 3000);
    std::mt19937 rng(3);
    std::normal_distribution<double> noise(0, 8);
    Image image = MakeImage(64, 64, type,
                            [&](int, int c) { return shift + (c < 48 ? 40 : 200) + noise(rng); });
    core::Result<Output> out = RunBuiltIn("threshold", image);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    const double t = out->summary.at("threshold").as_double();
    EXPECT_GT(t, shift + 80) << PixelTypeName(type);
    EXPECT_LT(t, shift + 160) << PixelTypeName(type);
    ASSERT_TRUE(out->mask.has_value());
    EXPECT_EQ(out->mask->type, PixelType::kU8);
    EXPECT_EQ(Count(*out->mask), 64 * 16) << PixelTypeName(type);
    EXPECT_EQ(At(*out->mask, 5, 60), 255);
    EXPECT_EQ(At(*out->mask, 5, 5), 0);
    EXPECT_DOUBLE_EQ(out->summary.at("mask_fraction").as_double(), 0.25);
    ASSERT_TRUE(out->overlay.has_value());
    EXPECT_EQ(out->overlay->samples, 3);
    // Coloured (red above green) where masked, grey elsewhere.
    EXPECT_GT(At(*out->overlay, 5, 60, 0), At(*out->overlay, 5, 60, 1));
    EXPECT_EQ(At(*out->overlay, 5, 5, 0), At(*out->overlay, 5, 5, 1));
  }
}

// CT-like: stored = HU + 1024 (slope 1, intercept -1024), a ramp from -1024 to 3071 HU.
Image CtRamp() {
  Image ct = MakeImage(64, 64, PixelType::kS16, [](int r, int c) { return r * 64 + c; });
  ct.rescale_intercept = -1024;
  ct.modality = "CT";
  return ct;
}

TEST(ThresholdTest, HuPresetsMaskExactlyTheirRange) {
  const Image ct = CtRamp();
  struct Case {
    const char* preset;
    int min, max;
  };
  for (const Case& k :
       {Case{"bone", 300, 3000}, Case{"lung", -1000, -400}, Case{"soft_tissue", -100, 300}}) {
    core::Result<Output> out = RunBuiltIn(
        "threshold", ct, std::string(R"({"method":"hu_range","preset":")") + k.preset + "\"}");
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    for (int r = 0; r < 64; ++r) {
      for (int c = 0; c < 64; ++c) {
        const double hu = At(ct, r, c) - 1024;
        ASSERT_EQ(At(*out->mask, r, c), hu >= k.min && hu <= k.max ? 255 : 0)
            << k.preset << " at " << hu << " HU";
      }
    }
    EXPECT_EQ(Count(*out->mask), k.max - k.min + 1);
  }
}

TEST(ThresholdTest, CustomRangeWorksOnAnyModality) {
  Image mr = MakeImage(10, 10, PixelType::kU16, [](int r, int c) { return r * 10 + c; });
  mr.modality = "MR";
  core::Result<Output> out =
      RunBuiltIn("threshold", mr, R"({"method":"hu_range","preset":"custom","min":20,"max":29})");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(Count(*out->mask), 10);
  EXPECT_EQ(At(*out->mask, 2, 5), 255);
}

TEST(ThresholdTest, BadCombinationsAndInputs) {
  Image mr = MakeImage(10, 10, PixelType::kU16, [](int r, int c) { return r * 10 + c; });
  mr.modality = "MR";
  core::Result<Output> out = RunBuiltIn("threshold", mr, R"({"method":"hu_range"})");
  EXPECT_EQ(out.status().code(), StatusCode::kUnprocessable);
  EXPECT_EQ(out.status().message(),
            "preset bone is in Hounsfield units and needs a CT image; image modality is 'MR' "
            "(use preset custom)");
  EXPECT_EQ(RunBuiltIn("threshold", mr, R"({"method":"hu_range","preset":"custom","min":1})")
                .status()
                .message(),
            "preset custom needs min and max");
  EXPECT_EQ(RunBuiltIn("threshold", mr, R"({"method":"otsu","min":1})").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RunBuiltIn("threshold", CtRamp(), R"({"method":"hu_range","max":1})").status().code(),
            StatusCode::kInvalidArgument);
  Image rgb = MakeImage(
      8, 8, PixelType::kU8, [](int, int) { return 1; }, 3);
  out = RunBuiltIn("threshold", rgb);
  EXPECT_EQ(out.status().code(), StatusCode::kUnprocessable);
  EXPECT_EQ(out.status().message(), "threshold needs a grey image (1 sample per pixel); got RGB");
}

TEST(CannyTest, FindsTheEdgesOfASquare) {
  for (PixelType type : kGreyTypes) {
    // A square on rows/columns [20, 44), 200 (8-bit) or 1000 units above the background. The
    // absolute thresholds are in units per pixel: a blurred step of h peaks near 0.28 h.
    const double bg = type == PixelType::kU8 ? 20 : 100;
    const double fg = type == PixelType::kU8 ? 220 : 1100;
    const std::string absolute = R"({"threshold_mode":"absolute","low":)" +
                                 std::to_string((fg - bg) * 0.05) + R"(,"high":)" +
                                 std::to_string((fg - bg) * 0.15) + "}";
    for (const std::string& params : {std::string("{}"), absolute}) {
      Image image = MakeImage(64, 64, type, [&](int r, int c) {
        return r >= 20 && r < 44 && c >= 20 && c < 44 ? fg : bg;
      });
      core::Result<Output> out = RunBuiltIn("canny", image, params);
      ASSERT_TRUE(out.ok()) << out.status().ToString();
      const Image& e = out->image;
      EXPECT_EQ(e.type, PixelType::kU8);
      int on_boundary = 0;
      for (int r = 0; r < 64; ++r) {
        for (int c = 0; c < 64; ++c) {
          if (At(e, r, c) == 0) continue;
          ASSERT_EQ(At(e, r, c), 255);
          // Every edge pixel lies within a pixel of the square's outline.
          const bool near_rows = r >= 18 && r <= 45, near_cols = c >= 18 && c <= 45;
          const bool on_outline = near_rows && near_cols &&
                                  (std::abs(r - 19.5) <= 1 || std::abs(r - 43.5) <= 1 ||
                                   std::abs(c - 19.5) <= 1 || std::abs(c - 43.5) <= 1);
          ASSERT_TRUE(on_outline) << PixelTypeName(type) << " edge at " << r << "," << c;
          ++on_boundary;
        }
      }
      // Each side is found along (nearly) its whole length.
      for (int i = 22; i < 42; ++i) {
        EXPECT_TRUE(At(e, 19, i) || At(e, 20, i)) << PixelTypeName(type) << " top " << i;
        EXPECT_TRUE(At(e, 43, i) || At(e, 44, i)) << PixelTypeName(type) << " bottom " << i;
        EXPECT_TRUE(At(e, i, 19) || At(e, i, 20)) << PixelTypeName(type) << " left " << i;
        EXPECT_TRUE(At(e, i, 43) || At(e, i, 44)) << PixelTypeName(type) << " right " << i;
      }
      EXPECT_EQ(out->summary.at("edge_pixels").as_int64(), on_boundary);
      ASSERT_TRUE(out->overlay.has_value());
      EXPECT_EQ(out->overlay->rows, 64);
    }
  }
}

TEST(CannyTest, FlatImageHasNoEdgesAndThresholdsAreChecked) {
  Image flat = MakeImage(16, 16, PixelType::kS16, [](int, int) { return -3; });
  core::Result<Output> out = RunBuiltIn("canny", flat);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->summary.at("edge_pixels").as_int64(), 0);
  EXPECT_EQ(RunBuiltIn("canny", flat, R"({"low":0.5,"high":0.2})").status().message(),
            "low must not exceed high");
  EXPECT_EQ(RunBuiltIn("canny", flat, R"({"high":2})").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(RunTest, EmptyAndInconsistentImages) {
  for (const Algorithm* a : Registry::BuiltIn().List()) {
    core::Result<Params> p = ValidateParams(a->info(), boost::json::object());
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(a->Run(Image{}, *p, {}).status().code(), StatusCode::kUnprocessable)
        << a->info().name;
    Image bad = Image::Make(4, 4, 1, PixelType::kU16);
    bad.pixels.resize(5);
    EXPECT_EQ(a->Run(bad, *p, {}).status().code(), StatusCode::kUnprocessable) << a->info().name;
  }
}

TEST(RunTest, ProgressReachesTotalAndCancellationStops) {
  Image image = CtRamp();
  for (const Algorithm* a : Registry::BuiltIn().List()) {
    core::Result<Params> p = ValidateParams(a->info(), boost::json::object());
    ASSERT_TRUE(p.ok());
    std::vector<std::pair<int, int>> calls;
    RunContext ctx;
    ctx.source_file = testing::AnyDicomFile();
    ctx.progress = [&](int done, int total) { calls.emplace_back(done, total); };
    ASSERT_TRUE(a->Run(image, *p, ctx).ok()) << a->info().name;
    ASSERT_FALSE(calls.empty()) << a->info().name;
    EXPECT_EQ(calls.back().first, calls.back().second) << a->info().name;
    for (size_t i = 1; i < calls.size(); ++i) EXPECT_GT(calls[i].first, calls[i - 1].first);

    // Cancelled before the start, and cancelled after the first step.
    ctx.cancelled = [] { return true; };
    EXPECT_EQ(a->Run(image, *p, ctx).status().code(), StatusCode::kUnavailable);
    int polls = 0;
    ctx.cancelled = [&] { return ++polls > 1; };
    core::Result<Output> out = a->Run(image, *p, ctx);
    EXPECT_EQ(out.status().code(), StatusCode::kUnavailable) << a->info().name;
    EXPECT_EQ(out.status().message(), "cancelled");
  }
  // The generic median checks cancellation while it works.
  int polls = 0;
  RunContext ctx;
  ctx.cancelled = [&] { return ++polls > 2; };
  EXPECT_EQ(
      RunBuiltIn("denoise", image, R"({"method":"median","kernel_size":9})", ctx).status().code(),
      StatusCode::kUnavailable);
}

// An algorithm that only takes CT, to test Run's modality check and Registry::Add.
class CtOnly : public Algorithm {
 public:
  CtOnly() {
    info_.name = "ct_only";
    info_.modalities = {"CT"};
  }
  const AlgorithmInfo& info() const override { return info_; }

 protected:
  core::Result<Output> DoRun(const Image& image, const Params&, const RunContext&) const override {
    if (image.rows == 1) throw std::runtime_error("boom");
    Output out;
    out.image = image;
    return out;
  }

 private:
  AlgorithmInfo info_;
};

TEST(RunTest, ModalityCheckExceptionsAndRegistryAdd) {
  CtOnly a;
  Image image = CtRamp();
  EXPECT_TRUE(a.Run(image, Params(), {}).ok());
  image.modality = "MR";
  core::Result<Output> out = a.Run(image, Params(), {});
  EXPECT_EQ(out.status().code(), StatusCode::kUnprocessable);
  EXPECT_EQ(out.status().message(), "ct_only accepts modality CT; image is 'MR'");
  Image one_row = MakeImage(1, 4, PixelType::kU8, [](int, int) { return 0; });
  one_row.modality = "CT";
  EXPECT_EQ(a.Run(one_row, Params(), {}).status().code(), StatusCode::kInternal);

  Registry r;
  EXPECT_TRUE(r.Add(std::make_unique<CtOnly>()).ok());
  EXPECT_EQ(r.Add(std::make_unique<CtOnly>()).code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(r.AddAlias("ct_alias", "ct_only").ok());
  ASSERT_NE(r.Find("ct_alias"), nullptr);
  EXPECT_EQ(r.Find("ct_alias")->Run(image, Params(), {}).status().code(),
            StatusCode::kUnprocessable);
  EXPECT_EQ(r.List().size(), 2u);
}

}  // namespace
}  // namespace imgpipe::algorithms
