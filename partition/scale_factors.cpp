// PAD-Net's scale factors: see scale_factors.h.
#include "partition/scale_factors.h"

namespace dg::partition {

const char* scale_factors_name(ScaleFactors s) {
  switch (s) {
    case ScaleFactors::none: return "none";
    case ScaleFactors::static_only: return "static_only";
    case ScaleFactors::dynamic_only: return "dynamic_only";
    case ScaleFactors::both_free: return "both_free";
    case ScaleFactors::both_constrained: return "both_constrained";
  }
  return "?";
}

bool learns_scale_static(ScaleFactors s) {
  return s == ScaleFactors::static_only || s == ScaleFactors::both_free;
}

bool learns_scale_dynamic(ScaleFactors s) {
  return s == ScaleFactors::dynamic_only || s == ScaleFactors::both_free;
}

Tensor lambda_dynamic_of(const Tensor& scale_logit, const Tensor& scale_dynamic, DType dtype) {
  if (scale_logit.defined()) return 2.0 * sigmoid(scale_logit);
  if (scale_dynamic.defined()) return scale_dynamic;
  return ones({}, dtype);
}

Tensor lambda_static_of(const Tensor& scale_logit, const Tensor& scale_static, DType dtype) {
  if (scale_logit.defined()) return 2.0 - 2.0 * sigmoid(scale_logit);
  if (scale_static.defined()) return scale_static;
  return ones({}, dtype);
}

}  // namespace dg::partition
