// Normalisation layers: layer_norm and batch_norm, each a fused op with its own autograd node.
// The forward runs one kernel that computes the statistics and applies the normalisation and the
// affine map in one or two passes over memory (engine/cpu/norm_kernels.cpp); the backward, in an
// ordinary (first-order) backward pass, is a kernel too, working from the saved statistics.
//
// Second order: when backward runs with create_graph, grad mode is on and the node instead
// evaluates the same backward formula with engine ops, recomputing the statistics from the saved
// input (normalized_input_grad below), so the gradient is itself differentiable with respect to
// the input, the weight and the incoming gradient. Both paths compute the standard formulas:
//   xhat = (x - mean) * rstd, y = xhat * w + b, g = dy * w,
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))   (means over the normalised elements),
//   dw = sum(dy * xhat), db = sum(dy)                  (sums over everything else).
// In batch_norm's eval mode the statistics are constants (the running ones), so dx = g * rstd.
//
// FLOPs counted per element: layer_norm forward 3 (two statistics passes and the normalisation)
// plus 1 with an affine map, backward 5; batch_norm forward 3 in training (1 in eval), backward 3.
#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "engine/backend.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "engine/ops/op_helpers.h"

namespace dg {

namespace {

// A view of contiguous `t` with a new shape (no autograd; for handing kernels 2-D/3-D layouts).
// An undefined (optional) tensor stays undefined.
Tensor as_shape(const Tensor& t, const Shape& shape) {
  return t.defined() ? make_view(t, shape, contiguous_strides(shape), t.offset()) : t;
}

// A contiguous tensor holding `t`'s data, cut from the graph (the same storage when possible).
// An undefined (optional) tensor stays undefined.
Tensor contiguous_data(const Tensor& t) {
  NoGradGuard no_grad;
  return t.defined() ? t.detach().contiguous() : t;
}

// The differentiable (engine-op) backward of y = xhat * w + b with xhat normalising x over `dims`
// using the batch's own statistics: returns {dx, xhat}. w_view is the weight viewed so it
// broadcasts against x, or undefined.
std::pair<Tensor, Tensor> normalized_input_grad(const Tensor& dy, const Tensor& x,
                                                const Tensor& w_view,
                                                const std::vector<int64_t>& dims, double eps) {
  Tensor centered = x - mean(x, dims, /*keepdim=*/true);
  Tensor rstd = rsqrt(mean(centered * centered, dims, /*keepdim=*/true) + eps);
  Tensor xhat = centered * rstd;
  Tensor g = w_view.defined() ? dy * w_view : dy;
  Tensor dx = rstd * (g - mean(g, dims, /*keepdim=*/true) -
                      xhat * mean(g * xhat, dims, /*keepdim=*/true));
  return {dx, xhat};
}

// The differentiable inputs of a norm op (input, then weight and bias when given), and where each
// one's gradient goes in the list the backward returns.
struct NormInputs {
  std::vector<Tensor> tensors;
  int weight_slot = -1, bias_slot = -1;

  NormInputs(const Tensor& input, const Tensor& weight, const Tensor& bias) : tensors{input} {
    if (weight.defined()) {
      weight_slot = tensors.size();
      tensors.push_back(weight);
    }
    if (bias.defined()) {
      bias_slot = tensors.size();
      tensors.push_back(bias);
    }
  }
  // Whether the op must record a node (needs_grad over the defined inputs).
  bool any_needs_grad() const {
    return grad_enabled() &&
           std::any_of(tensors.begin(), tensors.end(), [](const Tensor& t) { return t.requires_grad(); });
  }
  bool needs_weight(const BackwardArgs& a) const { return weight_slot >= 0 && a.needs(weight_slot); }
  bool needs_bias(const BackwardArgs& a) const { return bias_slot >= 0 && a.needs(bias_slot); }
  Grads grads(Tensor dx, Tensor dw, Tensor db) const {
    Grads out(tensors.size());
    out[0] = std::move(dx);
    if (weight_slot >= 0) out[weight_slot] = std::move(dw);
    if (bias_slot >= 0) out[bias_slot] = std::move(db);
    return out;
  }
};

// The tensors a norm's backward reads, with the (optional) weight last and only when given.
std::vector<Tensor> saved_list(std::vector<Tensor> tensors, const Tensor& weight) {
  if (weight.defined()) tensors.push_back(weight);
  return tensors;
}
Tensor saved_weight(const BackwardArgs& a, size_t slot) {
  return a.saved.size() > slot ? a.saved[slot] : Tensor();
}

// An optional per-feature tensor (weight, bias, running stats) must match `input`'s dtype and
// device and have shape `expected`.
void check_param(const Tensor& t, std::string_view what, const Tensor& input,
                 const Shape& expected, std::string_view op, std::string_view expected_as) {
  if (!t.defined()) return;
  detail::check_same(input, t, op);
  check(t.shape() == expected, "{}: {} of shape {} does not match {} {}", op, what, t.shape(),
        expected_as, expected);
}

}  // namespace

// ---------------------------------------------------------------- layer norm

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  constexpr std::string_view op = "layer_norm";
  detail::check_floating(input, op);
  const int k = normalized_shape.size();
  check(k >= 1, "{}: normalized_shape is empty; give the trailing dims to normalise over", op);
  bool tail_matches = k <= input.dim();
  for (int i = 0; i < k && tail_matches; ++i)
    tail_matches = input.shape()[input.dim() - k + i] == normalized_shape[i];
  check(tail_matches, "{}: normalized_shape {} does not match the last dims of input {}", op,
        normalized_shape, input.shape());
  check_param(weight, "weight", input, normalized_shape, op, "normalized_shape");
  check_param(bias, "bias", input, normalized_shape, op, "normalized_shape");

  const int64_t N = numel(normalized_shape);
  const int64_t M = N == 0 ? 0 : input.numel() / N;
  Tensor out = Tensor::empty(input.shape(), input.dtype(), input.device());
  Tensor mean = Tensor::empty({M}, input.dtype(), input.device());
  Tensor rstd = Tensor::empty({M}, input.dtype(), input.device());
  const Tensor w = contiguous_data(weight), b = contiguous_data(bias);
  if (input.numel() > 0) {
    backend(input.device()).layer_norm(as_shape(out, {M, N}), mean, rstd,
                                       as_shape(contiguous_data(input), {M, N}),
                                       as_shape(w, {N}), as_shape(b, {N}), eps);
  }
  flops::add(input.numel() * (w.defined() || b.defined() ? 4 : 3));

  if (const NormInputs inputs(input, weight, bias); inputs.any_needs_grad()) {
    std::vector<int64_t> dims;
    for (int i = input.dim() - k; i < input.dim(); ++i) dims.push_back(i);
    record(OpId::layer_norm, out, inputs.tensors, saved_list({input, mean, rstd}, weight),
           [inputs, normalized_shape, dims, eps, M, N](const BackwardArgs& a) -> Grads {
             const Tensor& x = a.saved[0];
             const Tensor weight = saved_weight(a, 3);
             const bool want_x = a.needs(0), want_w = inputs.needs_weight(a),
                        want_b = inputs.needs_bias(a);
             if (grad_enabled()) {  // create_graph: a differentiable formula
               auto [dx, xhat] = normalized_input_grad(a.grad, x, weight, dims, eps);
               // dy * xhat and dy have x's shape; the engine sums them down to the weight's.
               return inputs.grads(want_x ? dx : Tensor(), want_w ? a.grad * xhat : Tensor(),
                                   want_b ? a.grad : Tensor());
             }
             const Device device = x.device();
             auto fresh = [&](bool wanted, const Shape& shape) {
               return wanted ? Tensor::empty(shape, x.dtype(), device) : Tensor();
             };
             Tensor dx = fresh(want_x, x.shape());
             Tensor dw = fresh(want_w, normalized_shape), db = fresh(want_b, normalized_shape);
             if (x.numel() > 0) {
               backend(device).layer_norm_backward(
                   as_shape(dx, {M, N}), as_shape(dw, {N}), as_shape(db, {N}),
                   as_shape(contiguous_data(a.grad), {M, N}), as_shape(contiguous_data(x), {M, N}),
                   a.saved[1], a.saved[2], as_shape(contiguous_data(weight), {N}));
             } else {  // no rows: every gradient is zero
               for (const Tensor& t : {dx, dw, db})
                 if (t.defined()) backend(device).fill(t, 0.0);
             }
             flops::add(x.numel() * 5);
             return inputs.grads(dx, dw, db);
           });
  }
  return out;
}

// ---------------------------------------------------------------- batch norm

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  constexpr std::string_view op = "batch_norm";
  detail::check_floating(input, op);
  check(input.dim() >= 2, "{}: expected input [N, C, ...] with at least 2 dims, got {}", op,
        input.shape());
  const int64_t N = input.shape()[0], C = input.shape()[1];
  const int64_t S = N * C == 0 ? 0 : input.numel() / (N * C);
  const Shape channels{C};
  check_param(running_mean, "running_mean", input, channels, op, "the channels of input");
  check_param(running_var, "running_var", input, channels, op, "the channels of input");
  check_param(weight, "weight", input, channels, op, "the channels of input");
  check_param(bias, "bias", input, channels, op, "the channels of input");
  check(running_mean.defined() == running_var.defined(),
        "{}: give both running_mean and running_var, or neither", op);
  check(training || running_mean.defined(),
        "{}: eval mode (training=false) normalises with the running statistics, but none were "
        "given",
        op);
  const int64_t count = N * S;  // elements per channel
  check(!training || count > 1,
        "{}: expected more than 1 value per channel when training, got input of shape {}", op,
        input.shape());

  const Device device = input.device();
  const Tensor x = as_shape(contiguous_data(input), {N, C, S});
  Tensor mean, invstd;
  {
    NoGradGuard no_grad;  // statistics and running-stat updates are not part of the graph
    if (training) {
      mean = Tensor::empty(channels, input.dtype(), device);
      Tensor var = Tensor::empty(channels, input.dtype(), device);
      if (count > 0) backend(device).batch_norm_stats(mean, var, x);
      invstd = rsqrt(var + eps);
      if (running_mean.defined()) {
        // PyTorch's convention: the running variance tracks the unbiased batch variance.
        const double unbiased = static_cast<double>(count) / static_cast<double>(count - 1);
        Tensor running_mean_handle = running_mean, running_var_handle = running_var;
        running_mean_handle.mul_(1.0 - momentum).add_(mean, momentum);
        running_var_handle.mul_(1.0 - momentum).add_(var, momentum * unbiased);
      }
    } else {
      // Copied, so a later in-place update of the running stats cannot change what backward sees.
      mean = clone(running_mean.detach());
      invstd = rsqrt(running_var.detach() + eps);
    }
  }
  flops::add(input.numel() * (training ? 3 : 1));

  // y = x * scale + shift per channel, with scale = w * invstd and shift = b - mean * scale.
  Tensor out = Tensor::empty(input.shape(), input.dtype(), device);
  {
    NoGradGuard no_grad;
    const Tensor scale = weight.defined() ? contiguous_data(weight) * invstd : invstd;
    const Tensor shift = bias.defined() ? contiguous_data(bias) - mean * scale : -(mean * scale);
    if (input.numel() > 0)
      backend(device).channel_affine(as_shape(out, {N, C, S}), x, scale, shift, Tensor(), Tensor());
  }

  if (const NormInputs inputs(input, weight, bias); inputs.any_needs_grad()) {
    std::vector<int64_t> dims{0};  // every dim but the channels
    for (int d = 2; d < input.dim(); ++d) dims.push_back(d);
    Shape channel_view = Shape::filled(input.dim(), 1);  // [1, C, 1, ...]
    channel_view[1] = C;
    record(OpId::batch_norm, out, inputs.tensors, saved_list({input, mean, invstd}, weight),
           [inputs, training, dims, channel_view, eps, N, C, S](const BackwardArgs& a) -> Grads {
             const Tensor& input = a.saved[0];
             const Tensor& mean = a.saved[1];
             const Tensor& invstd = a.saved[2];
             const Tensor weight = saved_weight(a, 3);
             const bool want_x = a.needs(0), want_w = inputs.needs_weight(a),
                        want_b = inputs.needs_bias(a);
             if (grad_enabled()) {  // create_graph: a differentiable formula
               const Tensor w_view = weight.defined() ? reshape(weight, channel_view) : weight;
               Tensor dx, xhat;
               if (training) {
                 std::tie(dx, xhat) = normalized_input_grad(a.grad, input, w_view, dims, eps);
               } else {
                 const Tensor r = reshape(invstd, channel_view);
                 xhat = (input - reshape(mean, channel_view)) * r;
                 dx = w_view.defined() ? a.grad * (w_view * r) : a.grad * r;
               }
               return inputs.grads(want_x ? dx : Tensor(),
                                   want_w ? reshape(sum(a.grad * xhat, dims), {C}) : Tensor(),
                                   want_b ? reshape(sum(a.grad, dims), {C}) : Tensor());
             }
             const Device device = input.device();
             const Tensor dy = as_shape(contiguous_data(a.grad), {N, C, S});
             const Tensor x = as_shape(contiguous_data(input), {N, C, S});
             const int64_t count = N * S;
             // Per channel: sum(dy) (= db) and sum(dy * (x - mean)) (= dw / invstd).
             Tensor sum_dy, sum_dy_xmu;
             if (training ? (want_x || want_w || want_b) : (want_w || want_b)) {
               sum_dy = Tensor::empty({C}, input.dtype(), device);
               sum_dy_xmu = Tensor::empty({C}, input.dtype(), device);
               if (count > 0) backend(device).batch_norm_backward_reduce(sum_dy, sum_dy_xmu, dy, x, mean);
               else for (const Tensor& t : {sum_dy, sum_dy_xmu}) backend(device).fill(t, 0.0);
               flops::add(2 * input.numel());
             }
             Tensor dx;
             if (want_x) {
               // dx = a * dy + b * x + c per channel, with a = w * invstd and (training only)
               //   b = -a * invstd^2 * sum(dy * (x - mean)) / count,
               //   c = -a * sum(dy) / count - b * mean,
               // which is rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * w.
               const Tensor scale = weight.defined() ? contiguous_data(weight) * invstd : invstd;
               dx = Tensor::empty(input.shape(), input.dtype(), device);
               Tensor x_scale, shift;
               if (training) {
                 x_scale = -(scale * invstd * invstd * sum_dy_xmu) / static_cast<double>(count);
                 shift = -(scale * sum_dy) / static_cast<double>(count) - x_scale * mean;
               } else {
                 shift = zeros({C}, input.dtype(), device);
               }
               if (input.numel() > 0)
                 backend(device).channel_affine(as_shape(dx, {N, C, S}), dy, scale, shift,
                                                training ? x : Tensor(), x_scale);
               flops::add(input.numel());
             }
             return inputs.grads(dx, want_w ? sum_dy_xmu * invstd : Tensor(),
                                 want_b ? sum_dy : Tensor());
           });
  }
  return out;
}

}  // namespace dg
