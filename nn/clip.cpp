// clip_grad_norm_ (see clip.h). Each gradient's contribution is reduced on its own device by engine
// ops (sum of |g|^p, or max |g|); the contributions are combined on the host in double precision,
// which equals PyTorch's norm of the per-gradient norms up to rounding.
#include "nn/clip.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "engine/ops/ops.h"

namespace dg::nn {

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  check(norm_type > 0, "clip_grad_norm_: norm_type must be positive (or infinity), got {}",
        norm_type);
  check(!std::isnan(max_norm), "clip_grad_norm_: max_norm is NaN");
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const Tensor& p : params) {
    check(p.defined(), "clip_grad_norm_: undefined parameter tensor");
    if (p.grad().defined()) grads.push_back(p.grad());
  }

  const bool is_inf = std::isinf(norm_type);
  double total = 0;  // max |g| for the inf-norm, else sum |g|^p until the final root
  for (const Tensor& g : grads) {
    check(is_floating(g.dtype()), "clip_grad_norm_: gradient of shape {} has dtype {}", g.shape(),
          g.dtype());
    if (g.numel() == 0) continue;
    if (is_inf) {
      const double largest = amax(abs(g)).item<double>();
      total = std::isnan(largest) ? largest : std::max(total, largest);  // NaN sticks
    } else if (norm_type == 2.0) {
      total += sum(g * g).item<double>();
    } else if (norm_type == 1.0) {
      total += sum(abs(g)).item<double>();
    } else {
      total += sum(pow(abs(g), norm_type)).item<double>();
    }
  }
  if (!is_inf) total = norm_type == 2.0 ? std::sqrt(total) : std::pow(total, 1.0 / norm_type);

  check(!error_if_nonfinite || std::isfinite(total),
        "clip_grad_norm_: the total norm of order {} of the gradients is {}, so they cannot be "
        "clipped (pass error_if_nonfinite=false to scale them anyway)",
        norm_type, total);
  const double clip_coef = max_norm / (total + 1e-6);
  if (!(clip_coef >= 1.0)) {  // also when NaN, so that a NaN norm reaches the gradients
    for (Tensor g : grads) g.mul_(clip_coef);
  }
  return total;
}

}  // namespace dg::nn
