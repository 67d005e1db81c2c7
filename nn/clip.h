// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_: the gradients of all the
// parameters are treated as one long vector; if its norm is too large they are all scaled down by
// the same factor, which keeps the update's direction.
#pragma once

#include <limits>
#include <vector>

#include "engine/tensor.h"

namespace dg::nn {

// Scales every parameter's gradient in place by max_norm / (total + 1e-6) when that factor is
// below 1, where total is the norm_type-norm (p > 0, or infinity for the max-abs norm) of all the
// gradients together; parameters without a gradient are ignored. Returns total (0 when there are
// no gradients). As in PyTorch, a NaN or infinite total still scales (making gradients NaN or 0)
// unless error_if_nonfinite asks for a dg::Error instead.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

inline constexpr double kInfNorm = std::numeric_limits<double>::infinity();

}  // namespace dg::nn
