// The backend registry: every entry of the Backend table (engine/backend.h), on every backend in
// backends_under_test (tests/engine/backend_registry.h), against the reference backend
// (engine/reference/), one line per case family below, in the style of ggml's test-backend-ops.
// Cases vary shapes (including sizes that take the CPU's threaded and blocked paths), dtypes and
// the layouts the table allows an entry (contiguous, transposed, broadcast with stride 0, sliced
// views with an offset, every other element), and cover the backward entries the op layer calls.
// The registry fails when an entry of tests/engine/backend_entries.def has no case, and when
// backend.h declares a virtual function that the .def does not list.
#include <algorithm>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <regex>
#include <set>

#include "engine/scalar_math.h"
#include "tests/engine/backend_registry.h"

using namespace dg;
using namespace dg::test::registry;
using dg::reference::reference_backend;

namespace {

using Geometry = Backend::Conv2dGeometry;
using PoolGeometry = Backend::Pool2dGeometry;
constexpr Layout kContiguous = Layout::contiguous, kTransposed = Layout::transposed,
                 kBroadcast = Layout::broadcast, kSliced = Layout::sliced,
                 kStrided = Layout::strided;
constexpr DType f32 = DType::f32, f64 = DType::f64, i64 = DType::i64, b8 = DType::b8;
constexpr Tolerance kSums{1e-4, 1e-10};  // for entries that add many terms

std::vector<Case>& table() {
  static std::vector<Case> cases;
  return cases;
}
uint64_t next_seed() {
  static uint64_t seed = 1000;
  return ++seed;
}
void add(Entry entry, std::string name, std::function<Tensors()> inputs,
         std::function<Tensors(Backend&, Device, const Tensors&)> run, Tolerance tol = {},
         int unordered_dim = -1) {
  table().push_back({entry, std::move(name), std::move(inputs), std::move(run), tol, unordered_dim});
}

Tensor empty(Device d, const Shape& shape, DType dtype) { return Tensor::empty(shape, dtype, d); }

// A host tensor of the given i64 values.
Tensor indices(const std::vector<int64_t>& v, const Shape& shape) { return from_vector(v, shape); }

// Hashed indices in [0, bound) for `shape`.
Tensor hashed_indices(const Shape& shape, int64_t bound, uint64_t seed) {
  return hashed_tensor(shape, i64, seed, 0, static_cast<double>(bound));
}

// Sets every `every`-th element of a floating host tensor's storage to `value`.
Tensor poke(Tensor t, int64_t every, double value) {
  const int64_t n = static_cast<int64_t>(t.storage()->nbytes() / itemsize(t.dtype()));
  for (int64_t i = 0; i < n; i += every) {
    if (t.dtype() == f32) static_cast<float*>(t.storage()->data())[i] = static_cast<float>(value);
    if (t.dtype() == f64) static_cast<double*>(t.storage()->data())[i] = value;
  }
  return t;
}

Shape with(Shape s, int dim, int64_t size) {
  s[dim] = size;
  return s;
}

// ---------------------------------------------------------------- memory and elementwise

void memory_case(Entry entry, int64_t bytes) {
  // allocate, copy_from_host, copy_to_host and deallocate are one round trip.
  add(entry, fmt::format("round trip of {} bytes", bytes),
      [=] { return Tensors{hashed_tensor({bytes}, b8, next_seed(), 0, 1)}; },
      [=](Backend& b, Device, const Tensors& in) {
        const Tensor host = to_host(in[0]);
        void* p = b.allocate(bytes);
        b.copy_from_host(p, host.raw_data(), bytes);
        const Tensor back = Tensor::empty({bytes}, b8);
        b.copy_to_host(back.raw_data(), p, bytes);
        b.deallocate(p, bytes);
        return Tensors{back};
      });
}

void fill_case(DType dtype, Layout layout, const Shape& shape, double value) {
  const uint64_t seed = next_seed();
  add(Entry::fill, fmt::format("{} {} {} = {}", dtype, layout_name(layout), shape, value),
      [=] { return Tensors{make_input(shape, dtype, layout, seed)}; },
      [=](Backend& b, Device, const Tensors& in) {
        b.fill(in[0], value);
        return Tensors{in[0]};
      });
}

void copy_case(DType to, Layout to_layout, DType from, Layout from_layout, const Shape& shape) {
  const uint64_t seed = next_seed();
  add(Entry::copy,
      fmt::format("{} {} <- {} {} {}", to, layout_name(to_layout), from, layout_name(from_layout), shape),
      [=] {
        return Tensors{make_input(shape, to, to_layout, seed),
                       make_input(shape, from, from_layout, seed + 1, -50, 50)};
      },
      [=](Backend& b, Device, const Tensors& in) {
        b.copy(in[0], in[1]);
        return Tensors{in[0]};
      });
}

void unary_case(UnaryOp op, const char* name, DType dtype, Layout layout, const Shape& shape,
                double lo, double hi, double p0, double p1) {
  const uint64_t seed = next_seed();
  add(Entry::unary, fmt::format("{} {} {} {}", name, dtype, layout_name(layout), shape),
      [=] { return Tensors{make_input(shape, dtype, layout, seed, lo, hi)}; },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor out = empty(d, shape, dtype);
        b.unary(op, out, in[0], p0, p1);
        return Tensors{out};
      });
}

// Every floating unary op: a big contiguous input (the vectorised and threaded paths) and small
// inputs in every layout.
void unary_family(UnaryOp op, const char* name, double lo, double hi, double p0 = 0,
                  double p1 = 0) {
  unary_case(op, name, f32, kContiguous, {300, 250}, lo, hi, p0, p1);
  unary_case(op, name, f64, kContiguous, {1000}, lo, hi, p0, p1);
  unary_case(op, name, f64, kTransposed, {7, 5}, lo, hi, p0, p1);
  unary_case(op, name, f32, kSliced, {4, 6}, lo, hi, p0, p1);
  unary_case(op, name, f64, kBroadcast, {3, 5}, lo, hi, p0, p1);
  unary_case(op, name, f32, kStrided, {5, 9}, lo, hi, p0, p1);
}

void binary_case(BinaryOp op, const char* name, DType dtype, Layout la, Layout lb,
                 const Shape& shape, double lo_b = -2, double hi_b = 2, bool whole = false) {
  const uint64_t seed = next_seed();
  const bool to_bool = math::is_comparison(op) || math::is_logical(op);
  const double lo_a = op == BinaryOp::pow ? 0.5 : -2;
  add(Entry::binary,
      fmt::format("{} {} {} x {} {}", name, dtype, layout_name(la), layout_name(lb), shape),
      [=] {
        return Tensors{make_input(shape, dtype, la, seed, lo_a, 2, whole),
                       make_input(shape, dtype, lb, seed + 1, lo_b, hi_b, whole)};
      },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor out = empty(d, shape, to_bool ? b8 : dtype);
        b.binary(op, out, in[0], in[1]);
        return Tensors{out};
      });
}

void binary_family(BinaryOp op, const char* name, double lo_b = -2, double hi_b = 2,
                   bool whole = false) {
  binary_case(op, name, f32, kContiguous, kContiguous, {300, 250}, lo_b, hi_b, whole);
  binary_case(op, name, f64, kContiguous, kBroadcast, {4, 7}, lo_b, hi_b, whole);
  binary_case(op, name, f64, kBroadcast, kContiguous, {5, 3}, lo_b, hi_b, whole);
  binary_case(op, name, f32, kTransposed, kSliced, {6, 5}, lo_b, hi_b, whole);
  binary_case(op, name, f32, kStrided, kTransposed, {3, 4, 5}, lo_b, hi_b, whole);
}

void where_case(DType dtype, Layout lc, Layout la, Layout lb, const Shape& shape) {
  const uint64_t seed = next_seed();
  add(Entry::where,
      fmt::format("{} cond {} a {} b {} {}", dtype, layout_name(lc), layout_name(la), layout_name(lb), shape),
      [=] {
        return Tensors{make_input(shape, b8, lc, seed, 0, 1), make_input(shape, dtype, la, seed + 1),
                       make_input(shape, dtype, lb, seed + 2)};
      },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor out = empty(d, shape, dtype);
        b.where(out, in[0], in[1], in[2]);
        return Tensors{out};
      });
}

void adam_case(DType dtype, Layout layout, const Shape& shape) {
  const uint64_t seed = next_seed();
  add(Entry::adam_step, fmt::format("{} {} {}", dtype, layout_name(layout), shape),
      [=] {
        return Tensors{make_input(shape, dtype, layout, seed), make_input(shape, dtype, layout, seed + 1),
                       make_input(shape, dtype, layout, seed + 2, -0.1, 0.1),
                       make_input(shape, dtype, layout, seed + 3, 0, 0.01)};
      },
      [=](Backend& b, Device, const Tensors& in) {
        const AdamStep step{.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .step_size = 1e-3,
                            .bias_correction2_sqrt = std::sqrt(1 - std::pow(0.999, 3))};
        b.adam_step(in[0], in[1], in[2], in[3], step);
        return Tensors{in[0], in[2], in[3]};
      });
}

// ---------------------------------------------------------------- reductions

void reduce_case(ReduceOp op, const char* name, DType dtype, Layout layout, const Shape& shape,
                 const Shape& out_shape, bool nans = false) {
  const uint64_t seed = next_seed();
  add(Entry::reduce,
      fmt::format("{} {} {} {} -> {}{}", name, dtype, layout_name(layout), shape, out_shape, nans ? " NaN" : ""),
      [=] {
        Tensor x = make_input(shape, dtype, layout, seed, -2, 2, dtype == i64);
        return Tensors{nans ? poke(x, 4, std::nan("")) : x};
      },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor out = empty(d, out_shape, dtype);
        b.reduce(op, out, in[0]);
        return Tensors{out};
      },
      kSums);
}

void reduce_family(ReduceOp op, const char* name) {
  reduce_case(op, name, f32, kContiguous, {300, 250}, {300, 1});   // rows
  reduce_case(op, name, f32, kContiguous, {300, 250}, {1, 250});   // columns
  reduce_case(op, name, f64, kContiguous, {300, 250}, {1, 1});     // one long run, split
  reduce_case(op, name, f64, kTransposed, {4, 6, 5}, {4, 1, 5});
  reduce_case(op, name, f32, kSliced, {4, 6, 5}, {1, 6, 1});
  reduce_case(op, name, f64, kBroadcast, {3, 7}, {1, 7});
  reduce_case(op, name, i64, kStrided, {5, 8}, {5, 1});
  reduce_case(op, name, f64, kContiguous, {2, 3, 4, 5}, {2, 1, 4, 1});
}

void arg_reduce_case(bool is_max, DType dtype, Layout layout, const Shape& shape, int dim,
                     bool ties, bool nans = false) {
  const uint64_t seed = next_seed();
  add(Entry::arg_reduce,
      fmt::format("{} {} {} {} dim {}{}{}", is_max ? "max" : "min", dtype, layout_name(layout), shape,
                  dim, ties ? " ties" : "", nans ? " NaN" : ""),
      [=] {
        Tensor x = make_input(shape, dtype, layout, seed, -3, 3, ties);
        return Tensors{nans ? poke(x, 7, std::nan("")) : x};
      },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor values = empty(d, with(shape, dim, 1), dtype), at = empty(d, with(shape, dim, 1), i64);
        b.arg_reduce(is_max, values, at, in[0], dim);
        return Tensors{values, at};
      });
}

void cumsum_case(DType dtype, Layout layout, const Shape& shape, int dim) {
  const uint64_t seed = next_seed();
  add(Entry::cumsum, fmt::format("{} {} {} dim {}", dtype, layout_name(layout), shape, dim),
      [=] { return Tensors{make_input(shape, dtype, layout, seed, -3, 3, dtype == i64)}; },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor out = empty(d, shape, dtype);
        b.cumsum(out, in[0], dim);
        return Tensors{out};
      },
      kSums);
}

// ---------------------------------------------------------------- products

void matmul_case(DType dtype, const Shape& a, Layout la, const Shape& bshape, Layout lb) {
  const uint64_t seed = next_seed();
  add(Entry::matmul, fmt::format("{} {} {} @ {} {}", dtype, a, layout_name(la), bshape, layout_name(lb)),
      [=] { return Tensors{make_input(a, dtype, la, seed), make_input(bshape, dtype, lb, seed + 1)}; },
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
  add(Entry::inference_linear,
      fmt::format("{} [{}, {}] {} x [{}, {}]^T{}{}{}", dtype, M, K, layout_name(rows_layout), N, K,
                  bias ? " + bias" : "", relu ? ", relu" : "", residual ? ", + residual" : ""),
      [=] {
        return Tensors{make_input({M, K}, dtype, rows_layout, seed), make_input({N, K}, dtype, kContiguous, seed + 1),
                       bias ? make_input({N}, dtype, kContiguous, seed + 2) : Tensor(),
                       residual ? make_input({M, N}, dtype, kContiguous, seed + 3) : Tensor()};
      },
      [=](Backend& b, Device, const Tensors& in) {
        const Tensor out = b.inference_linear(in[0], in[1], in[2], relu, in[3]);
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
  add(Entry::inference_attention,
      fmt::format("{} B{} H{} Lq{} Lk{} D{} {} {}", dtype, B, H, Lq, Lk, D, layout_name(layout), mask_name(mask)),
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
        return Tensors{make_input({B, H, Lq, D}, dtype, layout, seed), make_input({B, H, Lk, D}, dtype, layout, seed + 1),
                       make_input({B, H, Lk, D}, dtype, layout, seed + 2), masked, additive};
      },
      [=](Backend& b, Device, const Tensors& in) {
        const Tensor out = b.inference_attention(in[0], in[1], in[2], in[3], in[4], 1.0 / std::sqrt(double(D)));
        return out.defined() ? Tensors{out} : Tensors{};
      },
      kSums);
}

// ---------------------------------------------------------------- indexing

void index_select_case(DType dtype, Layout layout, const Shape& shape, int dim,
                       const std::vector<int64_t>& index) {
  const uint64_t seed = next_seed();
  const int64_t n = static_cast<int64_t>(index.size());
  add(Entry::index_select, fmt::format("{} {} {} dim {} picks {}", dtype, layout_name(layout), shape, dim, n),
      [=] { return Tensors{make_input(shape, dtype, layout, seed), indices(index, {n})}; },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor out = empty(d, with(shape, dim, n), dtype);
        b.index_select(out, in[0], dim, in[1]);
        return Tensors{out};
      });
}

void gather_case(DType dtype, Layout layout, const Shape& shape, int dim, const Shape& index_shape,
                 Layout index_layout = kContiguous) {
  const uint64_t seed = next_seed();
  add(Entry::gather,
      fmt::format("{} {} {} dim {} index {} {}", dtype, layout_name(layout), shape, dim, index_shape,
                  layout_name(index_layout)),
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

void scatter_case(DType dtype, const Shape& shape, int dim, const Shape& index_shape, bool accumulate,
                  Layout src_layout) {
  const uint64_t seed = next_seed();
  add(Entry::scatter,
      fmt::format("{} {} {} dim {} index {} src {}", accumulate ? "add" : "assign", dtype, shape, dim,
                  index_shape, layout_name(src_layout)),
      [=] {
        return Tensors{make_input(shape, dtype, kContiguous, seed), hashed_indices(index_shape, shape[dim], seed + 1),
                       make_input(index_shape, dtype, src_layout, seed + 2)};
      },
      [=](Backend& b, Device, const Tensors& in) {
        b.scatter(in[0], dim, in[1], in[2], accumulate);
        return Tensors{in[0]};
      },
      kSums);
}

void index_add_case(DType dtype, const Shape& shape, int dim, const Shape& src_shape, Layout src_layout) {
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
  add(Entry::topk,
      fmt::format("{} {} {} k {} dim {} {}{}{}", dtype, layout_name(layout), shape, k, dim,
                  largest ? "largest" : "smallest", sorted ? " sorted" : " unsorted", nans ? " NaN" : ""),
      [=] {
        // Whole numbers in a small range: ties, which go to the lower index.
        Tensor x = make_input(shape, dtype, layout, seed, -4, 4, true);
        return Tensors{nans ? poke(x, 5, std::nan("")) : x};
      },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor values = empty(d, with(shape, dim, k), dtype), at = empty(d, with(shape, dim, k), i64);
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

// ---------------------------------------------------------------- convolution and pooling

Geometry conv_geometry(const Shape& x, const Shape& w, std::array<int64_t, 2> stride,
                       std::array<int64_t, 2> pad, std::array<int64_t, 2> dilation, int64_t groups) {
  Geometry g;
  g.batch = x[0], g.in_channels = x[1], g.out_channels = w[0], g.groups = groups;
  g.in_h = x[2], g.in_w = x[3], g.kernel_h = w[2], g.kernel_w = w[3];
  g.stride_h = stride[0], g.stride_w = stride[1], g.pad_h = pad[0], g.pad_w = pad[1];
  g.dilation_h = dilation[0], g.dilation_w = dilation[1];
  g.out_h = (g.in_h + 2 * g.pad_h - g.dilation_h * (g.kernel_h - 1) - 1) / g.stride_h + 1;
  g.out_w = (g.in_w + 2 * g.pad_w - g.dilation_w * (g.kernel_w - 1) - 1) / g.stride_w + 1;
  return g;
}

// conv2d (with and without bias) and both of its gradients, in f32 and f64.
void conv_family(const char* name, const Shape& x, const Shape& w, std::array<int64_t, 2> stride = {1, 1},
                 std::array<int64_t, 2> pad = {0, 0}, std::array<int64_t, 2> dilation = {1, 1},
                 int64_t groups = 1) {
  const Geometry g = conv_geometry(x, w, stride, pad, dilation, groups);
  const Shape y{g.batch, g.out_channels, g.out_h, g.out_w};
  for (DType dtype : {f32, f64}) {
    const uint64_t seed = next_seed();
    auto inputs = [=] {
      return Tensors{make_input(x, dtype, kContiguous, seed), make_input(w, dtype, kContiguous, seed + 1),
                     make_input({w[0]}, dtype, kContiguous, seed + 2), make_input(y, dtype, kContiguous, seed + 3)};
    };
    for (bool bias : {true, false})
      add(Entry::conv2d, fmt::format("{} {}{}", name, dtype, bias ? " + bias" : ""), inputs,
          [=](Backend& b, Device d, const Tensors& in) {
            const Tensor out = empty(d, y, dtype);
            b.conv2d(out, in[0], in[1], bias ? in[2] : Tensor(), g);
            return Tensors{out};
          },
          kSums);
    add(Entry::conv2d_input_grad, fmt::format("{} {}", name, dtype), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor grad_input = empty(d, x, dtype);
          b.conv2d_input_grad(grad_input, in[3], in[1], g);
          return Tensors{grad_input};
        },
        kSums);
    add(Entry::conv2d_weight_grad, fmt::format("{} {}", name, dtype), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor grad_weight = empty(d, w, dtype);
          b.conv2d_weight_grad(grad_weight, in[3], in[0], g);
          return Tensors{grad_weight};
        },
        kSums);
  }
}

// Dynamic convolution's kernel mixture over K factors: whole kernels, or only `density` of the
// kernel's positions mixed over a base kernel.
void kernel_mixture_case(DType dtype, const Shape& x, const Shape& w, int64_t K, int64_t groups,
                         std::array<int64_t, 2> stride, std::array<int64_t, 2> pad, bool biases,
                         double density = 0) {
  const Geometry g = conv_geometry(x, w, stride, pad, {1, 1}, groups);
  const uint64_t seed = next_seed();
  const std::vector<int64_t> positions = test::increasing_positions(numel(w), density, seed);
  const int64_t D = static_cast<int64_t>(positions.size());
  add(Entry::kernel_mixture_conv2d,
      fmt::format("{} x {} w {} K {} groups {} stride {} pad {}{}{}", dtype, x, w, K, groups, stride[0],
                  pad[0], biases ? " + biases" : "", density > 0 ? fmt::format(", {} positions over a base", D) : ""),
      [=] {
        Shape factors_shape{K};
        if (density > 0) {
          factors_shape.push_back(D);
        } else {
          for (int64_t s : w) factors_shape.push_back(s);
        }
        return Tensors{make_input(x, dtype, kContiguous, seed), make_input({x[0], K}, dtype, kContiguous, seed + 1, 0, 1),
                       make_input(factors_shape, dtype, kContiguous, seed + 2),
                       biases ? make_input({x[0], w[0]}, dtype, kContiguous, seed + 3) : Tensor(),
                       density > 0 ? make_input(w, dtype, kContiguous, seed + 4) : Tensor(),
                       density > 0 ? indices(positions, {D}) : Tensor()};
      },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor out = empty(d, {g.batch, g.out_channels, g.out_h, g.out_w}, dtype);
        b.kernel_mixture_conv2d(out, in[0], in[1], in[2], in[3], in[4], in[5], g);
        return Tensors{out};
      },
      kSums);
}

PoolGeometry pool_geometry(int64_t planes, int64_t in_h, int64_t in_w, int64_t kernel, int64_t stride,
                           int64_t pad, int64_t adaptive_out) {
  PoolGeometry g;
  g.planes = planes, g.in_h = in_h, g.in_w = in_w;
  if (adaptive_out > 0) {
    g.adaptive = true;
    g.out_h = g.out_w = adaptive_out;
  } else {
    g.kernel_h = g.kernel_w = kernel, g.stride_h = g.stride_w = stride, g.pad_h = g.pad_w = pad;
    g.out_h = (in_h + 2 * pad - kernel) / stride + 1;
    g.out_w = (in_w + 2 * pad - kernel) / stride + 1;
  }
  return g;
}

// Max pooling (with and without indices) and average pooling, with their backwards, in f32 and
// f64; `ties` fills the planes with whole numbers so windows hold equal maxima, `nans` plants NaNs.
void pool_family(const char* name, int64_t planes, int64_t in_h, int64_t in_w, int64_t kernel,
                 int64_t stride, int64_t pad, int64_t adaptive_out = 0, bool ties = false, bool nans = false) {
  const PoolGeometry g = pool_geometry(planes, in_h, in_w, kernel, stride, pad, adaptive_out);
  const Shape x{planes, in_h, in_w}, y{planes, g.out_h, g.out_w};
  for (DType dtype : {f32, f64}) {
    const uint64_t seed = next_seed();
    auto inputs = [=] {
      Tensor input = make_input(x, dtype, kContiguous, seed, -3, 3, ties);
      if (nans) poke(input, 11, std::nan(""));
      // The indices max_pool2d_backward reads, from the reference forward.
      const Tensor maxima = Tensor::empty(y, dtype), at = Tensor::empty(y, i64);
      reference_backend().max_pool2d(maxima, at, input, g);
      return Tensors{input, make_input(y, dtype, kContiguous, seed + 1), at};
    };
    for (bool with_indices : {true, false})
      add(Entry::max_pool2d, fmt::format("{} {}{}", name, dtype, with_indices ? "" : " (no indices)"), inputs,
          [=](Backend& b, Device d, const Tensors& in) {
            const Tensor out = empty(d, y, dtype), at = with_indices ? empty(d, y, i64) : Tensor();
            b.max_pool2d(out, at, in[0], g);
            return with_indices ? Tensors{out, at} : Tensors{out};
          });
    add(Entry::max_pool2d_backward, fmt::format("{} {}", name, dtype), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor grad_input = empty(d, x, dtype);
          b.max_pool2d_backward(grad_input, in[1], in[2], g);
          return Tensors{grad_input};
        },
        kSums);
    add(Entry::avg_pool2d, fmt::format("{} {}", name, dtype), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor out = empty(d, y, dtype);
          b.avg_pool2d(out, in[0], g);
          return Tensors{out};
        },
        kSums);
    add(Entry::avg_pool2d_backward, fmt::format("{} {}", name, dtype), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor grad_input = empty(d, x, dtype);
          b.avg_pool2d_backward(grad_input, in[1], g);
          return Tensors{grad_input};
        },
        kSums);
  }
}

// ---------------------------------------------------------------- softmax and losses

enum class Special { none, minus_inf_entries, minus_inf_row, nan_entry };

void softmax_case(DType dtype, Layout layout, const Shape& shape, int dim, Special special = Special::none) {
  const uint64_t seed = next_seed();
  const char* what[] = {"", " with -inf entries", " with a row of -inf", " with NaN"};
  for (bool log : {false, true})
    add(Entry::softmax,
        fmt::format("{} {} {} {} dim {}{}", log ? "log_softmax" : "softmax", dtype, layout_name(layout),
                    shape, dim, what[static_cast<int>(special)]),
        [=] {
          Tensor x = make_input(shape, dtype, layout, seed, -5, 5);
          if (special == Special::minus_inf_entries) poke(x, 3, -std::numeric_limits<double>::infinity());
          if (special == Special::minus_inf_row) poke(x, 1, -std::numeric_limits<double>::infinity());
          if (special == Special::nan_entry) poke(x, 13, std::nan(""));
          return Tensors{x};
        },
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor out = empty(d, shape, dtype);
          b.softmax(out, in[0], dim, log);
          return Tensors{out};
        },
        kSums);
}

void softmax_backward_case(DType dtype, Layout grad_layout, const Shape& shape, int dim) {
  const uint64_t seed = next_seed();
  for (bool log : {false, true})
    add(Entry::softmax_backward,
        fmt::format("{} {} grad {} {} dim {}", log ? "log_softmax" : "softmax", dtype,
                    layout_name(grad_layout), shape, dim),
        [=] {
          const Tensor y = Tensor::empty(shape, dtype);
          reference_backend().softmax(y, make_input(shape, dtype, kContiguous, seed, -3, 3), dim, log);
          return Tensors{make_input(shape, dtype, grad_layout, seed + 1), y};
        },
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor grad_in = empty(d, shape, dtype);
          b.softmax_backward(grad_in, in[0], in[1], dim, log);
          return Tensors{grad_in};
        },
        kSums);
}

// Targets in [0, C), every fifth one ignored when `ignore`.
Tensor targets(int64_t N, int64_t S, int64_t C, bool ignore, uint64_t seed) {
  Tensor t = hashed_indices({N, S}, C, seed);
  if (ignore)
    for (int64_t i = 0; i < N * S; i += 5) t.data<int64_t>()[i] = -100;
  return t;
}

void cross_entropy_family(DType dtype, int64_t N, int64_t C, int64_t S, bool weighted, bool ignore,
                          double smoothing) {
  const uint64_t seed = next_seed();
  const std::string name = fmt::format("{} [{}, {}, {}]{}{} smoothing {}", dtype, N, C, S,
                                       weighted ? " weighted" : "", ignore ? " with ignored targets" : "",
                                       smoothing);
  auto spec_of = [=](const Tensors& in) {
    return Backend::CrossEntropyTarget{.target = in[1], .weight = in[2], .ignore_index = -100,
                                       .label_smoothing = smoothing};
  };
  auto inputs = [=] {
    const Tensor logits = make_input({N, C, S}, dtype, kContiguous, seed, -4, 4);
    const Tensor target = targets(N, S, C, ignore, seed + 1);
    const Tensor weight = weighted ? make_input({C}, dtype, kContiguous, seed + 2, 0.2, 2) : Tensor();
    const Tensor loss = Tensor::empty({N, S}, dtype), lse = Tensor::empty({2, N, S}, dtype);
    reference_backend().cross_entropy(loss, lse, logits, spec_of({logits, target, weight}));
    // A per-position gradient, and the stride-0 one of a reduced (mean or sum) loss.
    const Tensor grad = make_input({N, S}, dtype, kContiguous, seed + 3);
    const Tensor grad_of_reduced = make_view(make_input({1}, dtype, kContiguous, seed + 4), {N, S}, {0, 0}, 0);
    return Tensors{logits, target, weight, lse, grad, grad_of_reduced};
  };
  add(Entry::cross_entropy, name, inputs,
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor loss = empty(d, {N, S}, dtype), lse = empty(d, {2, N, S}, dtype);
        b.cross_entropy(loss, lse, in[0], spec_of(in));
        return Tensors{loss, lse};
      },
      kSums);
  for (int grad : {4, 5})
    add(Entry::cross_entropy_backward, name + (grad == 5 ? ", grad of a reduced loss" : ""), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor grad_logits = empty(d, {N, C, S}, dtype);
          b.cross_entropy_backward(grad_logits, in[grad], in[0], in[3], spec_of(in));
          return Tensors{grad_logits};
        },
        kSums);
}

// ---------------------------------------------------------------- normalisation and recurrent cells

void layer_norm_family(DType dtype, int64_t M, int64_t N, bool affine) {
  const uint64_t seed = next_seed();
  const std::string name = fmt::format("{} [{}, {}]{}", dtype, M, N, affine ? " affine" : "");
  auto inputs = [=] {
    const Tensor x = make_input({M, N}, dtype, kContiguous, seed, -3, 3);
    const Tensor w = affine ? make_input({N}, dtype, kContiguous, seed + 1) : Tensor();
    const Tensor bias = affine ? make_input({N}, dtype, kContiguous, seed + 2) : Tensor();
    const Tensor out = Tensor::empty({M, N}, dtype), mean = Tensor::empty({M}, dtype), rstd = Tensor::empty({M}, dtype);
    reference_backend().layer_norm(out, mean, rstd, x, w, bias, 1e-5);
    return Tensors{x, w, bias, mean, rstd, make_input({M, N}, dtype, kContiguous, seed + 3)};
  };
  add(Entry::layer_norm, name, inputs,
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor out = empty(d, {M, N}, dtype), mean = empty(d, {M}, dtype), rstd = empty(d, {M}, dtype);
        b.layer_norm(out, mean, rstd, in[0], in[1], in[2], 1e-5);
        return Tensors{out, mean, rstd};
      },
      kSums);
  for (bool all_grads : {true, false})
    add(Entry::layer_norm_backward, name + (all_grads ? "" : ", input grad only"), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor gi = empty(d, {M, N}, dtype);
          const Tensor gw = all_grads ? empty(d, {N}, dtype) : Tensor();
          const Tensor gb = all_grads ? empty(d, {N}, dtype) : Tensor();
          b.layer_norm_backward(gi, gw, gb, in[5], in[0], in[3], in[4], in[1]);
          return all_grads ? Tensors{gi, gw, gb} : Tensors{gi};
        },
        kSums);
}

void batch_norm_family(DType dtype, int64_t N, int64_t C, int64_t S) {
  const uint64_t seed = next_seed();
  const std::string name = fmt::format("{} [{}, {}, {}]", dtype, N, C, S);
  auto inputs = [=] {
    return Tensors{make_input({N, C, S}, dtype, kContiguous, seed, -3, 3), make_input({C}, dtype, kContiguous, seed + 1),
                   make_input({C}, dtype, kContiguous, seed + 2), make_input({N, C, S}, dtype, kContiguous, seed + 3),
                   make_input({C}, dtype, kContiguous, seed + 4)};
  };
  add(Entry::batch_norm_stats, name, inputs,
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor mean = empty(d, {C}, dtype), var = empty(d, {C}, dtype);
        b.batch_norm_stats(mean, var, in[0]);
        return Tensors{mean, var};
      },
      kSums);
  for (bool with_y : {false, true})
    add(Entry::channel_affine, name + (with_y ? " + y * y_scale" : ""), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor out = empty(d, {N, C, S}, dtype);
          b.channel_affine(out, in[0], in[1], in[2], with_y ? in[3] : Tensor(), with_y ? in[4] : Tensor());
          return Tensors{out};
        });
  add(Entry::batch_norm_backward_reduce, name, inputs,
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor sum_dy = empty(d, {C}, dtype), sum_dy_xmu = empty(d, {C}, dtype);
        b.batch_norm_backward_reduce(sum_dy, sum_dy_xmu, in[3], in[0], in[1]);
        return Tensors{sum_dy, sum_dy_xmu};
      },
      kSums);
}

// The LSTM cell and its two backward halves; `layout` is the gates' (sliced: rows farther apart
// than 4H, as a view of a wider projection), `with_c` whether there is a previous cell state.
void lstm_family(DType dtype, int64_t B, int64_t H, Layout layout, bool with_c) {
  const uint64_t seed = next_seed();
  const std::string name = fmt::format("{} B{} H{} gates {}{}", dtype, B, H, layout_name(layout),
                                       with_c ? "" : ", no c");
  auto inputs = [=] {
    return Tensors{make_input({B, 4 * H}, dtype, layout, seed, -3, 3),
                   with_c ? make_input({B, H}, dtype, layout, seed + 1) : Tensor(),
                   make_input({B, H}, dtype, layout, seed + 2), make_input({B, H}, dtype, layout, seed + 3)};
  };
  add(Entry::lstm_cell, name, inputs, [=](Backend& b, Device d, const Tensors& in) {
    const Tensor h = empty(d, {B, H}, dtype), c_next = empty(d, {B, H}, dtype);
    b.lstm_cell(h, c_next, in[0], in[1]);
    return Tensors{h, c_next};
  });
  for (bool want_grad_c : {true, false})
    add(Entry::lstm_cell_state_backward, name + (want_grad_c ? "" : ", no grad_c"), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor grad_gates = empty(d, {B, 4 * H}, dtype);
          const Tensor grad_c = want_grad_c && with_c ? empty(d, {B, H}, dtype) : Tensor();
          b.lstm_cell_state_backward(grad_gates, grad_c, in[2], in[0], in[1]);
          return grad_c.defined() ? Tensors{grad_gates, grad_c} : Tensors{grad_gates};
        });
  add(Entry::lstm_cell_output_backward, name, inputs, [=](Backend& b, Device d, const Tensors& in) {
    // o is the o quarter of the gates, as the op layer passes it.
    const Tensor o = make_view(in[0], {B, H}, in[0].strides(), in[0].offset() + 3 * H * in[0].strides()[1]);
    const Tensor grad_o = empty(d, {B, H}, dtype), grad_c_next = empty(d, {B, H}, dtype);
    b.lstm_cell_output_backward(grad_o, grad_c_next, in[3], o, in[2]);
    return Tensors{grad_o, grad_c_next};
  });
}

// ---------------------------------------------------------------- the table

const std::vector<Case>& cases() {
  if (!table().empty()) return table();
  // memory
  memory_case(Entry::allocate, 1);
  memory_case(Entry::deallocate, 4099);
  memory_case(Entry::copy_from_host, 64);
  memory_case(Entry::copy_to_host, 1 << 20);
  // fill and copy
  fill_case(f32, kContiguous, {300, 250}, 1.5);
  fill_case(f64, kTransposed, {4, 5}, -2.0);
  fill_case(i64, kSliced, {3, 4, 5}, 7);
  fill_case(b8, kStrided, {6, 7}, 1);
  copy_case(f32, kContiguous, f32, kTransposed, {300, 250});
  copy_case(f64, kSliced, f64, kBroadcast, {4, 6});
  copy_case(f32, kContiguous, f64, kStrided, {5, 7});
  copy_case(f64, kTransposed, f32, kContiguous, {6, 3});
  copy_case(i64, kContiguous, f32, kSliced, {4, 5});
  copy_case(f32, kContiguous, i64, kTransposed, {5, 4});
  copy_case(b8, kContiguous, f64, kContiguous, {3, 8});
  copy_case(f64, kStrided, b8, kBroadcast, {3, 8});
  copy_case(i64, kBroadcast, i64, kContiguous, {1, 9});
  // unary: every op
  unary_family(UnaryOp::neg, "neg", -3, 3);
  unary_family(UnaryOp::exp, "exp", -5, 5);
  unary_family(UnaryOp::log, "log", 0.01, 5);
  unary_family(UnaryOp::log1p, "log1p", -0.9, 5);
  unary_family(UnaryOp::sqrt, "sqrt", 0, 5);
  unary_family(UnaryOp::rsqrt, "rsqrt", 0.01, 5);
  unary_family(UnaryOp::abs, "abs", -3, 3);
  unary_family(UnaryOp::sign, "sign", -3, 3);
  unary_family(UnaryOp::sin, "sin", -4, 4);
  unary_family(UnaryOp::cos, "cos", -4, 4);
  unary_family(UnaryOp::erf, "erf", -3, 3);
  unary_family(UnaryOp::tanh, "tanh", -4, 4);
  unary_family(UnaryOp::sigmoid, "sigmoid", -6, 6);
  unary_family(UnaryOp::relu, "relu", -3, 3);
  unary_family(UnaryOp::silu, "silu", -4, 4);
  unary_family(UnaryOp::gelu_erf, "gelu_erf", -4, 4);
  unary_family(UnaryOp::gelu_tanh, "gelu_tanh", -4, 4);
  unary_family(UnaryOp::softplus, "softplus beta 2 threshold 5", -5, 5, 2.0, 5.0);
  unary_family(UnaryOp::leaky_relu, "leaky_relu 0.1", -3, 3, 0.1);
  unary_family(UnaryOp::clamp, "clamp [-1, 0.5]", -3, 3, -1.0, 0.5);
  unary_family(UnaryOp::pow_scalar, "pow 3", -2, 2, 3.0);
  unary_family(UnaryOp::pow_scalar, "pow 0.5", 0, 4, 0.5);
  unary_family(UnaryOp::pow_scalar, "pow -1.5", 0.1, 4, -1.5);
  unary_case(UnaryOp::exp, "exp below the underflow point", f32, kContiguous, {64}, -200, -80, 0, 0);
  unary_case(UnaryOp::neg, "neg", i64, kTransposed, {4, 5}, -9, 9, 0, 0);
  unary_case(UnaryOp::abs, "abs", i64, kContiguous, {40}, -9, 9, 0, 0);
  unary_case(UnaryOp::sign, "sign", i64, kSliced, {4, 5}, -3, 3, 0, 0);
  unary_case(UnaryOp::logical_not, "logical_not", b8, kContiguous, {300, 250}, 0, 1, 0, 0);
  unary_case(UnaryOp::logical_not, "logical_not", b8, kTransposed, {4, 5}, 0, 1, 0, 0);
  // binary: every op
  binary_family(BinaryOp::add, "add");
  binary_family(BinaryOp::sub, "sub");
  binary_family(BinaryOp::mul, "mul");
  binary_family(BinaryOp::div, "div", 0.5, 2);
  binary_family(BinaryOp::pow, "pow", -2, 2);
  binary_family(BinaryOp::maximum, "maximum", -2, 2, true);
  binary_family(BinaryOp::minimum, "minimum", -2, 2, true);
  binary_family(BinaryOp::sigmoid_grad, "sigmoid_grad", 0, 1);
  binary_family(BinaryOp::tanh_grad, "tanh_grad", -1, 1);
  binary_family(BinaryOp::relu_grad, "relu_grad", -1, 1);
  binary_family(BinaryOp::eq, "eq", -2, 2, true);
  binary_family(BinaryOp::ne, "ne", -2, 2, true);
  binary_family(BinaryOp::lt, "lt", -2, 2, true);
  binary_family(BinaryOp::le, "le", -2, 2, true);
  binary_family(BinaryOp::gt, "gt", -2, 2, true);
  binary_family(BinaryOp::ge, "ge", -2, 2, true);
  binary_case(BinaryOp::add, "add", i64, kContiguous, kBroadcast, {5, 6}, -9, 9);
  binary_case(BinaryOp::mul, "mul", i64, kTransposed, kContiguous, {5, 6}, -9, 9);
  binary_case(BinaryOp::pow, "pow", i64, kContiguous, kSliced, {4, 5}, 0, 4);
  binary_case(BinaryOp::maximum, "maximum", i64, kStrided, kContiguous, {4, 5}, -9, 9);
  binary_case(BinaryOp::lt, "lt", i64, kContiguous, kBroadcast, {6, 4}, -2, 2);
  binary_case(BinaryOp::eq, "eq", i64, kSliced, kTransposed, {6, 4}, -2, 2);
  binary_case(BinaryOp::logical_and, "logical_and", b8, kContiguous, kContiguous, {300, 250});
  binary_case(BinaryOp::logical_or, "logical_or", b8, kTransposed, kBroadcast, {5, 6});
  binary_case(BinaryOp::logical_xor, "logical_xor", b8, kSliced, kStrided, {5, 6});
  binary_case(BinaryOp::eq, "eq", b8, kContiguous, kTransposed, {5, 6});
  // where and the Adam step
  where_case(f32, kContiguous, kContiguous, kContiguous, {300, 250});
  where_case(f64, kBroadcast, kTransposed, kSliced, {4, 6});
  where_case(i64, kTransposed, kBroadcast, kContiguous, {5, 3});
  where_case(b8, kSliced, kStrided, kBroadcast, {3, 4});
  adam_case(f32, kContiguous, {300, 250});
  adam_case(f64, kContiguous, {1000});
  adam_case(f32, kSliced, {6, 7});
  adam_case(f64, kTransposed, {5, 4});
  // reductions
  reduce_family(ReduceOp::sum, "sum");
  reduce_family(ReduceOp::max, "max");
  reduce_family(ReduceOp::min, "min");
  reduce_case(ReduceOp::max, "max", f32, kContiguous, {6, 9}, {6, 1}, true);
  reduce_case(ReduceOp::min, "min", f64, kContiguous, {6, 9}, {1, 9}, true);
  reduce_case(ReduceOp::sum, "sum", f32, kContiguous, {6, 9}, {1, 1}, true);
  arg_reduce_case(true, f32, kContiguous, {300, 250}, 1, false);
  arg_reduce_case(false, f64, kContiguous, {300, 250}, 0, false);
  arg_reduce_case(true, f64, kTransposed, {4, 6, 5}, 1, true);
  arg_reduce_case(false, f32, kSliced, {4, 6, 5}, 2, true);
  arg_reduce_case(true, i64, kStrided, {7, 6}, 1, true);
  arg_reduce_case(false, f64, kBroadcast, {3, 7}, 0, true);
  arg_reduce_case(true, f32, kContiguous, {5, 9}, 1, false, true);
  arg_reduce_case(false, f64, kContiguous, {9, 5}, 0, false, true);
  cumsum_case(f32, kContiguous, {300, 250}, 1);
  cumsum_case(f64, kContiguous, {300, 250}, 0);
  cumsum_case(f64, kTransposed, {4, 6, 5}, 1);
  cumsum_case(f32, kSliced, {4, 6, 5}, 2);
  cumsum_case(i64, kStrided, {5, 8}, 1);
  cumsum_case(f64, kBroadcast, {3, 7}, 0);
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
  // convolution
  conv_family("plain 3x3", {2, 3, 7, 6}, {4, 3, 3, 3});
  conv_family("stride 2, padding 1", {2, 3, 9, 8}, {5, 3, 3, 3}, {2, 2}, {1, 1});
  conv_family("stride 3 (rows left unread)", {1, 2, 10, 11}, {2, 2, 3, 3}, {3, 3});
  conv_family("dilation 2, padding 2", {1, 2, 9, 9}, {3, 2, 3, 3}, {1, 1}, {2, 2}, {2, 2});
  conv_family("groups 2, asymmetric", {2, 4, 6, 7}, {6, 2, 3, 2}, {2, 1}, {1, 0}, {1, 1}, 2);
  conv_family("depthwise", {2, 5, 8, 8}, {5, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 5);
  conv_family("depthwise, multiplier 2, stride 2", {2, 3, 9, 9}, {6, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1}, 3);
  conv_family("depthwise 3x2, dilation 2", {2, 4, 9, 8}, {4, 1, 3, 2}, {2, 1}, {2, 2}, {2, 2}, 4);
  conv_family("1x1", {2, 5, 4, 4}, {3, 5, 1, 1});
  conv_family("1x1 stride 2 padding 1", {2, 5, 5, 4}, {3, 5, 1, 1}, {2, 2}, {1, 1});
  conv_family("padding wider than the kernel reach", {1, 1, 2, 3}, {2, 1, 2, 2}, {1, 2}, {3, 2});
  conv_family("threaded: batch 4", {4, 8, 10, 10}, {16, 8, 3, 3}, {1, 1}, {1, 1});
  conv_family("threaded: depthwise 64 channels", {8, 64, 14, 14}, {64, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 64);
  conv_family("threaded rows: batch 1", {1, 16, 15, 13}, {32, 16, 3, 3}, {1, 1}, {1, 1});
  conv_family("threaded: groups = batch 8", {1, 32, 10, 10}, {64, 4, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 8);
  kernel_mixture_case(f32, {3, 4, 8, 8}, {6, 4, 3, 3}, 4, 1, {1, 1}, {1, 1}, true);
  kernel_mixture_case(f64, {2, 4, 7, 9}, {4, 1, 3, 3}, 3, 4, {2, 2}, {1, 1}, false);
  kernel_mixture_case(f64, {3, 4, 8, 8}, {6, 4, 3, 3}, 4, 1, {1, 1}, {1, 1}, true, 0.3);
  kernel_mixture_case(f32, {2, 6, 6, 6}, {6, 3, 3, 3}, 2, 2, {1, 1}, {0, 0}, true, 0.5);
  kernel_mixture_case(f32, {8, 16, 12, 12}, {32, 16, 3, 3}, 4, 1, {1, 1}, {1, 1}, true);
  // pooling
  pool_family("2x2 stride 2", 6, 8, 8, 2, 2, 0);
  pool_family("3x3 stride 2 padding 1", 4, 9, 7, 3, 2, 1);
  pool_family("3x3 stride 1, ties", 3, 6, 6, 3, 1, 1, 0, true);
  pool_family("2x2 stride 2, NaN", 3, 6, 6, 2, 2, 0, 0, false, true);
  pool_family("adaptive 7 -> 3", 5, 7, 7, 0, 0, 0, 3);
  pool_family("global (adaptive -> 1)", 5, 6, 5, 0, 0, 0, 1);
  pool_family("threaded: 2x2 over 512 planes", 512, 16, 16, 2, 2, 0);
  // softmax and losses
  softmax_case(f32, kContiguous, {64, 1000}, 1);
  softmax_case(f64, kContiguous, {300, 250}, 0);
  softmax_case(f64, kTransposed, {4, 6, 5}, 1);
  softmax_case(f32, kSliced, {4, 6, 5}, 2);
  softmax_case(f64, kBroadcast, {3, 7}, 1);
  softmax_case(f64, kContiguous, {6, 9}, 1, Special::minus_inf_entries);
  softmax_case(f32, kContiguous, {6, 9}, 0, Special::minus_inf_entries);
  softmax_case(f64, kContiguous, {4, 9}, 1, Special::minus_inf_row);
  softmax_case(f32, kContiguous, {6, 9}, 1, Special::nan_entry);
  softmax_backward_case(f32, kContiguous, {64, 1000}, 1);
  softmax_backward_case(f64, kContiguous, {300, 250}, 0);
  softmax_backward_case(f64, kTransposed, {4, 6, 5}, 2);
  softmax_backward_case(f32, kBroadcast, {4, 6, 5}, 1);
  cross_entropy_family(f32, 64, 10, 1, false, false, 0.0);
  cross_entropy_family(f64, 32, 7, 1, true, true, 0.0);
  cross_entropy_family(f64, 16, 5, 1, true, true, 0.1);
  cross_entropy_family(f32, 4, 6, 9, false, true, 0.2);
  cross_entropy_family(f64, 3, 5, 300, true, false, 0.0);
  cross_entropy_family(f32, 512, 100, 1, false, false, 0.1);
  // normalisation
  layer_norm_family(f32, 64, 768, true);
  layer_norm_family(f64, 7, 33, true);
  layer_norm_family(f32, 5, 16, false);
  batch_norm_family(f32, 8, 16, 196);
  batch_norm_family(f64, 3, 5, 7);
  batch_norm_family(f64, 4, 6, 1);
  // recurrent cells
  lstm_family(f32, 4, 8, kContiguous, true);
  lstm_family(f64, 3, 5, kSliced, true);
  lstm_family(f64, 2, 6, kContiguous, false);
  lstm_family(f32, 64, 128, kContiguous, true);
  return table();
}

// Puts each row along `dim` of (values, indices) in increasing index order, so that two topk
// results holding the same k entries compare equal whatever order they list them in.
void order_by_index(Tensor& values, Tensor& at, int dim) {
  const Tensor v = contiguous(to_dtype(values, f64)), ix = contiguous(at);
  const int64_t k = v.shape()[dim];
  REQUIRE(v.dim() == 2);
  const int64_t rows = v.shape()[1 - dim];
  auto index_of = [&](int64_t r, int64_t j) { return dim == 1 ? r * k + j : j * rows + r; };
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<std::pair<int64_t, double>> row(k);
    for (int64_t j = 0; j < k; ++j)
      row[j] = {ix.data<int64_t>()[index_of(r, j)], v.data<double>()[index_of(r, j)]};
    std::sort(row.begin(), row.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (int64_t j = 0; j < k; ++j) {
      ix.data<int64_t>()[index_of(r, j)] = row[j].first;
      v.data<double>()[index_of(r, j)] = row[j].second;
    }
  }
  values = to_dtype(v, values.dtype());
  at = ix;
}

// The names of the virtual functions backend.h declares.
std::set<std::string> declared_entries() {
  std::ifstream file(std::string(DG_TEST_DATA_DIR) + "/../engine/backend.h");
  REQUIRE(file.good());
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const std::regex virtual_function(R"(virtual\s+[\w:<>*&\s]+?\b(\w+)\s*\()");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), virtual_function);
       it != std::sregex_iterator(); ++it)
    names.insert((*it)[1]);
  return names;
}

}  // namespace

TEST_CASE("backend registry: every Backend entry is listed and has a case") {
  const std::set<std::string> declared = declared_entries();
  const std::set<std::string> listed(entry_names().begin(), entry_names().end());
  CHECK(declared.size() > 30);  // the parse found the table
  for (const std::string& name : declared) {
    INFO("engine/backend.h declares " << name);
    CHECK(listed.count(name) == 1);
  }
  for (const std::string& name : listed) {
    INFO("backend_entries.def lists " << name);
    CHECK(declared.count(name) == 1);
  }
  std::map<std::string, int> per_entry;
  for (const Case& c : cases()) ++per_entry[entry_name(c.entry)];
  for (const std::string& name : entry_names()) {
    INFO("entry " << name);
    CHECK(per_entry[name] > 0);
  }
}

TEST_CASE("backend registry: every backend matches the reference backend on every case") {
  for (const BackendUnderTest& under_test : backends_under_test()) {
    std::map<std::string, int> taken;
    for (const Case& c : cases()) {
      INFO(under_test.name << " " << entry_name(c.entry) << ": " << c.name);
      const Tensors host = c.inputs();
      // Each side gets its own copy of the inputs (the kernels may update them in place).
      Tensors for_reference, for_backend;
      for (const Tensor& t : host) {
        for_reference.push_back(to_device(t, Device::cpu()));
        for_backend.push_back(to_device(t, under_test.device));
      }
      const Tensors want = c.run(reference_backend(), Device::cpu(), for_reference);
      REQUIRE(!want.empty());
      const Tensors got = c.run(backend(under_test.device), under_test.device, for_backend);
      if (got.empty()) {  // declined: allowed for the optional fast paths only
        CHECK(is_optional(c.entry));
        continue;
      }
      ++taken[entry_name(c.entry)];
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        Tensor g = to_host(got[i]), w = want[i];
        if (c.unordered_dim >= 0 && i == 0) {
          Tensor g_at = to_host(got[1]), w_at = want[1];
          order_by_index(g, g_at, c.unordered_dim);
          order_by_index(w, w_at, c.unordered_dim);
          CHECK(mismatch(g_at, w_at, c.tolerance) == "");
        }
        if (c.unordered_dim >= 0 && i == 1) continue;  // compared with the values
        INFO("output " << i);
        CHECK(mismatch(g, w, c.tolerance) == "");
      }
    }
    for (Entry e : under_test.must_take) {
      INFO(under_test.name << " takes its fast path of " << entry_name(e) << " in some case");
      CHECK(taken[entry_name(e)] > 0);
    }
  }
}
