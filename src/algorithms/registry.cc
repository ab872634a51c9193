// Algorithm::Run (the checks every algorithm shares, the exception edge) and the Registry.
#include <algorithm>
#include <exception>
#include <opencv2/core.hpp>

#include "algorithms/algorithms.h"
#include "algorithms/internal.h"

namespace imgpipe::algorithms {

using core::Status;

core::Result<Output> Algorithm::Run(const Image& image, const Params& params,
                                    const RunContext& ctx) const {
  const AlgorithmInfo& inf = info();
  if (image.empty()) return Status::Unprocessable(inf.name + ": image is empty");
  if (image.samples != 1 && image.samples != 3) {
    return Status::Unprocessable(inf.name + ": image has " + std::to_string(image.samples) +
                                 " samples per pixel; 1 or 3 supported");
  }
  if (image.pixels.size() != image.PixelCount() * image.samples * BytesPerSample(image.type)) {
    return Status::Unprocessable(inf.name + ": image pixel bytes do not match its shape");
  }
  if (image.type == PixelType::kF32 && !cv::checkRange(internal::View(image))) {
    return Status::Unprocessable(inf.name + ": image has non-finite values");
  }
  if (!inf.modalities.empty() && std::find(inf.modalities.begin(), inf.modalities.end(),
                                           image.modality) == inf.modalities.end()) {
    std::string accepted;
    for (const std::string& m : inf.modalities) accepted += (accepted.empty() ? "" : ", ") + m;
    return Status::Unprocessable(inf.name + " accepts modality " + accepted + "; image is '" +
                                 image.modality + "'");
  }
  if (ctx.cancelled && ctx.cancelled()) return Status::Unavailable("cancelled");
  try {
    return DoRun(image, params, ctx);
  } catch (const cv::Exception& e) {
    return Status::Internal(inf.name + ": OpenCV: " + e.what());
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(inf.name + ": out of memory");
  } catch (const std::exception& e) {
    return Status::Internal(inf.name + ": " + e.what());
  }
}

namespace {

// Runs its target under its own name.
class Alias : public Algorithm {
 public:
  Alias(std::string name, const Algorithm* target) : target_(target) {
    info_ = target->info();
    info_.name = std::move(name);
    info_.alias_of = target->info().name;
    info_.description = "Alias of " + info_.alias_of + ". " + info_.description;
  }
  const AlgorithmInfo& info() const override { return info_; }

 protected:
  core::Result<Output> DoRun(const Image& image, const Params& params,
                             const RunContext& ctx) const override {
    return target_->Run(image, params, ctx);
  }

 private:
  AlgorithmInfo info_;
  const Algorithm* target_;
};

}  // namespace

Status Registry::Add(std::unique_ptr<Algorithm> algorithm) {
  if (Find(algorithm->info().name) != nullptr) {
    return Status::AlreadyExists("algorithm " + algorithm->info().name + " already registered");
  }
  algorithms_.push_back(std::move(algorithm));
  return Status::Ok();
}

Status Registry::AddAlias(std::string alias, std::string_view target) {
  const Algorithm* t = Find(target);
  if (t == nullptr) return Status::NotFound("no algorithm " + std::string(target));
  return Add(std::make_unique<Alias>(std::move(alias), t));
}

const Algorithm* Registry::Find(std::string_view name) const {
  for (const auto& a : algorithms_) {
    if (a->info().name == name) return a.get();
  }
  return nullptr;
}

std::vector<const Algorithm*> Registry::List() const {
  std::vector<const Algorithm*> out;
  for (const auto& a : algorithms_) out.push_back(a.get());
  return out;
}

std::unique_ptr<Registry> Registry::WithBuiltIns() {
  auto r = std::make_unique<Registry>();
  for (auto* make :
       {internal::NewDenoise, internal::NewClahe, internal::NewCanny, internal::NewWindowLevel,
        internal::NewThreshold, internal::NewResize, internal::NewDeidentify}) {
    Status st = r->Add(make());
    assert(st.ok());
    (void)st;
  }
  // The seed's example name: contrast enhancement is the default a viewer wants to see.
  Status st = r->AddAlias("processing_1", "clahe");
  assert(st.ok());
  (void)st;
  return r;
}

const Registry& Registry::BuiltIn() {
  static const Registry* registry = WithBuiltIns().release();
  return *registry;
}

}  // namespace imgpipe::algorithms
