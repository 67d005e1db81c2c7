// 2-D pooling: max_pool2d (with the argmax indices its backward routes the gradient through;
// where no graph is recorded and no one asks for them, the kernel writes the maxima only),
// avg_pool2d (zero padding counts in the average, PyTorch's count_include_pad=true) and
// adaptive_avg_pool2d (PyTorch's bins [floor(i * in / out), ceil((i + 1) * in / out)); output
// {1, 1} is global average pooling), and their backward ops.
//
// As in conv.cpp, every backward is itself an op with a backward, so gradients of any order work
// on any backend: max_pool2d's backward adds the gradient at the argmax positions
// (max_pool2d_backward), whose own backward reads the gradient back from them (a gather). An
// average pool is linear and its backward (avg_pool2d_backward) is its adjoint, whose adjoint is
// the average pool again.
//
// FLOPs counted: one per input element a window reads (a comparison or an add), for the forward
// and the backward alike; padding is read by no one and counts nothing.
#include "engine/backend.h"
#include "engine/flops.h"
#include "engine/ops/conv_grad.h"
#include "engine/ops/op_helpers.h"

namespace dg {

namespace {

using Geometry = Backend::Pool2dGeometry;

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

void check_input_rank(const Shape& input, std::string_view op) {
  check(input.size() == 4, "{}: input must be 4-D [N, C, H, W], got shape {}", op, input);
  check(input[2] > 0 && input[3] > 0, "{}: input {} has an empty spatial dim", op, input);
}

// The geometry of a fixed-window pool of an input of shape `input`.
Geometry window_geometry(const Shape& input, const Pool2dOptions& o, std::string_view op) {
  check_input_rank(input, op);
  const std::array<int64_t, 2> kernel = o.kernel;
  check(kernel[0] >= 1 && kernel[1] >= 1, "{}: kernel must be positive, got {}", op, hw(kernel));
  check(o.stride[0] >= 0 && o.stride[1] >= 0,
        "{}: stride must be positive (or 0 for the kernel size), got {}", op, hw(o.stride));
  const std::array<int64_t, 2> stride{o.stride[0] == 0 ? kernel[0] : o.stride[0],
                                      o.stride[1] == 0 ? kernel[1] : o.stride[1]};
  check(o.padding[0] >= 0 && o.padding[1] >= 0, "{}: padding must be non-negative, got {}", op,
        hw(o.padding));
  // PyTorch's rule: it guarantees every window holds at least one input element.
  check(2 * o.padding[0] <= kernel[0] && 2 * o.padding[1] <= kernel[1],
        "{}: padding {} must be at most half the kernel {}", op, hw(o.padding), hw(kernel));
  const std::array<int64_t, 2> padded{input[2] + 2 * o.padding[0], input[3] + 2 * o.padding[1]};
  check(kernel[0] <= padded[0] && kernel[1] <= padded[1],
        "{}: kernel {} is larger than the padded input {} (input {}, padding {})", op,
        hw(kernel), hw(padded), input, hw(o.padding));
  Geometry g;
  g.planes = input[0] * input[1];
  g.in_h = input[2];
  g.in_w = input[3];
  g.out_h = (padded[0] - kernel[0]) / stride[0] + 1;
  g.out_w = (padded[1] - kernel[1]) / stride[1] + 1;
  g.kernel_h = kernel[0];
  g.kernel_w = kernel[1];
  g.stride_h = stride[0];
  g.stride_w = stride[1];
  g.pad_h = o.padding[0];
  g.pad_w = o.padding[1];
  return g;
}

Geometry adaptive_geometry(const Shape& input, std::array<int64_t, 2> output_size,
                           std::string_view op) {
  check_input_rank(input, op);
  check(output_size[0] >= 1 && output_size[1] >= 1, "{}: output size must be positive, got {}",
        op, hw(output_size));
  Geometry g;
  g.planes = input[0] * input[1];
  g.in_h = input[2];
  g.in_w = input[3];
  g.out_h = output_size[0];
  g.out_w = output_size[1];
  g.adaptive = true;
  return g;
}

Shape output_shape(const Shape& input, const Geometry& g) {
  return {input[0], input[1], g.out_h, g.out_w};
}

// Input elements read by all windows of all planes: the row spans times the column spans.
int64_t window_reads(const Geometry& g) {
  int64_t rows = 0, cols = 0;
  for (int64_t oh = 0; oh < g.out_h; ++oh) rows += g.row_end(oh) - g.row_begin(oh);
  for (int64_t ow = 0; ow < g.out_w; ++ow) cols += g.col_end(ow) - g.col_begin(ow);
  return g.planes * rows * cols;
}

void check_grad_shape(const Tensor& grad_out, const Shape& expected, const Shape& input,
                      std::string_view op) {
  check(grad_out.shape() == expected,
        "{}: grad_out has shape {}, expected {} (the pooled output of input {})", op,
        grad_out.shape(), expected, input);
}

// ---------------------------------------------------------------- the recorded ops

// max_pool2d's backward with trusted indices: they came from the max_pool2d kernel.
Tensor route_to_argmax(const Tensor& grad_out, const Tensor& indices, const Shape& input_shape,
                       const Geometry& g) {
  Tensor grad_input = Tensor::empty(input_shape, grad_out.dtype(), grad_out.device());
  backend(grad_out.device()).max_pool2d_backward(grad_input, dense(grad_out), dense(indices), g);
  flops::add(grad_out.numel());
  if (needs_grad(grad_out)) {
    record(OpId::max_pool2d_backward, grad_input, {grad_out}, {indices},
           [](const BackwardArgs& a) -> Grads {
             // Each output's gradient was added at its index: read the gradient back from there.
             const Tensor& indices = a.saved[0];
             const Shape& s = indices.shape();
             const Tensor planes = reshape(a.grad, {s[0], s[1], -1});
             return {reshape(gather(planes, 2, reshape(indices, {s[0], s[1], -1})), s)};
           });
  }
  return grad_input;
}

Tensor average_pool_backward(const Tensor& grad_out, const Shape& input_shape, const Geometry& g);

// avg_pool2d or adaptive_avg_pool2d, by g.adaptive.
Tensor average_pool(const Tensor& input, const Geometry& g) {
  Tensor out = Tensor::empty(output_shape(input.shape(), g), input.dtype(), input.device());
  backend(input.device()).avg_pool2d(out, dense(input), g);
  flops::add(window_reads(g));
  if (needs_grad(input)) {
    record(g.adaptive ? OpId::adaptive_avg_pool2d : OpId::avg_pool2d, out, {input}, {},
           [g, in_shape = input.shape()](const BackwardArgs& a) -> Grads {
             return {average_pool_backward(a.grad, in_shape, g)};
           });
  }
  return out;
}

// The adjoint of average_pool: spreads each output's gradient over its window.
Tensor average_pool_backward(const Tensor& grad_out, const Shape& input_shape, const Geometry& g) {
  Tensor grad_input = Tensor::empty(input_shape, grad_out.dtype(), grad_out.device());
  backend(grad_out.device()).avg_pool2d_backward(grad_input, dense(grad_out), g);
  flops::add(window_reads(g));
  if (needs_grad(grad_out)) {
    record(OpId::avg_pool2d_backward, grad_input, {grad_out}, {},
           [g](const BackwardArgs& a) -> Grads { return {average_pool(a.grad, g)}; });
  }
  return grad_input;
}

}  // namespace

// ---------------------------------------------------------------- max pooling

namespace {

// The maxima, and their indices where they are asked for or a graph is recorded (the backward
// routes the gradient through them); otherwise `indices` is left undefined and the backend writes
// only the maxima.
std::tuple<Tensor, Tensor> max_pool(const Tensor& input, const Pool2dOptions& options,
                                    bool want_indices) {
  constexpr std::string_view op = "max_pool2d";
  detail::check_floating(input, op);
  const Geometry g = window_geometry(input.shape(), options, op);
  const Shape shape = output_shape(input.shape(), g);
  const bool recorded = needs_grad(input);
  Tensor out = Tensor::empty(shape, input.dtype(), input.device());
  Tensor indices;
  if (want_indices || recorded) indices = Tensor::empty(shape, DType::i64, input.device());
  backend(input.device()).max_pool2d(out, indices, dense(input), g);
  flops::add(window_reads(g));
  if (recorded) {
    record(OpId::max_pool2d, out, {input}, {indices},
           [g, in_shape = input.shape()](const BackwardArgs& a) -> Grads {
             return {route_to_argmax(a.grad, a.saved[0], in_shape, g)};
           });
  }
  return {out, indices};
}

}  // namespace

std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input,
                                                   const Pool2dOptions& options) {
  return max_pool(input, options, /*want_indices=*/true);
}

Tensor max_pool2d(const Tensor& input, const Pool2dOptions& options) {
  return std::get<0>(max_pool(input, options, /*want_indices=*/false));
}

Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                           const Shape& input_shape) {
  constexpr std::string_view op = "max_pool2d_backward";
  detail::check_floating(grad_out, op);
  check_input_rank(input_shape, op);
  check(grad_out.dim() == 4 && grad_out.shape()[0] == input_shape[0] &&
            grad_out.shape()[1] == input_shape[1],
        "{}: grad_out has shape {}, expected [{}, {}, H_out, W_out] for input {}", op,
        grad_out.shape(), input_shape[0], input_shape[1], input_shape);
  detail::check_defined(indices, op);
  check(indices.dtype() == DType::i64, "{}: indices of shape {} have dtype {}, expected i64", op,
        indices.shape(), indices.dtype());
  check(indices.shape() == grad_out.shape(),
        "{}: indices have shape {} but grad_out has shape {}", op, indices.shape(),
        grad_out.shape());
  check(indices.device() == grad_out.device(), "{}: indices are on {} but grad_out is on {}", op,
        indices.device(), grad_out.device());
  // Bounds, before the kernel writes through them. Read on the host (see index.cpp's note).
  const int64_t plane = input_shape[2] * input_shape[3];
  for (int64_t i : indices.to_vector<int64_t>())
    check(i >= 0 && i < plane,
          "{}: index {} out of range for an input plane of {}x{} ({} positions)", op, i,
          input_shape[2], input_shape[3], plane);

  Geometry g;
  g.planes = input_shape[0] * input_shape[1];
  g.in_h = input_shape[2];
  g.in_w = input_shape[3];
  g.out_h = grad_out.shape()[2];
  g.out_w = grad_out.shape()[3];
  return route_to_argmax(grad_out, indices, input_shape, g);
}

// ---------------------------------------------------------------- average pooling

Tensor avg_pool2d(const Tensor& input, const Pool2dOptions& options) {
  detail::check_floating(input, "avg_pool2d");
  return average_pool(input, window_geometry(input.shape(), options, "avg_pool2d"));
}

Tensor adaptive_avg_pool2d(const Tensor& input, Size2 output_size) {
  detail::check_floating(input, "adaptive_avg_pool2d");
  return average_pool(input, adaptive_geometry(input.shape(), output_size, "adaptive_avg_pool2d"));
}

Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape,
                           const Pool2dOptions& options) {
  constexpr std::string_view op = "avg_pool2d_backward";
  detail::check_floating(grad_out, op);
  const Geometry g = window_geometry(input_shape, options, op);
  check_grad_shape(grad_out, output_shape(input_shape, g), input_shape, op);
  return average_pool_backward(grad_out, input_shape, g);
}

Tensor adaptive_avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape) {
  constexpr std::string_view op = "adaptive_avg_pool2d_backward";
  detail::check_floating(grad_out, op);
  check(grad_out.dim() == 4, "{}: grad_out must be 4-D [N, C, H_out, W_out], got shape {}", op,
        grad_out.shape());
  const Geometry g = adaptive_geometry(input_shape, {grad_out.shape()[2], grad_out.shape()[3]}, op);
  check_grad_shape(grad_out, output_shape(input_shape, g), input_shape, op);
  return average_pool_backward(grad_out, input_shape, g);
}

}  // namespace dg
