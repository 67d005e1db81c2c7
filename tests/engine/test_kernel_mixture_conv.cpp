// Tests of kernel_mixture_conv2d (engine/ops/conv.cpp, engine/cpu/conv_kernels.cpp), the fused
// inference kernel of dynamic convolution: against a reference that builds every sample's kernel
// with plain loops and convolves each sample on its own with conv2d (itself tested against a naive
// loop in test_conv.cpp), over stride, padding, dilation, groups, depthwise, 1x1, biases, batch 1
// and batches big enough for the threaded path, with and without a base kernel, in f64 and f32 on
// one and two threads, and the composition the op falls back to where a backend has no fused
// kernel; the order semantics of positions; its FLOP count; and its refusals (no
// backward, out-of-range positions, mis-shaped operands).
#include <algorithm>

#include "engine/autograd.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "engine/cpu/parallel.h"
#include "tests/engine/test_util.h"

using namespace dg;
using dg::test::max_abs_diff;
using Catch::Contains;

namespace {

struct Case {
  int64_t n, c_in, c_out, h, w, kernel;
  Conv2dOptions options;
  bool bias;
};

// Every sample convolved on its own with its kernel built by hand.
Tensor reference(const Tensor& x, const Tensor& mixing, const Tensor& factors, const Tensor& biases,
                 const Conv2dOptions& options, const Shape& kernel_shape, const Tensor& base,
                 const std::vector<int64_t>& positions) {
  const int64_t n = x.shape()[0], k = mixing.shape()[1], m = numel(kernel_shape);
  const std::vector<double> w = mixing.to_vector<double>(), f = factors.to_vector<double>();
  const int64_t d = base.defined() ? static_cast<int64_t>(positions.size()) : m;
  std::vector<Tensor> outputs;
  for (int64_t s = 0; s < n; ++s) {
    std::vector<double> mixed(d, 0.0);
    for (int64_t i = 0; i < d; ++i)
      for (int64_t j = 0; j < k; ++j) mixed[i] += w[s * k + j] * f[j * d + i];
    std::vector<double> kernel = base.defined() ? base.to_vector<double>() : mixed;
    if (base.defined())
      for (int64_t i = 0; i < d; ++i) kernel[positions[i]] = mixed[i];
    const Tensor kernel_tensor = to_dtype(from_vector(kernel, kernel_shape), x.dtype());
    outputs.push_back(conv2d(narrow(x, 0, s, 1), kernel_tensor,
                             biases.defined() ? select(biases, 0, s) : Tensor(), options));
  }
  return cat(outputs, 0);
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {3, 4, 6, 5, 5, 3, {.padding = {1, 1}}, false},
      {1, 4, 6, 7, 7, 3, {.stride = {2, 2}, .padding = {1, 1}}, true},
      {5, 6, 6, 6, 6, 3, {.padding = {2, 2}, .dilation = {2, 2}, .groups = 3}, true},
      {4, 8, 8, 6, 6, 3, {.padding = {1, 1}, .groups = 8}, false},  // depthwise
      {2, 4, 8, 5, 5, 1, {}, true},                                   // pointwise: no columns
      {16, 16, 16, 8, 8, 3, {.padding = {1, 1}}, true},               // enough work for threads
  };
  return all;
}

void check_case(const Case& c, DType dtype, bool placed, uint64_t seed) {
  const int64_t K = 3;
  const Shape kernel_shape{c.c_out, c.c_in / c.options.groups, c.kernel, c.kernel};
  const int64_t m = numel(kernel_shape);
  const Tensor x = to_dtype(test::uniform_f64({c.n, c.c_in, c.h, c.w}, seed), dtype);
  const Tensor mixing = to_dtype(test::uniform_f64({c.n, K}, seed + 1, 0.0, 1.0), dtype);
  const Tensor biases = c.bias ? to_dtype(test::uniform_f64({c.n, c.c_out}, seed + 2), dtype) : Tensor();
  Tensor base, positions_tensor, factors;
  std::vector<int64_t> positions;
  if (placed) {
    positions = test::increasing_positions(m, 0.3, seed + 3);
    const int64_t d = static_cast<int64_t>(positions.size());
    base = to_dtype(test::uniform_f64(kernel_shape, seed + 4), dtype);
    positions_tensor = from_vector(positions, {d});
    factors = to_dtype(test::uniform_f64({K, d}, seed + 5), dtype);
  } else {
    Shape stacked{K};
    for (int64_t s : kernel_shape) stacked.push_back(s);
    factors = to_dtype(test::uniform_f64(stacked, seed + 5), dtype);
  }
  const Tensor expected = reference(x, mixing, placed ? reshape(factors, {K, -1}) : reshape(factors, {K, m}),
                                    biases, c.options, kernel_shape, base, positions);
  const Tensor got = kernel_mixture_conv2d(x, mixing, factors, biases, c.options, base, positions_tensor);
  REQUIRE(got.shape() == expected.shape());
  CHECK(got.dtype() == dtype);
  CHECK(max_abs_diff(got, expected) < (dtype == DType::f64 ? 1e-12 : 2e-5));
  // The composition the op falls back to on a backend without the fused kernel.
  const Tensor composed = detail::composed_kernel_mixture_conv2d(x, mixing, factors, biases, c.options,
                                                                 base, positions_tensor);
  REQUIRE(composed.shape() == expected.shape());
  CHECK(max_abs_diff(composed, expected) < (dtype == DType::f64 ? 1e-12 : 2e-5));
}

}  // namespace

TEST_CASE("kernel_mixture_conv2d: equals each sample convolved with its own mixed kernel") {
  const int previous = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    uint64_t seed = 100;
    for (const Case& c : cases())
      for (DType dtype : {DType::f64, DType::f32})
        for (bool placed : {false, true}) {
          INFO("threads " << threads << ", case N=" << c.n << " C_in=" << c.c_in << " groups="
                          << c.options.groups << ", " << dtype_name(dtype)
                          << (placed ? ", base kernel" : ""));
          check_case(c, dtype, placed, seed += 10);
        }
  }
  set_num_threads(previous);
}

TEST_CASE("kernel_mixture_conv2d: positions are taken in the given order, and none leaves the base") {
  const Shape kernel_shape{4, 2, 3, 3};
  const int64_t m = numel(kernel_shape), K = 2;
  const Tensor x = test::uniform_f64({3, 2, 5, 5}, 1);
  const Tensor mixing = test::uniform_f64({3, K}, 2, 0.0, 1.0);
  const Tensor stacked = test::uniform_f64({K, 4, 2, 3, 3}, 3);
  const Tensor base = test::uniform_f64(kernel_shape, 4);
  const Conv2dOptions options{.padding = {1, 1}};
  // Every position, listed backwards, with the factors listed backwards too: the plain mixture.
  std::vector<int64_t> backwards(m);
  for (int64_t j = 0; j < m; ++j) backwards[j] = m - 1 - j;
  const Tensor reversed_factors = index_select(reshape(stacked, {K, m}), 1, from_vector(backwards, {m}));
  const Tensor plain = kernel_mixture_conv2d(x, mixing, stacked, Tensor(), options);
  const Tensor placed = kernel_mixture_conv2d(x, mixing, reversed_factors, Tensor(), options, base,
                                              from_vector(backwards, {m}));
  CHECK(max_abs_diff(placed, plain) < 1e-12);
  // No position: every sample is convolved with the base kernel.
  const Tensor none = kernel_mixture_conv2d(x, mixing, zeros({K, 0}, DType::f64), Tensor(), options,
                                            base, zeros({0}, DType::i64));
  CHECK(max_abs_diff(none, conv2d(x, base, Tensor(), options)) < 1e-12);
}

TEST_CASE("kernel_mixture_conv2d: counts the convolution's multiply-adds plus K per mixed value") {
  const Tensor x = zeros({2, 4, 6, 6});
  const Tensor mixing = zeros({2, 3});
  FlopScope plain_scope;
  kernel_mixture_conv2d(x, mixing, zeros({3, 5, 4, 3, 3}), Tensor(), {.padding = {1, 1}});
  const int64_t conv_macs = 2 * 5 * 6 * 6 * 4 * 3 * 3;
  CHECK(plain_scope.count() == conv_macs + 2 * 3 * (5 * 4 * 3 * 3));
  FlopScope placed_scope;
  kernel_mixture_conv2d(x, mixing, zeros({3, 7}), Tensor(), {.padding = {1, 1}}, zeros({5, 4, 3, 3}),
                        from_vector(std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}, {7}));
  CHECK(placed_scope.count() == conv_macs + 2 * 3 * 7);
  // One sample, two groups (the kernel's batch-1 path, which splits the groups over threads):
  // 6 output channels x (2 input channels x 3 x 3) x 5 x 5 pixels, and K = 2 per mixed value.
  FlopScope grouped_scope;
  kernel_mixture_conv2d(zeros({1, 4, 5, 5}), zeros({1, 2}), zeros({2, 6, 2, 3, 3}), Tensor(),
                        {.padding = {1, 1}, .groups = 2});
  CHECK(grouped_scope.count() == 6 * 2 * 9 * 25 + 2 * (6 * 2 * 9));
}

TEST_CASE("kernel_mixture_conv2d: refuses to run where a gradient would be recorded") {
  Tensor x = zeros({2, 4, 6, 6});
  Tensor stacked = zeros({3, 5, 4, 3, 3});
  stacked.set_requires_grad(true);
  CHECK_THROWS_WITH(kernel_mixture_conv2d(x, zeros({2, 3}), stacked, Tensor(), {}),
                    Contains("kernel_mixture_conv2d: has no backward"));
  NoGradGuard no_grad;
  CHECK(kernel_mixture_conv2d(x, zeros({2, 3}), stacked, Tensor(), {}).shape() == Shape{2, 5, 4, 4});
}

TEST_CASE("kernel_mixture_conv2d: error messages name the op, the shapes and the mistake") {
  const Tensor x = zeros({2, 4, 6, 6});
  const Tensor mixing = zeros({2, 3});
  const Tensor base = zeros({5, 4, 3, 3});
  CHECK_THROWS_WITH(kernel_mixture_conv2d(x, zeros({3, 3}), zeros({3, 5, 4, 3, 3}), Tensor(), {}),
                    Contains("kernel_mixture_conv2d: mixing must be [N, K] with N = 2 (input [2,4,6,6]), got shape [3,3]"));
  CHECK_THROWS_WITH(kernel_mixture_conv2d(x, mixing, zeros({2, 5, 4, 3, 3}), Tensor(), {}),
                    Contains("factors must be [K, C_out, C_in / groups, kH, kW] with K = 3"));
  CHECK_THROWS_WITH(kernel_mixture_conv2d(x, mixing, zeros({3, 5, 4, 3, 3}), zeros({2, 4}), {}),
                    Contains("kernel_mixture_conv2d: biases must be [N, C_out] = [2, 5], got shape [2,4]"));
  CHECK_THROWS_WITH(kernel_mixture_conv2d(x, mixing, zeros({3, 5, 3, 3, 3}), Tensor(), {}),
                    Contains("kernel_mixture_conv2d: input [2,4,6,6] has 4 channels, weight [5,3,3,3]"));
  CHECK_THROWS_WITH(kernel_mixture_conv2d(x, mixing, zeros({3, 2}), Tensor(), {}, base,
                                          from_vector(std::vector<int64_t>{0, 180}, {2})),
                    Contains("kernel_mixture_conv2d: position 180 out of range for a base kernel [5,4,3,3] of 180 elements"));
  CHECK_THROWS_WITH(kernel_mixture_conv2d(x, mixing, zeros({3, 2}), Tensor(), {}, base,
                                          from_vector(std::vector<int64_t>{-1, 3}, {2})),
                    Contains("position -1 out of range"));
  CHECK_THROWS_WITH(kernel_mixture_conv2d(x, mixing, zeros({3, 3}), Tensor(), {}, base,
                                          from_vector(std::vector<int64_t>{0, 1}, {2})),
                    Contains("kernel_mixture_conv2d: factors must be [K, D] = [3, 2]"));
  CHECK_THROWS_WITH(kernel_mixture_conv2d(x, mixing, zeros({3, 2}), Tensor(), {}, base, zeros({2})),
                    Contains("kernel_mixture_conv2d: with a base kernel, positions must be a 1-D i64 tensor"));
  CHECK_THROWS_WITH(kernel_mixture_conv2d(x, mixing, zeros({3, 5, 4, 3, 3}), Tensor(), {}, Tensor(),
                                          from_vector(std::vector<int64_t>{0}, {1})),
                    Contains("kernel_mixture_conv2d: positions given without a base kernel"));
}
