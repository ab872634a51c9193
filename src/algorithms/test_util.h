// Synthetic images and small helpers for the algorithms tests.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "algorithms/algorithms.h"

namespace imgpipe::algorithms::testing {

// A grey (or RGB) image whose sample (r, c, s) is fn(r, c, s), rounded and saturated to `type`.
Image MakeImage(int rows, int columns, PixelType type,
                const std::function<double(int r, int c)>& fn, int samples = 1);
// Sample (r, c, s) of any pixel type as a double.
double At(const Image& image, int r, int c, int s = 0);
// Mean and variance of the stored values in rows [r0, r1) x columns [c0, c1), sample 0.
void Stats(const Image& image, int r0, int r1, int c0, int c1, double* mean, double* variance);
// The built-in algorithm `name` (the test fails if it is missing).
const Algorithm& Get(std::string_view name);
// ValidateParams(Get(name).info(), json) that must succeed.
Params ParamsFor(std::string_view name, std::string_view json);
// A real Part 10 file (a demo CT slice, made once), for the algorithms that read the source file.
const std::string& AnyDicomFile();
// Runs a built-in with `json` params (validated) on `image`.
core::Result<Output> RunBuiltIn(std::string_view name, const Image& image,
                                std::string_view json = "{}", const RunContext& ctx = {});

}  // namespace imgpipe::algorithms::testing
