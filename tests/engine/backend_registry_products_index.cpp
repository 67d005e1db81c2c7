// Backend registry cases (test_backend_registry.cpp) for the products (matmul, the inference
// linear layer with its epilogues, inference attention with every kind of mask) and the indexing
// family (index_select, gather, scatter, index_add, topk, sort): one line per case family in
// register_product_and_index_cases.
#include <cmath>
#include <limits>

#include "engine/scalar_math.h"
#include "tests/engine/backend_registry.h"

namespace dg::test::registry {

namespace {

// ---------------------------------------------------------------- products

void matmul_case(DType dtype, const Shape& a, Layout la, const Shape& bshape, Layout lb) {
  const uint64_t seed = next_seed();
  add(
      Entry::matmul,
      fmt::format("{} {} {} @ {} {}", dtype, a, layout_name(la), bshape, layout_name(lb)),
      [=] {
        return Tensors{make_input(a, dtype, la, seed), make_input(bshape, dtype, lb, seed + 1)};
      },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor out = empty(d, {a[0], a[1], bshape[2]}, dtype);
        b.matmul(out, in[0], in[1]);
        return Tensors{out};
      },
      kSums);
}

void linear_case(DType dtype, int64_t M, int64_t K, int64_t N, bool bias, bool relu,
                 bool residual, Layout rows_layout = kContiguous) {
  const uint64_t seed = next_seed();
  add(
      Entry::inference_linear,
      fmt::format("{} [{}, {}] {} x [{}, {}]^T{}{}{}", dtype, M, K, layout_name(rows_layout), N, K,
                  bias ? " + bias" : "", relu ? ", relu" : "", residual ? ", + residual" : ""),
      [=] {
        return Tensors{make_input({M, K}, dtype, rows_layout, seed),
                       make_input({N, K}, dtype, kContiguous, seed + 1),
                       bias ? make_input({N}, dtype, kContiguous, seed + 2) : Tensor(),
                       residual ? make_input({M, N}, dtype, kContiguous, seed + 3) : Tensor()};
      },
      [=](Backend& b, Device, const Tensors& in) {
        // A backend may keep a faster layout of a weight only once it sees it again (the CPU
        // backend packs on the second call), so the case asks twice.
        Tensor out = b.inference_linear(in[0], in[1], in[2], relu, in[3]);
        if (!out.defined()) out = b.inference_linear(in[0], in[1], in[2], relu, in[3]);
        return out.defined() ? Tensors{out} : Tensors{};
      },
      kSums);
}

enum class Mask { none, key_padding, random_bool, causal, additive };
const char* mask_name(Mask m) {
  switch (m) {
    case Mask::none: return "no mask";
    case Mask::key_padding: return "key padding (stride 0, one batch entry fully masked)";
    case Mask::random_bool: return "bool mask";
    case Mask::causal: return "causal additive";
    case Mask::additive: return "float additive";
  }
  return "?";
}

void attention_case(DType dtype, int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t D,
                    Layout layout, Mask mask) {
  const uint64_t seed = next_seed();
  add(
      Entry::inference_attention,
      fmt::format("{} B{} H{} Lq{} Lk{} D{} {} {}", dtype, B, H, Lq, Lk, D, layout_name(layout),
                  mask_name(mask)),
      [=] {
        Tensor masked, additive;
        if (mask == Mask::key_padding) {  // batch b sees keys [0, Lk - 2 - ...); batch 1 sees none
          std::vector<bool> v(B * Lk);
          for (int64_t b = 0; b < B; ++b)
            for (int64_t j = 0; j < Lk; ++j) v[b * Lk + j] = b == 1 || j >= Lk - 2;
          masked = make_view(from_vector(v, {B, 1, 1, Lk}), {B, H, Lq, Lk}, {Lk, 0, 0, 1}, 0);
        } else if (mask == Mask::random_bool) {
          masked = hashed_tensor({B, H, Lq, Lk}, b8, seed + 3, 0, 1);
        } else if (mask == Mask::causal) {
          std::vector<double> v(Lq * Lk);
          for (int64_t i = 0; i < Lq; ++i)
            for (int64_t j = 0; j < Lk; ++j)
              v[i * Lk + j] = j > i + (Lk - Lq) ? -std::numeric_limits<double>::infinity() : 0.0;
          additive = to_dtype(from_vector(v, {Lq, Lk}), dtype);
        } else if (mask == Mask::additive) {
          additive = hashed_tensor({Lq, Lk}, dtype, seed + 3, -1, 1);
        }
        return Tensors{make_input({B, H, Lq, D}, dtype, layout, seed),
                       make_input({B, H, Lk, D}, dtype, layout, seed + 1),
                       make_input({B, H, Lk, D}, dtype, layout, seed + 2), masked, additive};
      },
      [=](Backend& b, Device, const Tensors& in) {
        const Tensor out =
            b.inference_attention(in[0], in[1], in[2], in[3], in[4], 1.0 / std::sqrt(double(D)));
        return out.defined() ? Tensors{out} : Tensors{};
      },
      kSums);
}

// ---------------------------------------------------------------- indexing

void index_select_case(DType dtype, Layout layout, const Shape& shape, int dim,
                       const std::vector<int64_t>& index) {
  const uint64_t seed = next_seed();
  const int64_t n = static_cast<int64_t>(index.size());
  add(
      Entry::index_select,
      fmt::format("{} {} {} dim {} picks {}", dtype, layout_name(layout), shape, dim, n),
      [=] {
        return Tensors{make_input(shape, dtype, layout, seed), indices(index, {n})};
      },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor out = empty(d, with(shape, dim, n), dtype);
        b.index_select(out, in[0], dim, in[1]);
        return Tensors{out};
      });
}

void gather_case(DType dtype, Layout layout, const Shape& shape, int dim, const Shape& index_shape,
                 Layout index_layout = kContiguous) {
  const uint64_t seed = next_seed();
  add(
      Entry::gather,
      fmt::format("{} {} {} dim {} index {} {}", dtype, layout_name(layout), shape, dim,
                  index_shape, layout_name(index_layout)),
      [=] {
        return Tensors{make_input(shape, dtype, layout, seed),
                       make_input(index_shape, i64, index_layout, seed + 1, 0, double(shape[dim]))};
      },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor out = empty(d, index_shape, dtype);
        b.gather(out, in[0], dim, in[1]);
        return Tensors{out};
      });
}

void scatter_case(DType dtype, const Shape& shape, int dim, const Shape& index_shape,
                  bool accumulate, Layout src_layout) {
  const uint64_t seed = next_seed();
  add(
      Entry::scatter,
      fmt::format("{} {} {} dim {} index {} src {}", accumulate ? "add" : "assign", dtype, shape,
                  dim, index_shape, layout_name(src_layout)),
      [=] {
        return Tensors{make_input(shape, dtype, kContiguous, seed),
                       hashed_indices(index_shape, shape[dim], seed + 1),
                       make_input(index_shape, dtype, src_layout, seed + 2)};
      },
      [=](Backend& b, Device, const Tensors& in) {
        b.scatter(in[0], dim, in[1], in[2], accumulate);
        return Tensors{in[0]};
      },
      kSums);
}

void index_add_case(DType dtype, const Shape& shape, int dim, const Shape& src_shape,
                    Layout src_layout) {
  const uint64_t seed = next_seed();
  add(Entry::index_add,
      fmt::format("{} {} dim {} src {} {}", dtype, shape, dim, src_shape, layout_name(src_layout)),
      [=] {
        return Tensors{make_input(shape, dtype, kContiguous, seed),
                       hashed_indices({src_shape[dim]}, shape[dim], seed + 1),
                       make_input(src_shape, dtype, src_layout, seed + 2, -2, 2, dtype == i64)};
      },
      [=](Backend& b, Device, const Tensors& in) {
        b.index_add(in[0], dim, in[1], in[2]);
        return Tensors{in[0]};
      },
      kSums);
}

void topk_case(DType dtype, Layout layout, const Shape& shape, int64_t k, int dim, bool largest,
               bool sorted, bool nans = false) {
  const uint64_t seed = next_seed();
  add(
      Entry::topk,
      fmt::format("{} {} {} k {} dim {} {}{}{}", dtype, layout_name(layout), shape, k, dim,
                  largest ? "largest" : "smallest", sorted ? " sorted" : " unsorted",
                  nans ? " NaN" : ""),
      [=] {
        // Whole numbers in a small range: ties, which go to the lower index.
        Tensor x = make_input(shape, dtype, layout, seed, -4, 4, true);
        return Tensors{nans ? poke(x, 5, std::nan("")) : x};
      },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor values = empty(d, with(shape, dim, k), dtype),
                     at = empty(d, with(shape, dim, k), i64);
        b.topk(values, at, in[0], k, dim, largest, sorted);
        return Tensors{values, at};
      },
      {}, sorted ? -1 : dim);
}

void sort_case(DType dtype, Layout layout, const Shape& shape, int dim, bool descending,
               bool nans = false) {
  const uint64_t seed = next_seed();
  add(Entry::sort,
      fmt::format("{} {} {} dim {} {}{}", dtype, layout_name(layout), shape, dim,
                  descending ? "descending" : "ascending", nans ? " NaN" : ""),
      [=] {
        Tensor x = make_input(shape, dtype, layout, seed, -4, 4, true);  // ties: stability shows
        return Tensors{nans ? poke(x, 5, std::nan("")) : x};
      },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor values = empty(d, shape, dtype), at = empty(d, shape, i64);
        b.sort(values, at, in[0], dim, descending);
        return Tensors{values, at};
      });
}

}  // namespace

void register_product_and_index_cases() {
  // products
  matmul_case(f64, {1, 4, 7}, kContiguous, {1, 7, 5}, kContiguous);
  matmul_case(f32, {1, 4, 7}, kTransposed, {1, 7, 5}, kContiguous);
  matmul_case(f32, {1, 4, 7}, kContiguous, {1, 7, 5}, kTransposed);
  matmul_case(f64, {3, 4, 7}, kTransposed, {3, 7, 5}, kTransposed);
  matmul_case(f32, {3, 4, 7}, kContiguous, {3, 7, 5}, kBroadcast);  // shared b: one folded GEMM
  matmul_case(f64, {3, 4, 7}, kBroadcast, {3, 7, 5}, kContiguous);
  matmul_case(f32, {2, 4, 7}, kSliced, {2, 7, 5}, kSliced);
  matmul_case(f64, {2, 4, 7}, kStrided, {2, 7, 5}, kStrided);   // neither layout: copied first
  matmul_case(f64, {1, 37, 130}, kContiguous, {1, 130, 147}, kContiguous);
  matmul_case(f32, {1, 130, 150}, kTransposed, {1, 150, 147}, kContiguous);
  matmul_case(f32, {40, 20, 80}, kContiguous, {40, 80, 30}, kContiguous);  // batch over threads
  matmul_case(f64, {2, 1, 7}, kContiguous, {2, 7, 1}, kContiguous);
  matmul_case(f32, {1, 3, 0}, kContiguous, {1, 0, 4}, kContiguous);  // an empty sum
  linear_case(f32, 16, 32, 48, true, false, false);
  linear_case(f32, 20, 33, 37, true, true, false);       // a partial panel and a partial tile
  linear_case(f32, 9, 64, 16, false, false, true);
  linear_case(f32, 64, 100, 70, true, true, true);
  linear_case(f32, 24, 40, 50, true, false, true, kSliced);
  linear_case(f32, 3, 32, 48, true, false, false);       // few rows
  linear_case(f64, 16, 32, 48, true, true, true);
  attention_case(f32, 2, 3, 5, 7, 8, kContiguous, Mask::none);
  attention_case(f64, 2, 2, 6, 6, 4, kContiguous, Mask::causal);
  attention_case(f32, 1, 4, 64, 64, 16, kContiguous, Mask::causal);
  attention_case(f32, 3, 2, 4, 9, 8, kSliced, Mask::key_padding);
  attention_case(f64, 2, 2, 5, 5, 3, kSliced, Mask::random_bool);
  attention_case(f32, 2, 2, 5, 6, 4, kContiguous, Mask::additive);
  attention_case(f64, 2, 2, 3, 4, 4, kTransposed, Mask::none);
  // indexing
  index_select_case(f32, kContiguous, {400, 100}, 0, [] {
    std::vector<int64_t> v(300);
    for (int i = 0; i < 300; ++i) v[i] = (i * 7) % 400;
    return v;
  }());
  index_select_case(f64, kTransposed, {5, 6}, 1, {5, 0, 0, 3});
  index_select_case(i64, kSliced, {4, 5, 6}, 1, {4, 1});
  index_select_case(b8, kBroadcast, {3, 6}, 0, {2, 2, 0});
  gather_case(f32, kContiguous, {300, 250}, 1, {300, 120});
  gather_case(f64, kTransposed, {4, 5, 6}, 0, {3, 5, 6});
  gather_case(i64, kSliced, {4, 5, 6}, 2, {4, 5, 2}, kTransposed);
  gather_case(b8, kContiguous, {5, 6}, 0, {2, 6}, kSliced);
  scatter_case(f32, {300, 250}, 1, {300, 120}, false, kContiguous);
  scatter_case(f64, {300, 250}, 0, {200, 250}, true, kContiguous);
  scatter_case(f64, {4, 5, 6}, 1, {4, 3, 6}, false, kTransposed);
  scatter_case(f32, {4, 5, 6}, 2, {4, 5, 9}, true, kSliced);
  scatter_case(i64, {6, 5}, 0, {9, 5}, true, kStrided);
  scatter_case(b8, {6, 5}, 0, {4, 5}, false, kContiguous);
  index_add_case(f32, {300, 250}, 0, {400, 250}, kContiguous);
  index_add_case(f64, {5, 6}, 1, {5, 9}, kTransposed);
  index_add_case(i64, {4, 5, 6}, 1, {4, 7, 6}, kSliced);
  index_add_case(f64, {4, 6}, 0, {5, 6}, kBroadcast);
  topk_case(f32, kContiguous, {300, 250}, 5, 1, true, true);
  topk_case(f64, kContiguous, {300, 250}, 7, 0, false, true);
  topk_case(f64, kTransposed, {6, 9}, 3, 1, true, false);
  topk_case(f32, kSliced, {6, 9}, 4, 0, false, false);
  topk_case(i64, kStrided, {6, 9}, 9, 1, true, true);
  topk_case(f64, kContiguous, {6, 9}, 4, 1, true, true, true);
  topk_case(f32, kContiguous, {6, 9}, 4, 1, false, true, true);
  sort_case(f32, kContiguous, {300, 250}, 1, false);
  sort_case(f64, kContiguous, {300, 250}, 0, true);
  sort_case(f64, kTransposed, {6, 9}, 1, true);
  sort_case(i64, kSliced, {6, 9}, 0, false);
  sort_case(f32, kBroadcast, {3, 9}, 1, true);
  sort_case(f64, kContiguous, {6, 9}, 1, false, true);
  sort_case(f32, kContiguous, {6, 9}, 1, true, true);
}

}  // namespace dg::test::registry
