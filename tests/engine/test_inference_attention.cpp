// Tests of the fused inference attention (Backend::inference_attention,
// engine/cpu/fast/attention_kernels.cpp), which scaled_dot_product_attention runs when no graph is
// recorded and no dropout is drawn: against the composed path (forced by recording a graph) over
// every mask kind and their combinations, query counts across the kernel's 32-query blocks, a
// single query or key, strided q, k and v read in place (the heads of a packed projection), f64 and
// f32, one and two threads; rows with every key masked; that the fused path is really the one
// taken (its output is the merged-heads layout) and that a graph or dropout never takes it; the
// FLOP count; inputs it declines; and MultiheadAttention in eval mode against the same layer with a
// graph recorded.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "engine/flops.h"
#include "engine/cpu/parallel.h"
#include "nn/nn.h"
#include "tests/engine/test_util.h"

using namespace dg;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The composed path: the same call with a graph recorded (q requires grad), detached.
Tensor composed(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o) {
  const Tensor q_graph = clone(q).set_requires_grad(true);
  const Tensor out = scaled_dot_product_attention(q_graph, k, v, o);
  REQUIRE(out.requires_grad());
  return out.detach();
}

// The fused path: no graph. Checks that the result has the fused kernel's layout, [B, Lq, H, D] in
// memory seen as [B, H, Lq, D] (the composed path returns a contiguous [B, H, Lq, D]).
Tensor fused(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o) {
  NoGradGuard no_grad;
  const Tensor out = scaled_dot_product_attention(q, k, v, o);
  const int64_t H = q.shape()[1], Lq = q.shape()[2], D = q.shape()[3];
  if (H > 1 && Lq > 1) CHECK(out.strides() == Shape{Lq * H * D, D, H * D, 1});
  return out;
}

Tensor bool_mask(const Shape& shape, uint64_t seed, double fraction) {
  return lt(uniform_f64(shape, seed, 0.0, 1.0), fraction);
}

// NaN-aware: the two paths must put NaN in the same places.
double max_diff_nan_aware(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  REQUIRE(va.size() == vb.size());
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) || std::isnan(vb[i])) {
      if (!(std::isnan(va[i]) && std::isnan(vb[i]))) return kInf;
      continue;
    }
    worst = std::max(worst, std::abs(va[i] - vb[i]));
  }
  return worst;
}

struct Sizes {
  int64_t B, H, Lq, Lk, D;
};

}  // namespace

TEST_CASE("inference attention equals the composed path for every mask kind", "[attention]") {
  const std::vector<Sizes> sizes{
      {2, 3, 37, 29, 8}, {1, 4, 64, 64, 32}, {2, 1, 1, 5, 4}, {1, 2, 70, 1, 3}, {3, 2, 33, 40, 5}};
  const int saved_threads = num_threads();
  for (const Sizes& s : sizes) {
    const Tensor q = uniform_f64({s.B, s.H, s.Lq, s.D}, 1, -2, 2);
    const Tensor k = uniform_f64({s.B, s.H, s.Lk, s.D}, 2, -2, 2);
    const Tensor v = uniform_f64({s.B, s.H, s.Lk, s.D}, 3);
    // Keep key 0 of every batch so that no row is fully masked here (tested separately).
    const Tensor padding = logical_and(bool_mask({s.B, s.Lk}, 4, 0.3),
                                       ne(reshape(arange(0.0, double(s.Lk), 1.0, DType::f64), {1, s.Lk}), 0.0));
    const Tensor attn_bool = logical_and(bool_mask({s.Lq, s.Lk}, 5, 0.3),
                                         ne(reshape(arange(0.0, double(s.Lk), 1.0, DType::f64), {1, s.Lk}), 0.0));
    const Tensor attn_float = uniform_f64({s.Lq, s.Lk}, 6, -1.5, 1.5);
    std::vector<std::pair<std::string, AttentionOptions>> cases(7);
    cases[0].first = "no mask";
    cases[1] = {"key padding", {.key_padding_mask = padding}};
    cases[2] = {"causal", {.causal = true}};
    cases[3] = {"bool attn_mask", {.attn_mask = attn_bool}};
    cases[4] = {"float attn_mask", {.attn_mask = attn_float}};
    cases[5] = {"key padding + causal", {.key_padding_mask = padding, .causal = true}};
    cases[6] = {"float attn_mask + key padding", {.key_padding_mask = padding, .attn_mask = attn_float}};
    for (const auto& [name, o] : cases) {
      for (DType dtype : {DType::f64, DType::f32}) {
        AttentionOptions typed = o;
        if (typed.attn_mask.defined() && typed.attn_mask.dtype() != DType::b8)
          typed.attn_mask = to_dtype(typed.attn_mask, dtype);
        const Tensor qt = to_dtype(q, dtype), kt = to_dtype(k, dtype), vt = to_dtype(v, dtype);
        const Tensor expected = composed(qt, kt, vt, typed);
        for (int threads : {1, 2}) {
          set_num_threads(threads);
          CAPTURE(s.B, s.H, s.Lq, s.Lk, s.D, name, dtype, threads);
          CHECK(max_abs_diff(fused(qt, kt, vt, typed), expected) < (dtype == DType::f64 ? 1e-12 : 2e-5));
        }
      }
    }
  }
  set_num_threads(saved_threads);
}

TEST_CASE("inference attention reads strided heads in place, as MultiheadAttention passes them",
          "[attention]") {
  // A packed projection [B, L, 3, H, D] permuted to [3, B, H, L, D]: q, k and v are views with
  // row stride 3 H D, no copy.
  const int64_t B = 2, L = 45, H = 4, D = 6;
  const Tensor projected = uniform_f64({B, L, 3 * H * D}, 10, -2, 2);
  const Tensor heads = permute(reshape(projected, {B, L, 3, H, D}), {2, 0, 3, 1, 4});
  const Tensor q = select(heads, 0, 0), k = select(heads, 0, 1), v = select(heads, 0, 2);
  REQUIRE_FALSE(q.is_contiguous());
  const AttentionOptions causal{.causal = true};
  CHECK(max_abs_diff(fused(q, k, v, {}), composed(q, k, v, {})) < 1e-12);
  CHECK(max_abs_diff(fused(q, k, v, causal), composed(q, k, v, causal)) < 1e-12);
  // Broadcast k and v (stride 0 along the head dim) are read in place too.
  const Tensor k1 = expand(uniform_f64({B, 1, L, D}, 11), {B, H, L, D});
  const Tensor v1 = expand(uniform_f64({B, 1, L, D}, 12), {B, H, L, D});
  CHECK(max_abs_diff(fused(q, k1, v1, {}), composed(q, k1, v1, {})) < 1e-12);
}

TEST_CASE("inference attention declines what BLAS cannot read; the composed path answers",
          "[attention]") {
  // Head dim not contiguous (q transposed in its last two dims) and overlapping key rows
  // (a key expanded along the sequence): both go to the composed path, which returns a contiguous
  // result.
  const Tensor q = transpose(uniform_f64({1, 2, 6, 5}, 20), 2, 3);  // [1, 2, 5, 6], D stride 5
  const Tensor k = uniform_f64({1, 2, 7, 6}, 21), v = uniform_f64({1, 2, 7, 6}, 22);
  const Tensor k_rows = expand(uniform_f64({1, 2, 1, 6}, 23), {1, 2, 7, 6});
  const Tensor q2 = uniform_f64({1, 2, 5, 6}, 24);
  const Tensor expected = composed(q, k, v, {}), expected2 = composed(q2, k_rows, v, {});
  NoGradGuard no_grad;
  const Tensor out = scaled_dot_product_attention(q, k, v);
  CHECK(out.is_contiguous());
  CHECK(max_abs_diff(out, expected) < 1e-12);
  const Tensor out2 = scaled_dot_product_attention(q2, k_rows, v);
  CHECK(out2.is_contiguous());
  CHECK(max_abs_diff(out2, expected2) < 1e-12);
}

TEST_CASE("inference attention: fully masked rows are zeros with a bool mask, NaN without",
          "[attention]") {
  const Tensor q = uniform_f64({2, 2, 3, 4}, 30), k = uniform_f64({2, 2, 5, 4}, 31);
  const Tensor v = uniform_f64({2, 2, 5, 4}, 32);
  // Batch 1 pads every key.
  const AttentionOptions padded{.key_padding_mask = from_vector(
                                    std::vector<bool>{0, 1, 0, 0, 1, 1, 1, 1, 1, 1}, {2, 5})};
  const Tensor out = fused(q, k, v, padded);
  CHECK(out.to_vector<double>().size() == 48);
  for (double x : narrow(out, 0, 1, 1).to_vector<double>()) CHECK(x == 0.0);
  CHECK(max_abs_diff(out, composed(q, k, v, padded)) < 1e-12);
  // A float mask of -inf over all of query 0's keys and no bool mask: NaN in that row, both ways
  // (the fused softmax of a row of -inf).
  Tensor minus_inf_row = zeros({3, 5}, DType::f64);
  narrow(minus_inf_row, 0, 0, 1).fill_(-kInf);
  const AttentionOptions additive{.attn_mask = minus_inf_row};
  const Tensor nan_rows = fused(q, k, v, additive);
  CHECK(std::isnan(narrow(nan_rows, 2, 0, 1).to_vector<double>()[0]));
  CHECK(max_diff_nan_aware(nan_rows, composed(q, k, v, additive)) < 1e-12);
}

TEST_CASE("inference attention: a graph or dropout never takes the fused path; FLOPs counted",
          "[attention]") {
  const int64_t B = 2, H = 3, Lq = 9, Lk = 11, D = 4;
  const Tensor q = uniform_f64({B, H, Lq, D}, 40), k = uniform_f64({B, H, Lk, D}, 41);
  const Tensor v = uniform_f64({B, H, Lk, D}, 42);
  {
    NoGradGuard no_grad;
    FlopScope flops;
    scaled_dot_product_attention(q, k, v);
    CHECK(flops.count() == 4 * B * H * Lq * Lk * D + 6 * B * H * Lq * Lk);
  }
  // A recorded graph: the composed path, contiguous and differentiable.
  const Tensor kg = clone(k).set_requires_grad(true);
  const Tensor recorded = scaled_dot_product_attention(q, kg, v);
  CHECK(recorded.requires_grad());
  CHECK(recorded.is_contiguous());
  // Dropout in training draws a mask on the weights: composed as well, even without a graph.
  NoGradGuard no_grad;
  Generator gen(7);
  const AttentionOptions dropping{.dropout_p = 0.5, .training = true, .generator = &gen};
  const Tensor dropped = scaled_dot_product_attention(q, k, v, dropping);
  CHECK(dropped.is_contiguous());
  CHECK(max_abs_diff(dropped, scaled_dot_product_attention(q, k, v)) > 1e-3);
}

TEST_CASE("MultiheadAttention in eval mode without a graph equals the recorded forward",
          "[attention][nn]") {
  Generator gen(3);
  nn::MultiheadAttention attention(24, 4, {}, {.generator = &gen, .dtype = DType::f64});
  attention.eval();
  const Tensor x = uniform_f64({2, 19, 24}, 50, -1.5, 1.5);
  const Tensor memory = uniform_f64({2, 23, 24}, 51, -1.5, 1.5);
  const nn::AttentionMasks masks{.key_padding_mask = lt(uniform_f64({2, 23}, 52, 0, 1), 0.25)};
  const Tensor self_recorded = attention.forward(x, x, x, {.causal = true});
  const Tensor cross_recorded = attention.forward(x, memory, memory, masks);
  REQUIRE(self_recorded.requires_grad());
  NoGradGuard no_grad;
  CHECK(max_abs_diff(attention.forward(x, x, x, {.causal = true}), self_recorded) < 1e-12);
  CHECK(max_abs_diff(attention.forward(x, memory, memory, masks), cross_recorded) < 1e-12);
}

TEST_CASE("MultiheadAttention::forward_plus adds the residual, in out_proj's epilogue without a graph",
          "[attention][nn]") {
  // float32 and 2 x 19 rows: without a graph, out_proj runs on packed panels with the residual
  // in the tile's last store.
  nn::MultiheadAttention attention(32, 4);
  const Tensor x = test::uniform_f32({2, 19, 32}, 60), residual = test::uniform_f32({2, 19, 32}, 61);
  const Tensor expected = residual + attention.forward(x, x, x);
  REQUIRE(expected.requires_grad());
  CHECK(max_abs_diff(attention.forward_plus(residual, x, x, x), expected) < 1e-5);
  NoGradGuard no_grad;
  for (int call = 0; call < 2; ++call)  // the second call runs on packed panels
    CHECK(max_abs_diff(attention.forward_plus(residual, x, x, x), expected) < 1e-5);
}
