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
  // floor(|x| + 0.5) by truncation toward zero, then the sign back on. |x| + 0.5 itself can round
  // up to the next integer (|x| = 0.5 - 2^-25 in f32 gives exactly 1); such a result lies more than
  // 0.5 above |x| (r - 0.5 is exact, r - |x| would not be) and is taken back down by one.
  const Tensor a = abs(d);
  Tensor r = to_dtype(to_dtype(a + 0.5, DType::i64), x.dtype());
  r = r - to_dtype(gt(r - 0.5, a), x.dtype());
  return sign(d) * r;
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
