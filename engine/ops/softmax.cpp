// softmax, log_softmax and gumbel_softmax (declared in engine/ops/functional.h).
//
// softmax and log_softmax are primitives with their own node: one fused kernel computes them along
// any dim (shifted by the max, so huge logits are safe and -inf entries get probability exactly 0),
// and the node saves only the output, which is all the backward needs:
//   softmax:     dx = y * (g - sum(g * y, dim))
//   log_softmax: dx = g - exp(y) * sum(g, dim)
// Plain backward runs those formulas as one fused kernel. When the gradient is itself being
// recorded (create_graph), the same formulas run as ordinary engine ops instead, so that they can
// be differentiated again; the saved output is reconnected to this node, so a second derivative
// flows back through softmax itself.
//
// gumbel_softmax is composed: softmax((logits + Gumbel noise) / tau), and for hard samples the
// straight-through trick.
#include <cmath>

#include "engine/backend.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "engine/ops/op_helpers.h"

namespace dg {

namespace {

// The kernels work along a dim; a 0-dim tensor is seen as [1].
Tensor at_least_1d(const Tensor& t) { return t.dim() > 0 ? t : make_view(t, {1}, {1}, t.offset()); }

// The fused vector-Jacobian product (no autograd).
Tensor run_softmax_backward(const Tensor& g, const Tensor& y, int dim, bool log) {
  Tensor grad = Tensor::empty(y.shape(), y.dtype(), y.device());
  if (y.numel() > 0)
    backend(y.device())
        .softmax_backward(at_least_1d(grad), at_least_1d(g), at_least_1d(y), dim, log);
  flops::add(4 * y.numel());  // a product, a sum, a difference and a product per element
  return grad;
}

Tensor softmax_impl(const Tensor& x, int64_t dim_in, bool log) {
  const OpId id = log ? OpId::log_softmax : OpId::softmax;
  const std::string_view name = op_name(id);
  detail::check_floating(x, name);
  const int dim = wrap_dim(dim_in, x.dim(), name);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel() > 0) backend(x.device()).softmax(at_least_1d(out), at_least_1d(x), dim, log);
  flops::add(5 * x.numel());  // max, shift, exp, sum and scale per element
  if (needs_grad(x))
    record(
        id, out, {x}, {},
        [dim, log](const BackwardArgs& a) -> Grads {
          const Tensor& y = a.output;
          const Tensor& g = a.grad;
          if (!grad_enabled()) return {run_softmax_backward(g, y, dim, log)};
          if (log) return {g - exp(y) * sum(g, {dim}, /*keepdim=*/true)};
          return {y * (g - sum(g * y, {dim}, /*keepdim=*/true))};
        },
        /*save_output=*/true);
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

// ---------------------------------------------------------------- gumbel_softmax

Tensor gumbel_softmax(const Tensor& logits, double tau, bool hard, int64_t dim_in,
                      Generator* generator) {
  detail::check_floating(logits, "gumbel_softmax");
  check(logits.dim() >= 1,
        "gumbel_softmax: expected logits with at least 1 dim, got a 0-dim tensor");
  check(tau > 0 && std::isfinite(tau), "gumbel_softmax: tau must be positive and finite, got {}",
        tau);
  const int dim = wrap_dim(dim_in, logits.dim(), "gumbel_softmax");

  // Gumbel(0, 1) noise -log(-log(U)), drawn in f64. U is kept inside [2^-53, 1 - 2^-53], away from
  // 0 (where the noise would be -inf) and 1 (+inf), so the noise lies within about [-3.6, 36.7].
  Tensor gumbel;
  {
    NoGradGuard no_grad;
    Tensor u = generator ? rand(logits.shape(), *generator, DType::f64, logits.device())
                         : rand(logits.shape(), DType::f64, logits.device());
    const double edge = std::ldexp(1.0, -53);
    u = clamp(u, edge, 1.0 - edge);
    gumbel = to_dtype(neg(log(neg(log(u)))), logits.dtype());
  }
  const Tensor scores = (logits + gumbel) / tau;
  Tensor y_soft = softmax(scores, dim);
  if (!hard) return y_soft;

  // Straight-through: the forward value is exactly the one-hot of the argmax, the gradient is the
  // soft sample's. y_soft - detach(y_soft) is exactly 0 in the forward pass and passes gradients
  // through with slope 1, so adding it to the one-hot changes no bit of the value.
  const Tensor index = argmax(scores.detach(), dim, /*keepdim=*/true);
  const Tensor one_hot_sample =
      scatter(zeros(y_soft.shape(), y_soft.dtype(), y_soft.device()), dim, index,
              ones(index.shape(), y_soft.dtype(), y_soft.device()));
  return one_hot_sample + (y_soft - y_soft.detach());
}

}  // namespace dg
