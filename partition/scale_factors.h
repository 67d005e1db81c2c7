// PAD-Net's scale factors (He et al. 2023, Eq. 4 and Table 4), shared by every partially dynamic
// layer (partially_dynamic_conv.h, partially_dynamic_moe.h): the computational weight is
// lambda_d * M (.) dynamic + lambda_s * (1 - M) (.) static, with
//   none              lambda_d = lambda_s = 1 (Eq. 3)
//   static_only       lambda_s a trainable scalar (init 1), lambda_d = 1
//   dynamic_only      lambda_d a trainable scalar (init 1), lambda_s = 1
//   both_free         both trainable scalars (init 1), unconstrained
//   both_constrained  lambda_d = 2 sigmoid(phi), lambda_s = 2 - lambda_d, phi trainable (init 0,
//                     so both start at 1): the paper's default, lambda_s + lambda_d = 2
// A layer registers the scalars its option needs (scale_logit = phi, scale_static, scale_dynamic;
// the others stay undefined) and reads lambda through the two functions below.
#pragma once

#include "engine/ops/ops.h"

namespace dg::partition {

enum class ScaleFactors { none, static_only, dynamic_only, both_free, both_constrained };

struct PartiallyDynamicOptions {
  ScaleFactors scale_factors = ScaleFactors::both_constrained;
};

const char* scale_factors_name(ScaleFactors s);
bool learns_scale_static(ScaleFactors s);
bool learns_scale_dynamic(ScaleFactors s);

// lambda_d and lambda_s as 0-dim tensors (on the graph when trainable) from whichever of the
// layer's scalars are defined; 1 of `dtype` when none is.
Tensor lambda_dynamic_of(const Tensor& scale_logit, const Tensor& scale_dynamic, DType dtype);
Tensor lambda_static_of(const Tensor& scale_logit, const Tensor& scale_static, DType dtype);

}  // namespace dg::partition
