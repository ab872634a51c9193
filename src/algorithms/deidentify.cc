// deidentify: the PS3.15 Basic Profile on the source file (dicom::Deidentify) as an algorithm.
// The pixels are kept as they are: the Output's image is the input (for the preview PNG) and its
// DICOM is the de-identified source file, not a derived Secondary Capture.
#include "algorithms/internal.h"
#include "core/ids.h"

namespace imgpipe::algorithms::internal {
namespace {

using core::Status;

class Deidentify : public Algorithm {
 public:
  Deidentify() {
    info_.name = "deidentify";
    info_.description =
        "DICOM de-identification (PS3.15 Basic Application Level Confidentiality Profile): "
        "identifying attributes removed or emptied, PatientName ANONYMOUS, a pseudonymous "
        "PatientID, every instance UID replaced by one consistently mapped within the job; "
        "pixel data kept byte for byte. Identity burned into the pixels is not removed.";
    info_.params = {
        {"shift_dates",
         ParamType::kBoolean,
         "keep intervals between dates by shifting every date back by one fixed number of days "
         "(Retain Longitudinal Temporal Information with Modified Dates); false empties them",
         false,
         std::nullopt,
         std::nullopt,
         {}},
    };
    info_.scopes = AllScopes();
  }
  const AlgorithmInfo& info() const override { return info_; }

 protected:
  core::Result<Output> DoRun(const Image& image, const Params& params,
                             const RunContext& ctx) const override {
    if (ctx.source_file.empty()) {
      return Status::Unprocessable("deidentify works on a DICOM file and none was given");
    }
    Steps steps(ctx, 1);
    dicom::DeidentifyOptions options;
    options.uid_salt =
        ctx.run_key.empty() ? core::RandomUrlSafeToken(32) : std::string(ctx.run_key);
    options.shift_dates = params.GetBool("shift_dates");
    IMGPIPE_ASSIGN_OR_RETURN(std::string file, dicom::Deidentify(ctx.source_file, options));
    IMGPIPE_RETURN_IF_ERROR(steps.Next());
    Output out;
    out.image = image;
    out.dicom = std::move(file);
    out.summary["patient_identity_removed"] = true;
    out.summary["dates_shifted"] = options.shift_dates;
    return out;
  }

 private:
  AlgorithmInfo info_;
};

}  // namespace

std::unique_ptr<Algorithm> NewDeidentify() { return std::make_unique<Deidentify>(); }

}  // namespace imgpipe::algorithms::internal
