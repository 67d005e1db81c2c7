// Straight-through round and argmax: see straight_through.h.
#include "dynamic/straight_through.h"

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/ops.h"

namespace dg::dynamic {

Tensor round_half_away(const Tensor& x) {
  check(x.defined() && is_floating(x.dtype()), "round_half_away: expected an f32 or f64 tensor, got {}",
        x.defined() ? x.dtype() : DType::f32);
  NoGradGuard no_grad;
  const Tensor d = x.detach();
  // |x| + 0.5 truncated toward zero is floor(|x| + 0.5); the sign goes back on afterwards.
  return sign(d) * to_dtype(to_dtype(abs(d) + 0.5, DType::i64), x.dtype());
}

Tensor straight_through_round(const Tensor& x) {
  return round_half_away(x) + (x - x.detach());
}

Tensor straight_through_argmax(const Tensor& probs, int64_t dim) {
  check(probs.defined() && is_floating(probs.dtype()) && probs.dim() >= 1,
        "straight_through_argmax: expected an f32 or f64 tensor with at least 1 dim, got {}",
        probs.defined() ? probs.shape() : Shape{});
  Tensor hard;
  {
    NoGradGuard no_grad;
    const Tensor index = argmax(probs.detach(), dim, /*keepdim=*/true);
    hard = scatter(zeros(probs.shape(), probs.dtype(), probs.device()), dim, index,
                   ones(index.shape(), probs.dtype(), probs.device()));
  }
  return hard + (probs - probs.detach());
}

}  // namespace dg::dynamic
