// Tests of convolution and pooling (engine/ops/conv.cpp, engine/ops/pool.cpp,
// engine/cpu/conv_kernels.cpp): conv2d and both backward kernels against the reference backend's
// direct loop (engine/reference/conv.cpp) over many option combinations (stride, padding,
// dilation, groups, depthwise, groups = batch, 1x1) in f64 and f32, including sizes that take the
// multi-threaded paths; PyTorch golden values (tests/reference/conv_golden.txt, written by
// conv_golden.py) for outputs and gradients; hand-checked pooling values and edge cases (padding,
// ties, NaN, non-divisible adaptive bins, global pooling); FLOP counts; and the error messages.
// Gradient checks against finite differences are in gradcheck_cases_conv.cpp.
#include <cmath>
#include <limits>
#include <map>

#include "engine/flops.h"
#include "engine/cpu/parallel.h"
#include "engine/ops/conv_grad.h"
#include "engine/reference/reference_backend.h"
#include "nn/conv.h"
#include "tests/engine/golden.h"
#include "tests/engine/test_util.h"

using namespace dg;
using dg::test::max_abs_diff;
using dg::test::values;
using Catch::Contains;

namespace {

using F64s = std::vector<double>;
using I64s = std::vector<int64_t>;

// ---------------------------------------------------------------- the reference convolution

// The reference backend's direct convolution (engine/reference/conv.cpp: the seven loops of the
// definition) on f64 values, for one geometry.
struct ReferenceConv {
  Shape x, w, y;
  Backend::Conv2dGeometry g;

  ReferenceConv(const Shape& x_shape, const Shape& w_shape, const Conv2dOptions& o)
      : x(x_shape), w(w_shape) {
    g.batch = x[0], g.in_channels = x[1], g.out_channels = w[0], g.groups = o.groups;
    g.in_h = x[2], g.in_w = x[3], g.kernel_h = w[2], g.kernel_w = w[3];
    g.stride_h = o.stride[0], g.stride_w = o.stride[1], g.pad_h = o.padding[0], g.pad_w = o.padding[1];
    g.dilation_h = o.dilation[0], g.dilation_w = o.dilation[1];
    g.out_h = (x[2] + 2 * g.pad_h - g.dilation_h * (w[2] - 1) - 1) / g.stride_h + 1;
    g.out_w = (x[3] + 2 * g.pad_w - g.dilation_w * (w[3] - 1) - 1) / g.stride_w + 1;
    y = {x[0], w[0], g.out_h, g.out_w};
  }

  F64s forward(const F64s& xv, const F64s& wv, const F64s& bias) const {
    const Tensor out = Tensor::empty(y, DType::f64);
    reference::reference_backend().conv2d(out, from_vector(xv, x), from_vector(wv, w),
                                           bias.empty() ? Tensor() : from_vector(bias, {w[0]}), g);
    return values(out);
  }
  F64s input_grad(const F64s& gy, const F64s& wv) const {
    const Tensor gx = Tensor::empty(x, DType::f64);
    reference::reference_backend().conv2d_input_grad(gx, from_vector(gy, y), from_vector(wv, w), g);
    return values(gx);
  }
  F64s weight_grad(const F64s& gy, const F64s& xv) const {
    const Tensor gw = Tensor::empty(w, DType::f64);
    reference::reference_backend().conv2d_weight_grad(gw, from_vector(gy, y), from_vector(xv, x), g);
    return values(gw);
  }
};

double max_diff(const F64s& a, const F64s& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

struct ConvCase {
  const char* name;
  Shape x, w;
  bool bias;
  Conv2dOptions o;
};

Conv2dOptions opts(std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                   std::array<int64_t, 2> dilation, int64_t groups) {
  return {stride, padding, dilation, groups};
}

const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {"plain 3x3", {2, 3, 7, 6}, {4, 3, 3, 3}, true, {}},
      {"stride 2, padding 1", {2, 3, 9, 8}, {5, 3, 3, 3}, true, opts({2, 2}, {1, 1}, {1, 1}, 1)},
      {"stride 3 (rows left unread)", {1, 2, 10, 11}, {2, 2, 3, 3}, false, opts({3, 3}, {0, 0}, {1, 1}, 1)},
      {"dilation 2, padding 2", {1, 2, 9, 9}, {3, 2, 3, 3}, false, opts({1, 1}, {2, 2}, {2, 2}, 1)},
      {"groups 2, asymmetric", {2, 4, 6, 7}, {6, 2, 3, 2}, true, opts({2, 1}, {1, 0}, {1, 1}, 2)},
      {"depthwise", {2, 5, 8, 8}, {5, 1, 3, 3}, true, opts({1, 1}, {1, 1}, {1, 1}, 5)},
      {"depthwise stride 2, multiplier 2", {2, 3, 9, 9}, {6, 1, 3, 3}, false, opts({2, 2}, {1, 1}, {1, 1}, 3)},
      {"depthwise dilation 2, stride 2,1, padding 2, 3x2", {2, 4, 9, 8}, {4, 1, 3, 2}, true, opts({2, 1}, {2, 2}, {2, 2}, 4)},
      {"depthwise stride 3, no padding", {1, 3, 10, 11}, {3, 1, 3, 3}, false, opts({3, 3}, {0, 0}, {1, 1}, 3)},
      {"one channel (depthwise with groups 1)", {3, 1, 7, 6}, {1, 1, 3, 3}, true, opts({1, 1}, {1, 1}, {1, 1}, 1)},
      {"groups = batch (DY-Conv)", {1, 12, 6, 6}, {8, 3, 3, 3}, true, opts({1, 1}, {1, 1}, {1, 1}, 4)},
      {"1x1", {2, 5, 4, 4}, {3, 5, 1, 1}, true, {}},
      {"1x1 groups 5", {2, 10, 3, 4}, {5, 2, 1, 1}, false, opts({1, 1}, {0, 0}, {1, 1}, 5)},
      {"1x1 stride 2 padding 1", {2, 5, 5, 4}, {3, 5, 1, 1}, true, opts({2, 2}, {1, 1}, {1, 1}, 1)},
      {"2x4, stride 1,3, padding 0,2, dilation 2,1", {2, 2, 7, 9}, {3, 2, 2, 4}, true,
       opts({1, 3}, {0, 2}, {2, 1}, 1)},
      {"3x5, padding 1,2 (same size)", {2, 3, 6, 7}, {4, 3, 3, 5}, true, opts({1, 1}, {1, 2}, {1, 1}, 1)},
      {"1x1 stride 2,1 padding 1 (output row = two input rows)", {1, 2, 5, 2}, {3, 2, 1, 1}, true,
       opts({2, 1}, {1, 1}, {1, 1}, 1)},
      {"padding wider than the kernel reach", {1, 1, 2, 3}, {2, 1, 2, 2}, true, opts({1, 2}, {3, 2}, {1, 1}, 1)},
      // Big enough to be split over threads (each path of the weight gradient included).
      {"parallel: batch 4", {4, 8, 10, 10}, {16, 8, 3, 3}, true, opts({1, 1}, {1, 1}, {1, 1}, 1)},
      {"parallel: batch 3, groups 2", {3, 6, 9, 9}, {8, 3, 3, 3}, true, opts({1, 1}, {1, 1}, {1, 1}, 2)},
      {"parallel: groups = batch 8", {1, 32, 10, 10}, {64, 4, 3, 3}, true, opts({1, 1}, {1, 1}, {1, 1}, 8)},
      {"parallel: depthwise 64 channels, batch 8", {8, 64, 14, 14}, {64, 1, 3, 3}, true, opts({1, 1}, {1, 1}, {1, 1}, 64)},
      {"parallel: one channel, batch 16", {16, 1, 28, 28}, {1, 1, 3, 3}, true, opts({1, 1}, {1, 1}, {1, 1}, 1)},
      {"parallel: depthwise 48 channels", {2, 48, 12, 12}, {48, 1, 3, 3}, true, opts({2, 2}, {1, 1}, {1, 1}, 48)},
      {"parallel: 1x1 batch 3", {3, 32, 10, 10}, {24, 32, 1, 1}, true, {}},
      // Batch 1, one group, enough work: the forward splits the output rows over threads, each
      // block im2col-ing its own rows (odd row counts, padding at either end of a block).
      {"parallel rows: batch 1, 3x3 same", {1, 16, 15, 13}, {32, 16, 3, 3}, true, opts({1, 1}, {1, 1}, {1, 1}, 1)},
      {"parallel rows: batch 1, stride 2, padding 1", {1, 16, 17, 15}, {32, 16, 3, 3}, false,
       opts({2, 2}, {1, 1}, {1, 1}, 1)},
      {"parallel rows: batch 1, dilation 2, padding 2", {1, 16, 14, 14}, {24, 16, 3, 3}, true,
       opts({1, 1}, {2, 2}, {2, 2}, 1)},
      {"parallel rows: batch 1, 3x5, stride 1,2, padding 1,2", {1, 12, 19, 23}, {20, 12, 3, 5}, true,
       opts({1, 2}, {1, 2}, {1, 1}, 1)},
  };
  return cases;
}

}  // namespace

// ---------------------------------------------------------------- conv2d values

TEST_CASE("conv2d: forward and both gradients match the reference backend (f64 and f32)") {
  for (const ConvCase& c : conv_cases()) {
    for (DType dtype : {DType::f64, DType::f32}) {
      DYNAMIC_SECTION(c.name << " " << dtype_name(dtype)) {
        const ReferenceConv reference(c.x, c.w, c.o);
        const F64s xv = test::hashed_values(numel(c.x), 1, -1, 1);
        const F64s wv = test::hashed_values(numel(c.w), 2, -1, 1);
        const F64s bv = c.bias ? test::hashed_values(c.w[0], 3, -1, 1) : F64s{};
        const F64s gyv = test::hashed_values(numel(reference.y), 4, -1, 1);
        Tensor x = to_dtype(from_vector(xv, c.x), dtype).set_requires_grad(true);
        Tensor w = to_dtype(from_vector(wv, c.w), dtype).set_requires_grad(true);
        Tensor b = c.bias ? to_dtype(from_vector(bv, {c.w[0]}), dtype) : Tensor();
        if (c.bias) b.set_requires_grad(true);
        const double tol = dtype == DType::f64 ? 1e-12 : 1e-4;

        Tensor y = conv2d(x, w, b, c.o);
        REQUIRE(y.shape() == reference.y);
        CHECK(y.dtype() == dtype);
        CHECK(max_diff(values(y), reference.forward(xv, wv, bv)) < tol);

        y.backward(to_dtype(from_vector(gyv, reference.y), dtype));
        CHECK(max_diff(values(x.grad()), reference.input_grad(gyv, wv)) < tol);
        CHECK(max_diff(values(w.grad()), reference.weight_grad(gyv, xv)) < tol);
        if (c.bias) {
          F64s gb(c.w[0], 0.0);
          const int64_t pixels = reference.y[2] * reference.y[3];
          for (size_t k = 0; k < gyv.size(); ++k) gb[(k / pixels) % reference.y[1]] += gyv[k];
          CHECK(max_diff(values(b.grad()), gb) < tol);
        }
      }
    }
  }
}

TEST_CASE("conv2d: a hand-computed 3x3 example") {
  // x = 0..15 on a 4x4 plane, a kernel of ones: each output is the sum of its 3x3 patch.
  Tensor x = reshape(arange(0.0, 16.0, 1.0, DType::f32), {1, 1, 4, 4});
  Tensor w = ones({1, 1, 3, 3});
  CHECK(values(conv2d(x, w)) == F64s{45, 54, 81, 90});
  // Padding 1, stride 2: windows centred on (0,0), (0,2), (2,0), (2,2).
  CHECK(values(conv2d(x, w, tensor({0.5f}), {{2, 2}, {1, 1}})) ==
        F64s{10.5, 24.5, 51.5, 90.5});
}

TEST_CASE("conv2d: groups = batch equals one convolution per sample (DY-Conv's trick)") {
  // Four samples, each with its own kernel, as one grouped convolution over [1, N*C, H, W].
  const int64_t N = 4, C = 3, O = 5;
  Tensor x = test::uniform_f64({N, C, 7, 7}, 10);
  Tensor w = test::uniform_f64({N, O, C, 3, 3}, 11);
  Tensor b = test::uniform_f64({N, O}, 12);
  Tensor grouped = conv2d(reshape(x, {1, N * C, 7, 7}), reshape(w, {N * O, C, 3, 3}),
                          reshape(b, {N * O}), {{1, 1}, {1, 1}, {1, 1}, N});
  REQUIRE(grouped.shape() == Shape{1, N * O, 7, 7});
  for (int64_t n = 0; n < N; ++n) {
    Tensor single = conv2d(narrow(x, 0, n, 1), select(w, 0, n), select(b, 0, n), {{1, 1}, {1, 1}});
    CHECK(max_abs_diff(narrow(grouped, 1, n * O, O), single) < 1e-13);
  }
}

TEST_CASE("conv2d: non-contiguous operands give the same values") {
  Tensor x = test::uniform_f64({2, 3, 6, 5}, 20);
  Tensor w = test::uniform_f64({4, 3, 3, 3}, 21);
  Tensor expected = conv2d(x, w, Tensor(), {{1, 1}, {1, 1}});
  // The same input stored as [N, C, W, H] and transposed back, and the weight likewise.
  Tensor xt = transpose(contiguous(transpose(x, 2, 3)), 2, 3);
  Tensor wt = transpose(contiguous(transpose(w, 0, 1)), 0, 1);
  REQUIRE_FALSE(xt.is_contiguous());
  REQUIRE_FALSE(wt.is_contiguous());
  CHECK(max_abs_diff(conv2d(xt, wt, Tensor(), {{1, 1}, {1, 1}}), expected) < 1e-14);
}

TEST_CASE("conv2d: an empty batch gives an empty output and zero weight gradient") {
  Tensor x = zeros({0, 2, 5, 5}, DType::f64);  // no samples
  Tensor w = test::grad_input({3, 2, 3, 3}, 30);
  Tensor y = conv2d(x, w);
  CHECK(y.shape() == Shape{0, 3, 3, 3});
  sum(y).backward();
  CHECK(values(w.grad()) == F64s(54, 0.0));
}

TEST_CASE("conv2d: counts N * C_out * H_out * W_out * C_in/groups * kH * kW multiply-adds") {
  Tensor x = zeros({2, 4, 9, 8});
  Tensor w = zeros({6, 2, 3, 3}, DType::f32).set_requires_grad(true);
  FlopScope forward;
  Tensor y = conv2d(x, w, Tensor(), {{2, 1}, {1, 0}, {1, 1}, 2});  // y: [2, 6, 5, 6]
  const int64_t macs = 2 * 6 * 5 * 6 * 2 * 3 * 3;
  CHECK(forward.count() == macs);
  FlopScope backward;
  y.backward(ones_like(y));  // only the weight needs a gradient: one more GEMM's worth
  CHECK(backward.count() == macs);
  CHECK(w.grad().defined());
}

TEST_CASE("conv2d: the backward ops are the gradients, and differentiable themselves") {
  // conv2d_input_grad is the adjoint of conv2d in x: <conv(x, w), g> == <x, T(g, w)>, and
  // conv2d_weight_grad the adjoint in w: <conv(x, w), g> == <w, W(g, x)>.
  const Conv2dOptions o{{2, 1}, {1, 2}, {1, 2}, 2};
  Tensor x = test::uniform_f64({2, 4, 7, 8}, 40);
  Tensor w = test::uniform_f64({6, 2, 3, 2}, 41);
  Tensor y = conv2d(x, w, Tensor(), o);
  Tensor g = test::uniform_f64(y.shape(), 42);
  const double lhs = sum(y * g).item<double>();
  CHECK(sum(x * conv2d_input_grad(g, w, x.shape(), o)).item<double>() == Approx(lhs).epsilon(1e-12));
  CHECK(sum(w * conv2d_weight_grad(g, x, w.shape(), o)).item<double>() == Approx(lhs).epsilon(1e-12));
}

TEST_CASE("conv2d: the weight gradient is the same bits on every run and for 1 or 2 threads") {
  // The batch's share of the weight gradient is summed in fixed runs of samples, whichever thread
  // takes which run, so that a training run repeats exactly.
  const Tensor x = test::uniform_f32({24, 8, 12, 12}, 60);
  const Tensor grad_out = test::uniform_f32({24, 16, 12, 12}, 61);
  const Conv2dOptions options{.padding = {1, 1}};
  const int previous = num_threads();
  set_num_threads(1);
  const std::vector<float> one_thread = conv2d_weight_grad(grad_out, x, {16, 8, 3, 3}, options).to_vector<float>();
  set_num_threads(2);
  for (int run = 0; run < 5; ++run)
    CHECK(conv2d_weight_grad(grad_out, x, {16, 8, 3, 3}, options).to_vector<float>() == one_thread);
  set_num_threads(previous);
}

TEST_CASE("conv2d: gradients are recorded only for what needs them") {
  Tensor x = test::grad_input({1, 2, 5, 5}, 50);
  Tensor w = test::uniform_f64({3, 2, 3, 3}, 51);  // no grad
  Tensor b = test::grad_input({3}, 52);
  Tensor y = conv2d(x, w, b);
  REQUIRE(y.grad_fn());
  CHECK(y.grad_fn()->name() == "conv2d");
  Tensor loss = sum(y);
  FlopScope scope;
  loss.backward();
  // The input gradient's GEMM, and the bias gradient's sums (27 pixels into [1,3], then the batch).
  CHECK(scope.count() == 1 * 3 * 3 * 3 * 2 * 3 * 3 + 27 + 3);
  CHECK(x.grad().defined());
  CHECK(values(b.grad()) == F64s{9, 9, 9});
  NoGradGuard no_grad;
  CHECK_FALSE(conv2d(x, w, b).requires_grad());
}

// ---------------------------------------------------------------- pooling values

TEST_CASE("max_pool2d: values, indices and gradient routing on a hand-checked plane") {
  // 0..15 on 4x4; 2x2 windows: the max of each is its bottom-right element.
  Tensor x = reshape(arange(0.0, 16.0, 1.0, DType::f64), {1, 1, 4, 4}).set_requires_grad(true);
  auto [y, idx] = max_pool2d_with_indices(x, {{2, 2}});
  CHECK(values(y) == F64s{5, 7, 13, 15});
  CHECK(idx.to_vector<int64_t>() == I64s{5, 7, 13, 15});
  CHECK(values(max_pool2d(x, {{2, 2}})) == F64s{5, 7, 13, 15});
  y.backward(tensor_f64({1, 2, 3, 4}, {1, 1, 2, 2}));
  CHECK(values(x.grad()) == F64s{0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4});
}

TEST_CASE("max_pool2d: padding never wins, overlapping windows add their gradients") {
  // All negative: zero padding would win if padding were read as 0.
  Tensor x = tensor_f64({-5, -1, -3, -4, -9, -2, -8, -7, -6}, {1, 1, 3, 3}).set_requires_grad(true);
  Tensor y = max_pool2d(x, {{3, 3}, {1, 1}, {1, 1}});
  CHECK(values(y) == F64s{-1, -1, -1, -1, -1, -1, -4, -2, -2});
  y.backward(ones_like(y));
  // -1 wins six windows, -4 one, -2 two.
  CHECK(values(x.grad()) == F64s{0, 6, 0, 1, 0, 2, 0, 0, 0});
}

TEST_CASE("max_pool2d: ties go to the first position, NaN wins and propagates") {
  Tensor ties = tensor_f64({2, 2, 2, 2}, {1, 1, 2, 2});
  CHECK(std::get<1>(max_pool2d_with_indices(ties, {{2, 2}})).to_vector<int64_t>() == I64s{0});
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor with_nan = tensor_f64({1, nan, 3, 0}, {1, 1, 2, 2});
  auto [y, idx] = max_pool2d_with_indices(with_nan, {{2, 2}});
  CHECK(std::isnan(y.item<double>()));
  CHECK(idx.item<int64_t>() == 1);
}

TEST_CASE("max_pool2d: stride defaults to the kernel, odd sizes drop the last row and column") {
  Tensor x = reshape(arange(0.0, 25.0, 1.0, DType::f32), {1, 1, 5, 5});
  Tensor y = max_pool2d(x, {{2, 2}});
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  CHECK(values(y) == F64s{6, 8, 16, 18});
  CHECK(max_pool2d(x, {{3, 2}, {1, 3}}).shape() == Shape{1, 1, 3, 2});
}

TEST_CASE("max_pool2d: the 2x2 path keeps the window's row-major order for ties and NaNs") {
  // Hand-picked windows where pairing the columns first or the rows first would differ: the top
  // row's right element comes before the bottom row's left one.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto index_of = [](std::initializer_list<double> window) {
    return std::get<1>(max_pool2d_with_indices(tensor_f64(window, {1, 1, 2, 2}), {{2, 2}}))
        .item<int64_t>();
  };
  CHECK(index_of({1, 5, 5, 1}) == 1);
  CHECK(index_of({1, 1, 5, 5}) == 2);
  CHECK(index_of({5, 1, 1, 5}) == 0);
  CHECK(index_of({1, 3, nan, nan}) == 2);
  CHECK(index_of({1, nan, nan, 1}) == 1);
  CHECK(index_of({nan, 1, 1, nan}) == 0);

  // Against the definition, window by window, on coarse values (many ties) with NaNs, for even
  // planes (one run per plane) and odd ones (a column and a row left over).
  for (const Shape& shape : {Shape{2, 3, 8, 12}, Shape{2, 3, 9, 13}}) {
    std::vector<double> raw = test::hashed_values(numel(shape), 17, 0.0, 3.0);
    for (size_t i = 0; i < raw.size(); ++i) raw[i] = i % 23 == 5 ? nan : std::floor(raw[i]);
    for (DType dtype : {DType::f32, DType::f64}) {
      CAPTURE(shape, dtype);
      auto [y, idx] = max_pool2d_with_indices(to_dtype(from_vector(raw, shape), dtype), {{2, 2}});
      const std::vector<double> got = values(y);
      const std::vector<int64_t> got_at = idx.to_vector<int64_t>();
      const int64_t H = shape[2], W = shape[3], out_h = H / 2, out_w = W / 2;
      for (int64_t p = 0; p < shape[0] * shape[1]; ++p) {
        for (int64_t o = 0; o < out_h * out_w; ++o) {
          const int64_t oh = o / out_w, ow = o % out_w;
          int64_t best_at = 2 * oh * W + 2 * ow;  // the first element, then row-major order
          for (int64_t at : {best_at + 1, best_at + W, best_at + W + 1}) {
            const double v = raw[p * H * W + at], best = raw[p * H * W + best_at];
            if (v > best || (std::isnan(v) && !std::isnan(best))) best_at = at;
          }
          const double expected = raw[p * H * W + best_at];
          const int64_t out = p * out_h * out_w + o;
          CHECK(got_at[out] == best_at);
          CHECK((got[out] == expected || (std::isnan(got[out]) && std::isnan(expected))));
        }
      }
    }
  }
}

TEST_CASE("max_pool2d: without a graph only the maxima are computed, the same as with indices") {
  // Inputs with ties (values rounded to a coarse grid), -inf, and NaN in a few windows, over the
  // 2x2 fast paths (even planes and odd ones), overlapping padded windows and an uneven kernel,
  // f32 and f64, 1 and 2 threads.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  auto input = [&](const Shape& shape) {
    std::vector<double> raw = test::hashed_values(numel(shape), 91, -3.0, 3.0);
    for (double& v : raw) v = std::round(v * 2) / 2;
    raw[7] = nan, raw[200] = -inf, raw[201] = nan, raw[902] = inf, raw[1100] = -inf;
    return from_vector(raw, shape);
  };
  const std::vector<Pool2dOptions> options{
      {{2, 2}}, {{3, 3}, {2, 2}, {1, 1}}, {{3, 2}, {1, 3}}, {{2, 3}, {2, 1}, {1, 1}}};
  // NaN == NaN here: the two passes must agree on where the NaNs went too.
  auto same = [](const Tensor& a, const Tensor& b) {
    const std::vector<double> va = values(a), vb = values(b);
    if (va.size() != vb.size()) return false;
    for (size_t i = 0; i < va.size(); ++i)
      if (!(va[i] == vb[i] || (std::isnan(va[i]) && std::isnan(vb[i])))) return false;
    return true;
  };
  const int saved_threads = num_threads();
  std::vector<Tensor> inputs;
  for (const Shape& shape : {Shape{2, 5, 13, 11}, Shape{2, 5, 12, 10}})
    for (DType dtype : {DType::f32, DType::f64}) inputs.push_back(to_dtype(input(shape), dtype));
  for (const Tensor& x : inputs) {
    for (const Pool2dOptions& o : options) {
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        CAPTURE(x.shape(), x.dtype(), o.kernel, o.stride, o.padding, threads);
        const Tensor with_indices = std::get<0>(max_pool2d_with_indices(x, o));
        const Tensor maxima = max_pool2d(x, o);
        CHECK(same(maxima, with_indices));
      }
    }
  }
  set_num_threads(saved_threads);
  // The NaN windows really hold NaN (the comparison above would also pass if neither did).
  CHECK(std::isnan(max_pool2d(input({2, 5, 13, 11}), {{2, 2}}).to_vector<double>()[3]));
  CHECK(std::isnan(max_pool2d(input({2, 5, 12, 10}), {{2, 2}}).to_vector<double>()[3]));
}

TEST_CASE("avg_pool2d: padding counts in the average (count_include_pad)") {
  Tensor x = full({1, 1, 2, 2}, 4.0, DType::f64).set_requires_grad(true);
  // 3x3 windows with padding 1 over a 2x2 plane: each window holds all four 4s and five zeros of
  // padding, and divides by 9.
  Tensor y = avg_pool2d(x, {{3, 3}, {1, 1}, {1, 1}});
  CHECK(values(y) == F64s{16.0 / 9, 16.0 / 9, 16.0 / 9, 16.0 / 9});
  y.backward(ones_like(y));
  CHECK(values(x.grad()) == F64s{4.0 / 9, 4.0 / 9, 4.0 / 9, 4.0 / 9});
  Tensor counting = reshape(arange(0.0, 16.0, 1.0, DType::f64), {1, 1, 4, 4});
  CHECK(values(avg_pool2d(counting, {{2, 2}})) == F64s{2.5, 4.5, 10.5, 12.5});
}

TEST_CASE("adaptive_avg_pool2d: PyTorch's bins for non-divisible sizes") {
  // 5 -> 3 bins: [0,2), [1,4), [3,5).  7 -> 2 bins: [0,4), [3,7).
  Tensor x = reshape(arange(0.0, 35.0, 1.0, DType::f64), {1, 1, 5, 7}).set_requires_grad(true);
  Tensor y = adaptive_avg_pool2d(x, {3, 2});
  auto mean_of = [](int h0, int h1, int w0, int w1) {
    double s = 0;
    for (int h = h0; h < h1; ++h)
      for (int w = w0; w < w1; ++w) s += h * 7 + w;
    return s / ((h1 - h0) * (w1 - w0));
  };
  const F64s expected{mean_of(0, 2, 0, 4), mean_of(0, 2, 3, 7), mean_of(1, 4, 0, 4),
                      mean_of(1, 4, 3, 7), mean_of(3, 5, 0, 4), mean_of(3, 5, 3, 7)};
  CHECK(max_diff(values(y), expected) < 1e-13);
  // Row 1 and column 3 sit in two bins each: their gradients add.
  y.backward(ones_like(y));
  const F64s g = values(x.grad());
  CHECK(g[0 * 7 + 0] == Approx(1.0 / 8));
  CHECK(g[1 * 7 + 0] == Approx(1.0 / 8 + 1.0 / 12));
  CHECK(g[1 * 7 + 3] == Approx(2.0 / 8 + 2.0 / 12));
}

TEST_CASE("adaptive_avg_pool2d: {1, 1} is the global average, and output may exceed the input") {
  Tensor x = test::uniform_f64({3, 4, 9, 11}, 60);
  CHECK(max_abs_diff(adaptive_avg_pool2d(x, {1, 1}), mean(x, {2, 3}, true)) < 1e-14);
  Tensor xf = test::uniform_f32({2, 64, 30, 30}, 61);  // big enough for the parallel path
  CHECK(max_abs_diff(adaptive_avg_pool2d(xf, {1, 1}), mean(xf, {2, 3}, true)) < 1e-5);
  // 2 -> 4 bins: [0,1), [0,1), [1,2), [1,2).
  Tensor up = adaptive_avg_pool2d(tensor_f64({1, 2}, {1, 1, 1, 2}), {1, 4});
  CHECK(values(up) == F64s{1, 1, 2, 2});
}

TEST_CASE("pooling: big inputs on the parallel path agree with small per-plane calls") {
  Tensor x = test::uniform_f32({4, 32, 16, 16}, 70);
  const Pool2dOptions o{{3, 3}, {2, 2}, {1, 1}};
  Tensor max_all = max_pool2d(x, o), avg_all = avg_pool2d(x, o);
  for (int64_t n : {0, 3}) {
    Tensor plane = narrow(x, 0, n, 1);
    CHECK(max_abs_diff(narrow(max_all, 0, n, 1), max_pool2d(plane, o)) == 0);
    CHECK(max_abs_diff(narrow(avg_all, 0, n, 1), avg_pool2d(plane, o)) == 0);
  }
}

TEST_CASE("pooling: FLOPs count the input elements the windows read") {
  Tensor x = zeros({2, 3, 4, 4});
  FlopScope max_scope;
  max_pool2d(x, {{2, 2}});
  CHECK(max_scope.count() == 2 * 3 * 16);
  FlopScope padded;
  avg_pool2d(x, {{3, 3}, {1, 1}, {1, 1}});  // row spans 2,3,3,2 = 10 per axis
  CHECK(padded.count() == 2 * 3 * 10 * 10);
  FlopScope global;
  adaptive_avg_pool2d(x, {1, 1});
  CHECK(global.count() == 2 * 3 * 16);
}

// ---------------------------------------------------------------- PyTorch golden values

TEST_CASE("conv and pooling match PyTorch (tests/reference/conv_golden.txt)", "[reference]") {
  auto pair_attr = [](const test::GoldenCase& c, const std::string& key) {
    const std::vector<int64_t> v = c.attr_ints(key);
    REQUIRE(v.size() == 2);
    return std::array<int64_t, 2>{v[0], v[1]};
  };
  const std::vector<test::GoldenCase> cases = test::read_golden("conv_golden.txt");
  REQUIRE(cases.size() >= 20);
  for (const test::GoldenCase& c : cases) {
    DYNAMIC_SECTION(c.name) {
      std::map<std::string, Tensor> in;
      std::vector<Tensor> wrt;
      for (const test::GoldenTensor& t : c.inputs) {
        Tensor leaf = t.to_tensor();
        if (test::GoldenCase::find(c.grads, t.name)) leaf.set_requires_grad(true);
        in.emplace(t.name, leaf);
      }
      for (const test::GoldenTensor& g : c.grads) wrt.push_back(in.at(g.name));

      std::map<std::string, Tensor> out;
      if (c.op == "conv2d") {
        const Conv2dOptions o{pair_attr(c, "stride"), pair_attr(c, "padding"),
                              pair_attr(c, "dilation"), c.attr_int("groups")};
        out["out"] = conv2d(in.at("x"), in.at("w"), in.count("b") ? in.at("b") : Tensor(), o);
      } else if (c.op == "max_pool2d") {
        auto [y, idx] = max_pool2d_with_indices(
            in.at("x"), {pair_attr(c, "kernel"), pair_attr(c, "stride"), pair_attr(c, "padding")});
        out["out"] = y;
        out["indices"] = idx;
      } else if (c.op == "avg_pool2d") {
        out["out"] = avg_pool2d(
            in.at("x"), {pair_attr(c, "kernel"), pair_attr(c, "stride"), pair_attr(c, "padding")});
      } else {
        REQUIRE(c.op == "adaptive_avg_pool2d");
        out["out"] = adaptive_avg_pool2d(in.at("x"), pair_attr(c, "output_size"));
      }

      auto check_close = [](const Tensor& actual, const test::GoldenTensor& expected) {
        INFO(expected.name);
        REQUIRE(actual.shape() == expected.shape);
        REQUIRE(actual.dtype() == expected.dtype);
        const double tol = expected.dtype == DType::f64   ? 1e-12
                           : expected.dtype == DType::f32 ? 1e-5
                                                          : 0.0;
        CHECK(max_diff(values(actual), expected.values) <= tol);
      };
      for (const test::GoldenTensor& expected : c.outputs) check_close(out.at(expected.name), expected);
      if (!c.grads.empty()) {
        std::vector<Tensor> projected, projections;
        for (const test::GoldenTensor& v : c.projections) {
          projected.push_back(out.at(v.name));
          projections.push_back(v.to_tensor());
        }
        const std::vector<Tensor> grads = grad(projected, wrt, projections);
        for (size_t i = 0; i < grads.size(); ++i) check_close(grads[i], c.grads[i]);
      }
    }
  }
}

// ---------------------------------------------------------------- errors

TEST_CASE("conv2d: error messages name the op, the shapes and the mistake") {
  Tensor x = zeros({2, 3, 8, 8});
  CHECK_THROWS_WITH(conv2d(zeros({3, 8, 8}), zeros({4, 3, 3, 3})),
                    Contains("conv2d: input must be 4-D [N, C_in, H, W], got shape [3,8,8]"));
  CHECK_THROWS_WITH(conv2d(x, zeros({4, 3, 3})),
                    Contains("conv2d: weight must be 4-D [C_out, C_in / groups, kH, kW], got shape [4,3,3]"));
  CHECK_THROWS_WITH(conv2d(x, zeros({4, 2, 3, 3})),
                    Contains("conv2d: input [2,3,8,8] has 3 channels, weight [4,2,3,3] with groups 1 expects 2"));
  CHECK_THROWS_WITH(conv2d(x, zeros({4, 1, 3, 3}), Tensor(), {.groups = 2}),
                    Contains("conv2d: input [2,3,8,8] has 3 channels, not divisible by groups 2"));
  CHECK_THROWS_WITH(conv2d(zeros({2, 4, 8, 8}), zeros({5, 2, 3, 3}), Tensor(), {.groups = 2}),
                    Contains("conv2d: weight [5,2,3,3] has 5 output channels, not divisible by groups 2"));
  CHECK_THROWS_WITH(conv2d(zeros({1, 3, 4, 4}), zeros({2, 3, 5, 5}), Tensor(), {.padding = {0, 1}}),
                    Contains("conv2d: kernel 5x5 with dilation 1x1 spans 5x5, larger than the padded "
                                    "input 4x6 (input [1,3,4,4], padding 0x1)"));
  CHECK_THROWS_WITH(conv2d(zeros({1, 3, 5, 5}), zeros({2, 3, 3, 3}), Tensor(), {.dilation = {3, 1}}),
                    Contains("kernel 3x3 with dilation 3x1 spans 7x3, larger than the padded input 5x5"));
  CHECK_THROWS_WITH(conv2d(x, zeros({4, 3, 3, 3}, DType::f64)),
                    Contains("conv2d: dtype mismatch: f32 [2,3,8,8] and f64 [4,3,3,3]"));
  CHECK_THROWS_WITH(conv2d(x, zeros({4, 3, 3, 3}), zeros({4}, DType::f64)),
                    Contains("conv2d: dtype mismatch"));
  CHECK_THROWS_WITH(conv2d(zeros({2, 3, 8, 8}, DType::i64), zeros({4, 3, 3, 3}, DType::i64)),
                    Contains("conv2d: expected a floating tensor"));
  CHECK_THROWS_WITH(conv2d(x, zeros({4, 3, 3, 3}), zeros({3})),
                    Contains("conv2d: bias must be [4] (one value per output channel of weight "
                             "[4,3,3,3]), got shape [3]"));
  CHECK_THROWS_WITH(conv2d(x, zeros({4, 3, 3, 3}), Tensor(), {.stride = {0, 1}}),
                    Contains("conv2d: stride must be positive, got 0x1"));
  CHECK_THROWS_WITH(conv2d(x, zeros({4, 3, 3, 3}), Tensor(), {.padding = {-1, 0}}),
                    Contains("conv2d: padding must be non-negative, got -1x0"));
  CHECK_THROWS_WITH(conv2d(x, zeros({4, 3, 3, 3}), Tensor(), {.dilation = {1, 0}}),
                    Contains("conv2d: dilation must be positive, got 1x0"));
  CHECK_THROWS_WITH(conv2d(x, zeros({4, 3, 3, 3}), Tensor(), {.groups = 0}),
                    Contains("conv2d: groups must be positive, got 0"));
  CHECK_THROWS_WITH(conv2d(x, zeros({4, 0, 3, 3})), Contains("conv2d: weight [4,0,3,3] has an empty dim"));
  CHECK_THROWS_WITH(conv2d(zeros({2, 3, 0, 8}), zeros({4, 3, 1, 1})),
                    Contains("conv2d: input [2,3,0,8] has an empty spatial dim"));
}

TEST_CASE("conv2d backward ops: error messages") {
  CHECK_THROWS_WITH(conv2d_input_grad(zeros({2, 4, 5, 5}), zeros({4, 3, 3, 3}), {2, 3, 8, 8}),
                    Contains("conv2d_input_grad: grad_out has shape [2,4,5,5], expected [2,4,6,6] "
                                    "(the conv2d output for input [2,3,8,8] and weight [4,3,3,3])"));
  CHECK_THROWS_WITH(conv2d_weight_grad(zeros({2, 4, 6, 6}), zeros({2, 3, 8, 8}), {4, 2, 3, 3}),
                    Contains("conv2d_weight_grad: input [2,3,8,8] has 3 channels, weight [4,2,3,3] with "
                                    "groups 1 expects 2"));
  CHECK_THROWS_WITH(conv2d_weight_grad(zeros({2, 4, 6, 6}), zeros({2, 3, 8, 8}, DType::f64), {4, 3, 3, 3}),
                    Contains("conv2d_weight_grad: dtype mismatch"));
}

TEST_CASE("pooling: error messages name the op, the shapes and the mistake") {
  Tensor x = zeros({2, 3, 6, 6});
  CHECK_THROWS_WITH(max_pool2d(zeros({3, 6, 6}), {{2, 2}}),
                    Contains("max_pool2d: input must be 4-D [N, C, H, W], got shape [3,6,6]"));
  CHECK_THROWS_WITH(avg_pool2d(x, {{0, 2}}), Contains("avg_pool2d: kernel must be positive, got 0x2"));
  CHECK_THROWS_WITH(max_pool2d(x, {{2, 2}, {-1, 1}}),
                    Contains("max_pool2d: stride must be positive (or 0 for the kernel size), got -1x1"));
  CHECK_THROWS_WITH(max_pool2d(x, {{3, 3}, {1, 1}, {2, 1}}),
                    Contains("max_pool2d: padding 2x1 must be at most half the kernel 3x3"));
  CHECK_THROWS_WITH(avg_pool2d(x, {{7, 2}}),
                    Contains("avg_pool2d: kernel 7x2 is larger than the padded input 6x6 (input [2,3,6,6], "
                                    "padding 0x0)"));
  CHECK_THROWS_WITH(max_pool2d(zeros({1, 1, 4, 4}, DType::i64), {{2, 2}}),
                    Contains("max_pool2d: expected a floating tensor"));
  CHECK_THROWS_WITH(adaptive_avg_pool2d(x, {0, 3}),
                    Contains("adaptive_avg_pool2d: output size must be positive, got 0x3"));
  CHECK_THROWS_WITH(adaptive_avg_pool2d(zeros({6, 6}), {2, 2}),
                    Contains("adaptive_avg_pool2d: input must be 4-D [N, C, H, W], got shape [6,6]"));
}

TEST_CASE("pooling backward ops: shape, dtype and index checks") {
  Tensor g = zeros({1, 2, 2, 2});
  CHECK_THROWS_WITH(max_pool2d_backward(g, zeros({1, 2, 2, 2}), {1, 2, 4, 4}),
                    Contains("max_pool2d_backward: indices of shape [1,2,2,2] have dtype f32, expected i64"));
  CHECK_THROWS_WITH(max_pool2d_backward(g, zeros({1, 2, 2, 2}, DType::i64) + 16.0, {1, 2, 4, 4}),
                    Contains("max_pool2d_backward: index 16 out of range for an input plane of 4x4"));
  CHECK_THROWS_WITH(max_pool2d_backward(g, zeros({1, 2, 2, 2}, DType::i64) - 1.0, {1, 2, 4, 4}),
                    Contains("index -1 out of range"));
  CHECK_THROWS_WITH(max_pool2d_backward(g, zeros({1, 2, 2, 1}, DType::i64), {1, 2, 4, 4}),
                    Contains("max_pool2d_backward: indices have shape [1,2,2,1] but grad_out has shape [1,2,2,2]"));
  CHECK_THROWS_WITH(max_pool2d_backward(g, zeros({1, 2, 2, 2}, DType::i64), {1, 3, 4, 4}),
                    Contains("max_pool2d_backward: grad_out has shape [1,2,2,2], expected [1, 3, H_out, W_out]"));
  CHECK_THROWS_WITH(avg_pool2d_backward(g, {1, 2, 5, 5}, {{3, 3}}),
                    Contains("avg_pool2d_backward: grad_out has shape [1,2,2,2], expected [1,2,1,1] (the "
                                    "pooled output of input [1,2,5,5])"));
  CHECK_THROWS_WITH(adaptive_avg_pool2d_backward(zeros({2, 2}), {1, 2, 4, 4}),
                    Contains("adaptive_avg_pool2d_backward: grad_out must be 4-D"));
  // A valid call routes each gradient to its index, adding duplicates.
  Tensor routed = max_pool2d_backward(tensor({1, 2, 3, 4}, {1, 1, 2, 2}),
                                      tensor_i64({5, 5, 0, 15}, {1, 1, 2, 2}), {1, 1, 4, 4});
  CHECK(values(routed) == F64s{3, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4});
}

TEST_CASE("geometry pairs: one value stands for both dims in every op that takes pairs") {
  const Tensor x = test::uniform_f64({1, 2, 7, 9}, 71);
  const Tensor w = test::uniform_f64({3, 2, 3, 3}, 72);
  // A single-element brace, a plain value and the explicit pair all mean (v, v).
  CHECK(max_abs_diff(avg_pool2d(x, {.kernel = {3, 3}, .stride = {2}}),
                     avg_pool2d(x, {.kernel = {3, 3}, .stride = {2, 2}})) == 0.0);
  CHECK(avg_pool2d(x, {.kernel = {3, 3}, .stride = {2}}).shape() == Shape{1, 2, 3, 4});
  CHECK(max_abs_diff(max_pool2d(x, {.kernel = 3, .stride = 2, .padding = {1}}),
                     max_pool2d(x, {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}})) == 0.0);
  CHECK(max_abs_diff(conv2d(x, w, Tensor(), {.padding = {1}}),
                     conv2d(x, w, Tensor(), {.padding = {1, 1}})) == 0.0);
  CHECK(conv2d(x, w, Tensor(), {.stride = {2}, .padding = {1}}).shape() == Shape{1, 3, 4, 5});
  CHECK(adaptive_avg_pool2d(x, {1}).shape() == Shape{1, 2, 1, 1});
  // Two values stay two.
  CHECK(avg_pool2d(x, {.kernel = {3, 3}, .stride = {2, 3}}).shape() == Shape{1, 2, 3, 3});
  const nn::Conv2d layer(2, 3, {3}, {.padding = 1});
  CHECK(layer.kernel_size == std::array<int64_t, 2>{3, 3});
}
