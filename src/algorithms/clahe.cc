// clahe: contrast-limited adaptive histogram equalisation.
//
// 8-bit grey: OpenCV's CLAHE as is (256 bins). RGB (8-bit): on the L channel of Lab, colours
// kept. 16-bit and float grey: the stored values are quantised over the image's own range
// [min, max] to at most 4096 levels (one per value for integers with a narrower range; 1024 for
// float), equalised with OpenCV's 16-bit CLAHE (its clip limit scaled so that clip_limit keeps
// its usual meaning per histogram bin), and mapped back onto [min, max].
// So the output keeps the input's pixel type, modality LUT and value range; only the
// distribution of values inside that range changes.
#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "algorithms/internal.h"

namespace imgpipe::algorithms::internal {
namespace {

using core::Status;

constexpr int kMaxLevels = 4096;    // histogram levels for 16-bit data at most
constexpr int kFloatLevels = 1024;  // histogram levels for float data

class Clahe : public Algorithm {
 public:
  Clahe() {
    info_.name = "clahe";
    info_.description =
        "Contrast-limited adaptive histogram equalisation (local contrast enhancement). Keeps "
        "the pixel type, rescale and value range.";
    info_.params = {
        {"clip_limit",
         ParamType::kNumber,
         "contrast limit: a histogram bin is clipped at clip_limit times the mean bin height",
         2.0,
         0.1,
         40.0,
         {}},
        {"tile_grid",
         ParamType::kInteger,
         "tiles per side (tile_grid x tile_grid regions)",
         int64_t{8},
         1.0,
         16.0,
         {}},
    };
    // 16 at most: OpenCV's 16-bit CLAHE keeps a 65536-entry table per tile.
    info_.scopes = AllScopes();
  }
  const AlgorithmInfo& info() const override { return info_; }

 protected:
  core::Result<Output> DoRun(const Image& image, const Params& params,
                             const RunContext& ctx) const override {
    Steps steps(ctx, 2);
    const double clip = params.GetNumber("clip_limit");
    const int grid = static_cast<int>(params.GetInt("tile_grid"));
    if (grid > image.rows || grid > image.columns) {
      return Status::InvalidArgument("tile_grid " + std::to_string(grid) +
                                     " exceeds the image size");
    }
    boost::json::object summary;
    summary["clip_limit"] = clip;
    summary["tile_grid"] = grid;
    const cv::Mat in = View(image);
    cv::Mat out;
    if (image.type == PixelType::kU8) {
      cv::Ptr<cv::CLAHE> clahe = cv::createCLAHE(clip, cv::Size(grid, grid));
      if (image.samples == 1) {
        clahe->apply(in, out);
      } else {
        cv::Mat lab;
        cv::cvtColor(in, lab, cv::COLOR_RGB2Lab);
        std::vector<cv::Mat> planes;
        cv::split(lab, planes);
        clahe->apply(planes[0], planes[0]);
        cv::merge(planes, lab);
        cv::cvtColor(lab, out, cv::COLOR_Lab2RGB);
      }
      summary["levels"] = 256;
      IMGPIPE_RETURN_IF_ERROR(steps.Next());
    } else {
      IMGPIPE_RETURN_IF_ERROR(RequireGrey(image, "clahe on 16-bit or float samples"));
      double lo = 0, hi = 0;
      StoredRange(image, &lo, &hi);
      // Integer data with a narrow range keeps one level per stored value.
      const int levels =
          image.type == PixelType::kF32
              ? kFloatLevels
              : static_cast<int>(std::min<double>(hi - lo + 1, static_cast<double>(kMaxLevels)));
      summary["levels"] = levels;
      summary["stored_min"] = lo;
      summary["stored_max"] = hi;
      if (hi <= lo) {  // flat image: nothing to equalise
        out = in.clone();
        IMGPIPE_RETURN_IF_ERROR(steps.Next());
      } else {
        // Quantise to `levels` and spread them evenly over 0..65535: OpenCV's 16-bit CLAHE
        // redistributes clipped counts over all 65536 bins, which is then uniform in value, as
        // with a histogram of `levels` bins. It clips at clip * tile_pixels / 65536 per bin;
        // scale the limit so the clip is clip * tile_pixels / levels per used bin.
        cv::Mat f, level, q;
        const double to_level = (levels - 1) / (hi - lo);
        in.convertTo(f, CV_32F, to_level, -lo * to_level);
        f.convertTo(level, CV_32S);  // rounds
        level.convertTo(q, CV_16U, 65535.0 / (levels - 1));
        cv::Ptr<cv::CLAHE> clahe = cv::createCLAHE(clip * 65536.0 / levels, cv::Size(grid, grid));
        cv::Mat eq;
        clahe->apply(q, eq);
        IMGPIPE_RETURN_IF_ERROR(steps.Next());
        // 0..65535 back onto [lo, hi], rounded and saturated to the input type.
        eq.convertTo(out, in.type(), (hi - lo) / 65535.0, lo);
      }
    }
    IMGPIPE_ASSIGN_OR_RETURN(Image result, FromMat(out, image));
    IMGPIPE_RETURN_IF_ERROR(steps.Next());
    return ImageOutput(std::move(result), std::move(summary));
  }

 private:
  AlgorithmInfo info_;
};

}  // namespace

std::unique_ptr<Algorithm> NewClahe() { return std::make_unique<Clahe>(); }

}  // namespace imgpipe::algorithms::internal
