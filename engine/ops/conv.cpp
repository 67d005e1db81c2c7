// 2-D convolution: conv2d with stride, padding, dilation and groups, and its two backward ops.
//
// The three ops are one linear algebra fact seen from three sides. conv2d is bilinear in input x
// and weight w: y = conv(x, w). Its input gradient is the adjoint of conv in x (a transposed
// convolution), T(gy, w); its weight gradient is the adjoint of conv in w, W(gy, x). Both of these
// are bilinear too, and their gradients are the other two ops again:
//   conv(x, w)  :  dx = T(g, w)           dw = W(g, x)
//   T(gy, w)    :  dgy = conv(G, w)       dw = W(gy, G)          (G: the gradient of T's output)
//   W(gy, x)    :  dgy = conv(x, V)       dx = T(gy, V)          (V: the gradient of W's output)
// so every gradient, of any order, is one of the same three kernels, on any backend. The bias
// gradient is a sum over batch and pixels.
//
// The op layer checks shapes (naming both operands), makes operands contiguous and counts FLOPs:
// one multiply-add per (output element, input channel of its group, kernel tap), for each of the
// three kernels; the bias add is not counted. Kernels: engine/cpu/conv_kernels.cpp.
//
// kernel_mixture_conv2d is the inference kernel of dynamic convolution (per-sample kernels mixed
// from K kernels, each mixed where its sample is convolved); it records no graph.
#include <limits>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/flops.h"
#include "engine/ops/conv_grad.h"
#include "engine/ops/op_helpers.h"

namespace dg {

namespace {

using Geometry = Backend::Conv2dGeometry;

// A (height, width) pair as errors print it, "3x3". A view, formatted only if a check fails, so
// checks that pass cost no string building.
auto hw(const std::array<int64_t, 2>& a) { return fmt::join(a, "x"); }

// `t` itself when contiguous, else a contiguous copy (not recorded: the caller records its op).
Tensor dense(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor c = Tensor::empty(t.shape(), t.dtype(), t.device());
  backend(t.device()).copy(c, t);
  return c;
}

// Checks an input of shape `input` against a weight of shape `weight` under `o`; returns the
// geometry the kernels run with. `op` names the caller in errors.
Geometry conv_geometry(const Shape& input, const Shape& weight, const Conv2dOptions& o,
                       std::string_view op) {
  check(input.size() == 4, "{}: input must be 4-D [N, C_in, H, W], got shape {}", op, input);
  check(weight.size() == 4, "{}: weight must be 4-D [C_out, C_in / groups, kH, kW], got shape {}",
        op, weight);
  check(o.stride[0] >= 1 && o.stride[1] >= 1, "{}: stride must be positive, got {}", op,
        hw(o.stride));
  check(o.padding[0] >= 0 && o.padding[1] >= 0, "{}: padding must be non-negative, got {}", op,
        hw(o.padding));
  check(o.dilation[0] >= 1 && o.dilation[1] >= 1, "{}: dilation must be positive, got {}", op,
        hw(o.dilation));
  check(o.groups >= 1, "{}: groups must be positive, got {}", op, o.groups);
  for (int64_t d : weight) check(d > 0, "{}: weight {} has an empty dim", op, weight);
  check(input[1] % o.groups == 0, "{}: input {} has {} channels, not divisible by groups {}", op,
        input, input[1], o.groups);
  check(weight[0] % o.groups == 0,
        "{}: weight {} has {} output channels, not divisible by groups {}", op, weight, weight[0],
        o.groups);
  check(input[1] == weight[1] * o.groups,
        "{}: input {} has {} channels, weight {} with groups {} expects {}", op, input, input[1],
        weight, o.groups, weight[1] * o.groups);
  check(input[2] > 0 && input[3] > 0, "{}: input {} has an empty spatial dim", op, input);

  const std::array<int64_t, 2> span{o.dilation[0] * (weight[2] - 1) + 1,
                                    o.dilation[1] * (weight[3] - 1) + 1};
  const std::array<int64_t, 2> padded{input[2] + 2 * o.padding[0], input[3] + 2 * o.padding[1]};
  check(span[0] <= padded[0] && span[1] <= padded[1],
        "{}: kernel {}x{} with dilation {} spans {}, larger than the padded input {} (input {}, "
        "padding {})",
        op, weight[2], weight[3], hw(o.dilation), hw(span), hw(padded), input,
        hw(o.padding));

  Geometry g;
  g.batch = input[0];
  g.in_channels = input[1];
  g.out_channels = weight[0];
  g.groups = o.groups;
  g.in_h = input[2];
  g.in_w = input[3];
  g.out_h = (padded[0] - span[0]) / o.stride[0] + 1;
  g.out_w = (padded[1] - span[1]) / o.stride[1] + 1;
  g.kernel_h = weight[2];
  g.kernel_w = weight[3];
  g.stride_h = o.stride[0];
  g.stride_w = o.stride[1];
  g.pad_h = o.padding[0];
  g.pad_w = o.padding[1];
  g.dilation_h = o.dilation[0];
  g.dilation_w = o.dilation[1];
  // BLAS takes 32-bit sizes: the per-group GEMM dims must fit.
  const int64_t largest = std::max({weight[1] * weight[2] * weight[3], g.out_h * g.out_w,
                                    g.in_h * g.in_w, g.out_channels / g.groups});
  check(largest <= std::numeric_limits<int>::max(),
        "{}: input {} and weight {}: a matrix dimension of {} is too large for BLAS", op, input,
        weight, largest);
  return g;
}

Shape output_shape(const Geometry& g) { return {g.batch, g.out_channels, g.out_h, g.out_w}; }

// Multiply-adds of one of the three kernels.
int64_t conv_macs(const Geometry& g) {
  return g.batch * g.out_channels * g.out_h * g.out_w * (g.in_channels / g.groups) * g.kernel_h *
         g.kernel_w;
}

// The gradient `grad` of a conv-family op must have the shape its output had.
void check_grad_shape(const Tensor& grad, const Shape& expected, const Shape& input,
                      const Shape& weight, std::string_view op) {
  check(grad.shape() == expected,
        "{}: grad_out has shape {}, expected {} (the conv2d output for input {} and weight {})", op,
        grad.shape(), expected, input, weight);
}

// What the backward of a bilinear op f(a, b) saves: each operand's gradient reads only the other
// operand, so `a` is saved (first) when b needs a gradient and `b` (last) when a does. A tensor no
// gradient reads is not kept alive.
std::vector<Tensor> save_other_operands(const Tensor& a, const Tensor& b) {
  std::vector<Tensor> saved;
  if (b.requires_grad()) saved.push_back(a);
  if (a.requires_grad()) saved.push_back(b);
  return saved;
}

}  // namespace

// ---------------------------------------------------------------- conv2d

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& options) {
  constexpr std::string_view op = "conv2d";
  detail::check_floating(input, op);
  detail::check_same(input, weight, op);
  const Geometry g = conv_geometry(input.shape(), weight.shape(), options, op);
  const bool has_bias = bias.defined();
  if (has_bias) {
    detail::check_same(input, bias, op);
    check(bias.dim() == 1 && bias.shape()[0] == g.out_channels,
          "{}: bias must be [{}] (one value per output channel of weight {}), got shape {}", op,
          g.out_channels, weight.shape(), bias.shape());
  }

  Tensor out = Tensor::empty(output_shape(g), input.dtype(), input.device(), op);
  backend(input.device())
      .conv2d(out, dense(input), dense(weight), has_bias ? dense(bias) : Tensor(), g);
  flops::add(conv_macs(g));

  if (needs_grad(input, weight) || (has_bias && needs_grad(bias))) {
    std::vector<Tensor> inputs{input, weight};
    if (has_bias) inputs.push_back(bias);
    record(OpId::conv2d, out, inputs, save_other_operands(input, weight),
           [options, in_shape = input.shape(), w_shape = weight.shape(),
            has_bias](const BackwardArgs& a) -> Grads {
             Grads grads(has_bias ? 3 : 2);
             if (a.needs(0))
               grads[0] = conv2d_input_grad(a.grad, a.saved.back(), in_shape, options);
             if (a.needs(1))
               grads[1] = conv2d_weight_grad(a.grad, a.saved.front(), w_shape, options);
             // Pixels first, then the batch: each step is a layout the reduce kernel sums in
             // place, where reducing {0, 2, 3} at once would first copy the whole gradient.
             if (has_bias && a.needs(2)) grads[2] = sum(sum(a.grad, {2, 3}), {0});
             return grads;
           });
  }
  return out;
}

// ---------------------------------------------------------------- kernel_mixture_conv2d

Tensor kernel_mixture_conv2d(const Tensor& input, const Tensor& mixing, const Tensor& factors,
                             const Tensor& biases, const Conv2dOptions& options,
                             const Tensor& base_kernel, const Tensor& positions) {
  constexpr std::string_view op = "kernel_mixture_conv2d";
  detail::check_floating(input, op);
  detail::check_same(input, mixing, op);
  detail::check_same(input, factors, op);
  const bool placed = base_kernel.defined();
  if (biases.defined()) detail::check_same(input, biases, op);
  if (placed) detail::check_same(input, base_kernel, op);
  const bool records = grad_enabled() &&
                       (input.requires_grad() || mixing.requires_grad() || factors.requires_grad() ||
                        (biases.defined() && biases.requires_grad()) ||
                        (placed && base_kernel.requires_grad()));
  check(!records,
        "{}: has no backward, but gradients are enabled and an operand requires grad; call it "
        "under NoGradGuard, or train through the composed form (dynamic::mix_kernels + "
        "per_sample_conv2d)",
        op);
  check(input.dim() == 4, "{}: input must be 4-D [N, C_in, H, W], got shape {}", op, input.shape());
  const int64_t n = input.shape()[0];
  check(mixing.dim() == 2 && mixing.shape()[0] == n,
        "{}: mixing must be [N, K] with N = {} (input {}), got shape {}", op, n, input.shape(),
        mixing.shape());
  const int64_t k = mixing.shape()[1];
  Shape kernel_shape;
  if (placed) {
    check(positions.defined() && positions.dtype() == DType::i64 && positions.dim() == 1,
          "{}: with a base kernel, positions must be a 1-D i64 tensor, got {}", op,
          positions.defined() ? fmt::format("{} {}", positions.dtype(), positions.shape())
                              : std::string("none"));
    check(positions.device() == input.device(), "{}: positions are on {} but the input is on {}",
          op, positions.device(), input.device());
    check(base_kernel.dim() == 4,
          "{}: base kernel must be 4-D [C_out, C_in / groups, kH, kW], got shape {}", op,
          base_kernel.shape());
    check(factors.shape() == Shape{k, positions.numel()},
          "{}: factors must be [K, D] = [{}, {}] (mixing {}, positions {}), got shape {}", op, k,
          positions.numel(), mixing.shape(), positions.shape(), factors.shape());
    if (auto bad = detail::first_out_of_range(positions, base_kernel.numel()))
      fail("{}: position {} out of range for a base kernel {} of {} elements", op, *bad,
           base_kernel.shape(), base_kernel.numel());
    kernel_shape = base_kernel.shape();
  } else {
    check(!positions.defined(), "{}: positions given without a base kernel", op);
    check(factors.dim() == 5 && factors.shape()[0] == k,
          "{}: factors must be [K, C_out, C_in / groups, kH, kW] with K = {} (mixing {}), got "
          "shape {}",
          op, k, mixing.shape(), factors.shape());
    kernel_shape = Shape(std::span<const int64_t>(factors.shape().begin() + 1, factors.shape().end()));
  }
  const Geometry g = conv_geometry(input.shape(), kernel_shape, options, op);
  if (biases.defined())
    check(biases.shape() == Shape{n, g.out_channels},
          "{}: biases must be [N, C_out] = [{}, {}], got shape {}", op, n, g.out_channels,
          biases.shape());

  Tensor out = Tensor::empty(output_shape(g), input.dtype(), input.device());
  const bool fused = backend(input.device())
                         .kernel_mixture_conv2d(out, dense(input), dense(mixing), dense(factors),
                                                biases.defined() ? dense(biases) : Tensor(),
                                                placed ? dense(base_kernel) : Tensor(),
                                                placed ? dense(positions) : Tensor(), g);
  // A backend without the fused kernel: the composition (its ops count their own FLOPs). The fused
  // kernel counts the multiply-adds it executed itself (mixing and convolution), so a kernel that
  // mixed more values than the positions, or convolved more than once, shows it in the count.
  if (!fused)
    return detail::composed_kernel_mixture_conv2d(input, mixing, factors, biases, options,
                                                  base_kernel, positions);
  return out;
}

namespace detail {

Tensor composed_kernel_mixture_conv2d(const Tensor& input, const Tensor& mixing,
                                      const Tensor& factors, const Tensor& biases,
                                      const Conv2dOptions& options, const Tensor& base_kernel,
                                      const Tensor& positions) {
  const int64_t n = input.shape()[0], k = mixing.shape()[1];
  const Shape kernel_shape =
      base_kernel.defined()
          ? base_kernel.shape()
          : Shape(std::span<const int64_t>(factors.shape().begin() + 1, factors.shape().end()));
  // Every sample's kernel, flat: [N, K] @ [K, values].
  Tensor kernels = matmul(mixing, reshape(factors, {k, -1}));
  if (base_kernel.defined()) {
    // The base kernel, with each sample's mixed values written at the listed positions.
    const int64_t d = positions.numel();
    const Tensor base = expand(reshape(base_kernel, {1, -1}), {n, base_kernel.numel()});
    kernels = scatter(contiguous(base), 1, expand(reshape(positions, {1, d}), {n, d}), kernels);
  }
  // One grouped convolution over the batch folded into the channels (groups = N * groups).
  const int64_t c_in = input.shape()[1], c_out = kernel_shape[0];
  const Tensor folded = reshape(input, {1, n * c_in, input.shape()[2], input.shape()[3]});
  const Tensor stacked = reshape(kernels, {n * c_out, kernel_shape[1], kernel_shape[2], kernel_shape[3]});
  Conv2dOptions per_sample = options;
  per_sample.groups = options.groups * n;
  const Tensor y = conv2d(folded, stacked, biases.defined() ? reshape(biases, {n * c_out}) : Tensor(),
                          per_sample);
  return reshape(y, {n, c_out, y.shape()[2], y.shape()[3]});
}

}  // namespace detail

// ---------------------------------------------------------------- the two backward ops

Tensor conv2d_input_grad(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape,
                         const Conv2dOptions& options) {
  constexpr std::string_view op = "conv2d_input_grad";
  detail::check_floating(grad_out, op);
  detail::check_same(grad_out, weight, op);
  const Geometry g = conv_geometry(input_shape, weight.shape(), options, op);
  check_grad_shape(grad_out, output_shape(g), input_shape, weight.shape(), op);

  Tensor grad_input = Tensor::empty(input_shape, grad_out.dtype(), grad_out.device());
  backend(grad_out.device()).conv2d_input_grad(grad_input, dense(grad_out), dense(weight), g);
  flops::add(conv_macs(g));

  if (needs_grad(grad_out, weight)) {
    record(OpId::conv2d_input_grad, grad_input, {grad_out, weight},
           save_other_operands(grad_out, weight),
           [options, w_shape = weight.shape()](const BackwardArgs& a) -> Grads {
             return {a.needs(0) ? conv2d(a.grad, a.saved.back(), Tensor(), options) : Tensor(),
                     a.needs(1) ? conv2d_weight_grad(a.saved.front(), a.grad, w_shape, options)
                                : Tensor()};
           });
  }
  return grad_input;
}

Tensor conv2d_weight_grad(const Tensor& grad_out, const Tensor& input, const Shape& weight_shape,
                          const Conv2dOptions& options) {
  constexpr std::string_view op = "conv2d_weight_grad";
  detail::check_floating(grad_out, op);
  detail::check_same(grad_out, input, op);
  const Geometry g = conv_geometry(input.shape(), weight_shape, options, op);
  check_grad_shape(grad_out, output_shape(g), input.shape(), weight_shape, op);

  Tensor grad_weight = Tensor::empty(weight_shape, grad_out.dtype(), grad_out.device());
  backend(grad_out.device()).conv2d_weight_grad(grad_weight, dense(grad_out), dense(input), g);
  flops::add(conv_macs(g));

  if (needs_grad(grad_out, input)) {
    record(OpId::conv2d_weight_grad, grad_weight, {grad_out, input},
           save_other_operands(grad_out, input),
           [options, in_shape = input.shape()](const BackwardArgs& a) -> Grads {
             return {a.needs(0) ? conv2d(a.saved.back(), a.grad, Tensor(), options) : Tensor(),
                     a.needs(1) ? conv2d_input_grad(a.saved.front(), a.grad, in_shape, options)
                                : Tensor()};
           });
  }
  return grad_weight;
}

}  // namespace dg
