// scaled_dot_product_attention's options against a plain loop written here: the `scale` option,
// attention masks of every shape that broadcasts to the scores [B, H, Lq, Lk] (shared [Lq, Lk],
// per batch [B, 1, Lq, Lk], per head [H, Lq, Lk], per batch and head), bool and additive, on the
// recorded (composed) path and the inference path; and masks that do not broadcast, refused by name.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "engine/ops/functional.h"
#include "tests/engine/test_util.h"

using namespace dg;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

namespace {

// out[b,h,i,:] = sum_j softmax_j(scale q_i.k_j + add[b,h,i,j], j with masked[b,h,i,j] excluded) v_j,
// with the masks given already broadcast to [B, H, Lq, Lk] as flat vectors (empty: none).
Tensor loop_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                      const std::vector<double>& add, const std::vector<bool>& masked) {
  const int64_t B = q.shape()[0], H = q.shape()[1], Lq = q.shape()[2], D = q.shape()[3];
  const int64_t Lk = k.shape()[2];
  const std::vector<double> qv = contiguous(q).to_vector<double>(), kv = contiguous(k).to_vector<double>(),
                            vv = contiguous(v).to_vector<double>();
  std::vector<double> out(B * H * Lq * D, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Lq; ++i) {
        std::vector<double> s(Lk);
        double top = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < Lk; ++j) {
          const int64_t sj = ((b * H + h) * Lq + i) * Lk + j;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += qv[((b * H + h) * Lq + i) * D + d] * kv[((b * H + h) * Lk + j) * D + d];
          s[j] = scale * dot + (add.empty() ? 0.0 : add[sj]);
          if (!masked.empty() && masked[sj]) s[j] = -std::numeric_limits<double>::infinity();
          top = std::max(top, s[j]);
        }
        double total = 0;
        for (double& x : s) total += (x = std::exp(x - top));
        for (int64_t j = 0; j < Lk; ++j)
          for (int64_t d = 0; d < D; ++d)
            out[((b * H + h) * Lq + i) * D + d] += s[j] / total * vv[((b * H + h) * Lk + j) * D + d];
      }
  return from_vector(out, {B, H, Lq, D});
}

// A mask's values broadcast to the scores' shape, flat.
template <class T>
std::vector<T> broadcast_flat(const Tensor& mask, const Shape& scores) {
  const Tensor full = contiguous(expand(mask, scores));
  std::vector<T> out;
  if constexpr (std::is_same_v<T, bool>) {
    for (int64_t x : to_dtype(full, DType::i64).to_vector<int64_t>()) out.push_back(x != 0);
  } else {
    out = full.to_vector<double>();
  }
  return out;
}

}  // namespace

TEST_CASE("scaled_dot_product_attention: the scale option replaces 1/sqrt(D)") {
  const Tensor q = uniform_f64({2, 3, 4, 5}, 1), k = uniform_f64({2, 3, 6, 5}, 2),
               v = uniform_f64({2, 3, 6, 5}, 3);
  const Tensor expected = loop_attention(q, k, v, 0.7, {}, {});
  CHECK(max_abs_diff(scaled_dot_product_attention(q, k, v, {.scale = 0.7}), expected) < 1e-12);
  const Tensor q_graph = clone(q).set_requires_grad(true);
  CHECK(max_abs_diff(scaled_dot_product_attention(q_graph, k, v, {.scale = 0.7}).detach(), expected) < 1e-12);
  // The default is 1/sqrt(D), and differs from 0.7.
  const Tensor by_default = loop_attention(q, k, v, 1.0 / std::sqrt(5.0), {}, {});
  CHECK(max_abs_diff(scaled_dot_product_attention(q, k, v), by_default) < 1e-12);
  CHECK(max_abs_diff(by_default, expected) > 1e-3);
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, k, v, {.scale = std::nan("")}),
                    Catch::Contains("scaled_dot_product_attention: scale must be finite"));
}

TEST_CASE("scaled_dot_product_attention: masks of every shape that broadcasts to the scores") {
  const int64_t B = 2, H = 3, Lq = 4, Lk = 5, D = 3;
  const Tensor q = uniform_f64({B, H, Lq, D}, 11), k = uniform_f64({B, H, Lk, D}, 12),
               v = uniform_f64({B, H, Lk, D}, 13);
  const Shape scores{B, H, Lq, Lk};
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  const std::vector<Shape> shapes = {{Lq, Lk},    {1, 1, Lq, Lk}, {B, 1, Lq, Lk}, {H, Lq, Lk},
                                     {B, H, Lq, Lk}, {Lq, 1},       {1, Lk}};
  for (const Shape& shape : shapes) {
    DYNAMIC_SECTION("mask shape " << fmt::format("{}", shape)) {
      // Additive: inference path and recorded path against the loop.
      const Tensor additive = uniform_f64(shape, 21, -2.0, 2.0);
      const Tensor expected_add = loop_attention(q, k, v, scale, broadcast_flat<double>(additive, scores), {});
      {
        NoGradGuard no_grad;
        CHECK(max_abs_diff(scaled_dot_product_attention(q, k, v, {.attn_mask = additive}), expected_add) < 1e-12);
      }
      const Tensor q_graph = clone(q).set_requires_grad(true);
      CHECK(max_abs_diff(scaled_dot_product_attention(q_graph, k, v, {.attn_mask = additive}).detach(),
                         expected_add) < 1e-12);
      // Bool: key 0 never masked, so no row is empty.
      Tensor masked = lt(uniform_f64(shape, 22, 0.0, 1.0), 0.4);
      if (shape.back() == Lk) masked = logical_and(masked, gt(arange(Lk), 0.0));
      const Tensor expected_bool = loop_attention(q, k, v, scale, {}, broadcast_flat<bool>(masked, scores));
      {
        NoGradGuard no_grad;
        CHECK(max_abs_diff(scaled_dot_product_attention(q, k, v, {.attn_mask = masked}), expected_bool) < 1e-12);
      }
      CHECK(max_abs_diff(scaled_dot_product_attention(q_graph, k, v, {.attn_mask = masked}).detach(),
                         expected_bool) < 1e-12);
    }
  }
}

TEST_CASE("scaled_dot_product_attention: a mask that does not broadcast is refused by name") {
  const Tensor q = uniform_f64({2, 3, 4, 5}, 1), k = uniform_f64({2, 3, 6, 5}, 2),
               v = uniform_f64({2, 3, 6, 5}, 3);
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, k, v, {.attn_mask = zeros({4, 5}, DType::f64)}),
                    Catch::Contains("attn_mask of shape [4,5] does not broadcast to the scores "
                                    "[B, H, Lq, Lk] = [2,3,4,6]"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, k, v, {.attn_mask = zeros({4, 3, 4, 6}, DType::f64)}),
                    Catch::Contains("does not broadcast"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, k, v, {.attn_mask = zeros({1, 2, 3, 4, 6}, DType::f64)}),
                    Catch::Contains("does not broadcast"));
}
