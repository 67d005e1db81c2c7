// Backend registry cases (test_backend_registry.cpp) for memory, the elementwise family (fill,
// copy, every unary and binary op, where, the Adam step) and the reductions (reduce over any dims,
// arg_reduce, cumsum): one line per case family in register_elementwise_cases.
#include <cmath>
#include <limits>

#include "engine/scalar_math.h"
#include "tests/engine/backend_registry.h"

namespace dg::test::registry {

namespace {

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
  add(
      Entry::copy,
      fmt::format("{} {} <- {} {} {}", to, layout_name(to_layout), from, layout_name(from_layout),
                  shape),
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
  add(
      Entry::where,
      fmt::format("{} cond {} a {} b {} {}", dtype, layout_name(lc), layout_name(la),
                  layout_name(lb), shape),
      [=] {
        return Tensors{make_input(shape, b8, lc, seed, 0, 1),
                       make_input(shape, dtype, la, seed + 1),
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
  add(
      Entry::adam_step, fmt::format("{} {} {}", dtype, layout_name(layout), shape),
      [=] {
        return Tensors{make_input(shape, dtype, layout, seed),
                       make_input(shape, dtype, layout, seed + 1),
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
  add(
      Entry::reduce,
      fmt::format("{} {} {} {} -> {}{}", name, dtype, layout_name(layout), shape, out_shape,
                  nans ? " NaN" : ""),
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
  add(
      Entry::arg_reduce,
      fmt::format("{} {} {} {} dim {}{}{}", is_max ? "max" : "min", dtype, layout_name(layout),
                  shape, dim, ties ? " ties" : "", nans ? " NaN" : ""),
      [=] {
        Tensor x = make_input(shape, dtype, layout, seed, -3, 3, ties);
        return Tensors{nans ? poke(x, 7, std::nan("")) : x};
      },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor values = empty(d, with(shape, dim, 1), dtype),
                     at = empty(d, with(shape, dim, 1), i64);
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

}  // namespace

void register_elementwise_cases() {
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
  unary_case(UnaryOp::exp, "exp below the underflow point", f32, kContiguous, {64}, -200, -80, 0,
             0);
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
}

}  // namespace dg::test::registry
