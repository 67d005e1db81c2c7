// Tests of the packed-weight inference path of linear (engine/cpu/fast/packed_linear.cpp): against a
// float64 reference over shapes that exercise every edge of the tiling (row tails of 1-5, a partial
// last panel, inner dims across the 256 block, rows across the 96-row block, a strided input);
// that the weight is packed on its second call and not before; that any write to the weight, a
// replaced view or another view of the same storage is never served stale panels; the same bits
// on one and two threads; the FLOP count; that a recorded graph never takes this path; and the
// relu / residual epilogue of linear(input, weight, bias, epilogue), applied in the tile's last
// store (no tensors of its own), against the composed ops.
#include <thread>
#include <vector>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "engine/cpu/parallel.h"
#include "tests/engine/test_util.h"

using namespace dg;
using dg::test::max_abs_diff;
using dg::test::uniform_f32;

namespace {

// rows @ weight^T + bias in float64 (matmul in f64 is BLAS dgemm, tested in test_matmul.cpp).
Tensor reference(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  NoGradGuard no_grad;
  Tensor out = matmul(to_dtype(x, DType::f64), transpose(to_dtype(weight, DType::f64), 0, 1));
  if (bias.defined()) out = out + to_dtype(bias, DType::f64);
  return out;
}

// Calls linear twice under no-grad (the second call is the packed one) and returns that result.
Tensor packed_linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  NoGradGuard no_grad;
  linear(x, weight, bias);
  return linear(x, weight, bias);
}

}  // namespace

TEST_CASE("packed linear matches a float64 reference over the tiling's edges",
          "[packed_linear]") {
  struct Case {
    int64_t rows, in_features, out_features;
    bool bias;
  };
  const std::vector<Case> cases{
      {8, 1, 16, true},      {8, 5, 16, false},     {9, 7, 17, true},      {13, 32, 37, true},
      {64, 128, 384, true},  {64, 512, 128, false}, {100, 300, 33, true},  {200, 257, 64, true},
      {11, 3, 1, true},      {96, 16, 80, false},   {97, 64, 48, true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.rows, c.in_features, c.out_features, c.bias);
    const Tensor x = uniform_f32({c.rows, c.in_features}, 1);
    const Tensor weight = uniform_f32({c.out_features, c.in_features}, 2);
    const Tensor bias = c.bias ? uniform_f32({c.out_features}, 3) : Tensor();
    const Tensor out = packed_linear(x, weight, bias);
    REQUIRE(cpu::holds_packed_weight(weight));
    // float32 sums of up to 512 products of values in [-1, 1).
    REQUIRE(max_abs_diff(out, reference(x, weight, bias)) < 2e-5 * std::sqrt(c.in_features + 1.0));
  }
}

TEST_CASE("packed linear applies relu and a residual in its last store", "[packed_linear]") {
  // Partial last panels, inner dims of one and of two 256-blocks (the epilogue must act once, on
  // the finished sum: relu on a partial sum would clip it), row tails, and a residual whose rows
  // are further apart than the output's.
  struct Case {
    int64_t rows, in_features, out_features;
  };
  const std::vector<Case> cases{{8, 5, 16}, {13, 32, 37}, {64, 128, 512}, {64, 512, 128}, {97, 300, 33}};
  for (const Case& c : cases) {
    for (int variant = 0; variant < 3; ++variant) {
      const bool relu = variant != 1, with_residual = variant != 0;
      CAPTURE(c.rows, c.in_features, c.out_features, relu, with_residual);
      const Tensor x = uniform_f32({c.rows, c.in_features}, 21);
      const Tensor weight = uniform_f32({c.out_features, c.in_features}, 22);
      const Tensor bias = uniform_f32({c.out_features}, 23);
      const Tensor residual =
          with_residual ? narrow(uniform_f32({c.rows, c.out_features + 5}, 24), 1, 2, c.out_features)
                        : Tensor();
      Tensor expected = reference(x, weight, bias);
      if (relu) expected = dg::relu(expected);
      if (with_residual) expected = expected + to_dtype(residual, DType::f64);
      NoGradGuard no_grad;
      const LinearEpilogue epilogue{.relu = relu, .residual = residual};
      linear(x, weight, bias, epilogue);  // packs the weight
      REQUIRE(cpu::holds_packed_weight(weight));
      const AllocatorStats before = CpuAllocator::stats();
      const Tensor out = linear(x, weight, bias, epilogue);
      const AllocatorStats after = CpuAllocator::stats();
      // One buffer, the output: relu and the residual made no tensors of their own.
      CHECK(after.malloc_calls + after.cache_hits - before.malloc_calls - before.cache_hits == 1);
      CHECK(max_abs_diff(out, expected) < 2e-5 * std::sqrt(c.in_features + 1.0));
    }
  }
}

TEST_CASE("linear with an epilogue: leading dims, the composed path when recorded or declined",
          "[packed_linear]") {
  const Tensor x = uniform_f32({2, 12, 40}, 31), weight = uniform_f32({24, 40}, 32);
  const Tensor bias = uniform_f32({24}, 33), residual = uniform_f32({2, 12, 24}, 34);
  const Tensor composed = residual + dg::relu(linear(x, weight, bias));
  {
    NoGradGuard no_grad;
    linear(x, weight, bias, {.relu = true, .residual = residual});
    const Tensor fused = linear(x, weight, bias, {.relu = true, .residual = residual});
    CHECK(fused.shape() == Shape{2, 12, 24});
    CHECK(max_abs_diff(fused, composed) < 1e-5);
    // A residual the tile cannot read row by row (a transposed view) is declined: composed.
    const Tensor transposed = transpose(transpose(residual, 1, 2).contiguous(), 1, 2);
    REQUIRE_FALSE(transposed.is_contiguous());
    CHECK(max_abs_diff(linear(x, weight, bias, {.residual = transposed}),
                       residual + linear(x, weight, bias)) < 1e-5);
  }
  // Recorded: the composition, with gradients for every operand including the residual.
  const Tensor residual_leaf = clone(residual).set_requires_grad(true);
  const Tensor out = linear(x, weight, bias, {.relu = true, .residual = residual_leaf});
  REQUIRE(out.requires_grad());
  CHECK(max_abs_diff(out, composed) < 1e-5);
  CHECK_THROWS_WITH(linear(x, weight, bias, {.residual = uniform_f32({2, 12, 23}, 35)}),
                    Catch::Contains("linear: residual of shape [2,12,23] does not match the output [2,12,24]"));
}

TEST_CASE("packed linear reads a strided input and keeps leading dims", "[packed_linear]") {
  // Columns [3, 3 + 40) of a [2, 12, 50] tensor: rows with a leading dimension of 50.
  const Tensor wide = uniform_f32({24, 50}, 4);
  const Tensor x = narrow(wide, 1, 3, 40);
  const Tensor weight = uniform_f32({24, 40}, 5);
  const Tensor bias = uniform_f32({24}, 6);
  REQUIRE(max_abs_diff(packed_linear(x, weight, bias), reference(x, weight, bias)) < 1e-4);
  REQUIRE(cpu::holds_packed_weight(weight));

  const Tensor x3 = uniform_f32({2, 12, 40}, 7);
  const Tensor out3 = packed_linear(x3, weight, bias);
  REQUIRE(out3.shape() == Shape{2, 12, 24});
  REQUIRE(max_abs_diff(reshape(out3, {24, 24}),
                       reference(reshape(x3, {24, 40}), weight, bias)) < 1e-4);
}

TEST_CASE("packed linear packs on the second call and never serves a stale weight",
          "[packed_linear]") {
  NoGradGuard no_grad;
  const Tensor x = uniform_f32({16, 24}, 8);
  Tensor weight = uniform_f32({20, 24}, 9);
  const Tensor bias = uniform_f32({20}, 10);

  linear(x, weight, bias);
  REQUIRE_FALSE(cpu::holds_packed_weight(weight));  // one call: seen, not packed
  linear(x, weight, bias);
  REQUIRE(cpu::holds_packed_weight(weight));

  // An in-place write (what an optimizer step or load_state_dict does) bumps the version.
  weight.mul_(-0.5);
  REQUIRE_FALSE(cpu::holds_packed_weight(weight));
  REQUIRE(max_abs_diff(linear(x, weight, bias), reference(x, weight, bias)) < 1e-5);
  REQUIRE(max_abs_diff(linear(x, weight, bias), reference(x, weight, bias)) < 1e-5);
  REQUIRE(cpu::holds_packed_weight(weight));

  // A copy_ into the weight, as load_state_dict does.
  weight.copy_(uniform_f32({20, 24}, 11));
  REQUIRE(max_abs_diff(packed_linear(x, weight, bias), reference(x, weight, bias)) < 1e-5);

  // A new tensor in the variable (a replaced parameter) has its own storage and cache.
  weight = uniform_f32({20, 24}, 12);
  REQUIRE_FALSE(cpu::holds_packed_weight(weight));
  REQUIRE(max_abs_diff(packed_linear(x, weight, bias), reference(x, weight, bias)) < 1e-5);
}

TEST_CASE("packed linear keeps several views of one storage apart", "[packed_linear]") {
  // As cross-attention with distinct key and value does: three equal-shaped row ranges of one
  // stacked projection, called in turn, then the whole of it.
  NoGradGuard no_grad;
  const Tensor stacked = uniform_f32({48, 32}, 13);
  const std::vector<Tensor> views{narrow(stacked, 0, 0, 16), narrow(stacked, 0, 16, 16),
                                  narrow(stacked, 0, 32, 16)};
  const Tensor x = uniform_f32({12, 32}, 14);
  for (int round = 0; round < 3; ++round) {
    for (const Tensor& view : views)
      REQUIRE(max_abs_diff(linear(x, view), reference(x, view, Tensor())) < 1e-5);
  }
  for (const Tensor& view : views) REQUIRE(cpu::holds_packed_weight(view));
  REQUIRE(max_abs_diff(linear(x, stacked), reference(x, stacked, Tensor())) < 1e-5);
}

TEST_CASE("packed linear gives the same bits on one and two threads", "[packed_linear]") {
  const Tensor x = uniform_f32({64, 128}, 15);
  const Tensor weight = uniform_f32({200, 128}, 16);
  const Tensor bias = uniform_f32({200}, 17);
  const int previous = num_threads();
  set_num_threads(1);
  const Tensor one = packed_linear(x, weight, bias);
  set_num_threads(2);
  const Tensor two = packed_linear(x, weight, bias);
  set_num_threads(previous);
  REQUIRE(cpu::holds_packed_weight(weight));
  REQUIRE(max_abs_diff(one, two) == 0.0);
}

TEST_CASE("packed linear counts the FLOPs of matmul plus the bias", "[packed_linear]") {
  const Tensor x = uniform_f32({10, 6}, 18);
  const Tensor weight = uniform_f32({7, 6}, 19);
  const Tensor bias = uniform_f32({7}, 20);
  NoGradGuard no_grad;
  linear(x, weight, bias);
  FlopScope scope;
  linear(x, weight, bias);
  REQUIRE(cpu::holds_packed_weight(weight));
  REQUIRE(scope.count() == 10 * 7 * 6 + 10 * 7);
}

TEST_CASE("a recorded linear, float64 and skinny inputs go through BLAS", "[packed_linear]") {
  const Tensor x = uniform_f32({16, 8}, 21);
  const Tensor weight = uniform_f32({4, 8}, 22).set_requires_grad(true);
  for (int call = 0; call < 3; ++call) linear(x, weight).sum().backward();
  REQUIRE_FALSE(cpu::holds_packed_weight(weight));
  REQUIRE(weight.grad().defined());

  NoGradGuard no_grad;
  const Tensor weight64 = dg::test::uniform_f64({4, 8}, 23);
  const Tensor x64 = dg::test::uniform_f64({16, 8}, 24);
  for (int call = 0; call < 3; ++call) linear(x64, weight64);
  REQUIRE_FALSE(cpu::holds_packed_weight(weight64));

  const Tensor one_row = uniform_f32({1, 8}, 25);
  const Tensor weight_b = uniform_f32({4, 8}, 26);
  for (int call = 0; call < 3; ++call) linear(one_row, weight_b);
  REQUIRE_FALSE(cpu::holds_packed_weight(weight_b));
}

TEST_CASE("packed linear serves two user threads sharing a weight", "[packed_linear]") {
  // Inference of one model on two threads at once: both find, pack and publish the weight's cache
  // concurrently, and the weight is rewritten between rounds so they repack.
  Tensor weight = uniform_f32({48, 40}, 27);
  const Tensor bias = uniform_f32({48}, 28);
  const Tensor x = uniform_f32({16, 40}, 29);
  for (int round = 0; round < 4; ++round) {
    {
      NoGradGuard no_grad;
      weight.mul_(0.9);
    }
    const Tensor expected = reference(x, weight, bias);
    const std::vector<double> want = expected.to_vector<double>();
    std::vector<double> worst(2, 0.0);
    auto run = [&](int id) {  // no Catch assertions off the main thread: they are not thread-safe
      NoGradGuard no_grad;  // grad mode is per thread
      for (int call = 0; call < 50; ++call) {
        const std::vector<double> got = linear(x, weight, bias).to_vector<double>();
        for (size_t i = 0; i < want.size(); ++i)
          worst[id] = std::max(worst[id], std::abs(got[i] - want[i]));
      }
    };
    std::thread other(run, 1);
    run(0);
    other.join();
    REQUIRE(worst[0] < 1e-5);
    REQUIRE(worst[1] < 1e-5);
  }
  REQUIRE(cpu::holds_packed_weight(weight));
}
