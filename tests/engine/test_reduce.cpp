// Tests of the reductions (engine/ops/reduce.cpp, engine/cpu/reduce_kernels.cpp): values against
// hand-computed results over all, some, negative and repeated dims with keepdim; transposed and
// broadcast (stride 0) inputs; ties, NaN propagation, infinities and empty reductions; gradients
// whose value is a property of the op (tie sharing, the chosen index, zero-norm subgradient); the
// parallel kernel paths against a naive loop; and the error messages. Gradients against finite
// differences are in gradcheck_cases_reduce.cpp.
#include <cmath>
#include <limits>

#include "engine/flops.h"
#include "tests/engine/test_util.h"

namespace dg::test {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

void check_close(const Tensor& t, const std::vector<double>& expected, double tol = 1e-12) {
  const std::vector<double> got = values(t);
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << ", expected " << expected[i]);
    if (std::isnan(expected[i])) {
      CHECK(std::isnan(got[i]));
    } else if (std::isinf(expected[i])) {
      CHECK(got[i] == expected[i]);
    } else {
      CHECK(std::abs(got[i] - expected[i]) <= tol * std::max(1.0, std::abs(expected[i])));
    }
  }
}

std::vector<int64_t> ints(const Tensor& t) { return t.to_vector<int64_t>(); }

// [[1,2,3],[4,5,6]]
Tensor two_by_three() { return tensor_f64({1, 2, 3, 4, 5, 6}, {2, 3}); }
// x[i][j][k] = 12 i + 4 j + k
Tensor iota_2x3x4() { return to_dtype(reshape(arange(24), {2, 3, 4}), DType::f64); }

}  // namespace

TEST_CASE("reduce: sum and mean over all, some and negative dims, with keepdim") {
  const Tensor x = two_by_three();
  CHECK(sum(x).shape() == Shape{});
  CHECK(sum(x).item<double>() == 21);
  check_close(sum(x, {0}), {5, 7, 9});
  CHECK(sum(x, {1}, true).shape() == Shape{2, 1});
  check_close(sum(x, {1}, true), {6, 15});
  check_close(sum(x, {-1}), {6, 15});
  check_close(mean(x, {0}), {2.5, 3.5, 4.5});
  CHECK(mean(x).item<double>() == 3.5);

  const Tensor y = iota_2x3x4();
  // sum over i, k of 12 i + 4 j + k = 48 + 32 j + 12.
  check_close(sum(y, {0, 2}), {60, 92, 124});
  CHECK(sum(y, {2, 0}, true).shape() == Shape{1, 3, 1});
  CHECK(sum(y, {-3, -1}, true).shape() == Shape{1, 3, 1});

  // Bools are counted.
  Tensor b = sum(from_vector(std::vector<bool>{true, false, true, true}));
  CHECK(b.dtype() == DType::i64);
  CHECK(b.item<int64_t>() == 3);
  // An empty sum is 0.
  check_close(sum(zeros({0, 3}, DType::f64), {0}), {0, 0, 0});
}

TEST_CASE("reduce: transposed and broadcast (stride 0) inputs") {
  const Tensor xt = transpose(two_by_three(), 0, 1);  // [[1,4],[2,5],[3,6]]
  REQUIRE(!xt.is_contiguous());
  check_close(sum(xt, {1}), {5, 7, 9});
  check_close(amax(xt, {0}), {3, 6});
  auto [v, i] = max(xt, 1);
  check_close(v, {4, 5, 6});
  CHECK(ints(i) == std::vector<int64_t>{1, 1, 1});
  CHECK(ints(argmin(xt, 0)) == std::vector<int64_t>{0, 0});
  check_close(cumsum(xt, 0), {1, 4, 3, 9, 6, 15});
  check_close(cumsum(xt, 1), {1, 5, 2, 7, 3, 9});
  check_close(logsumexp(xt, {1}), {std::log(std::exp(1) + std::exp(4)),
                                   std::log(std::exp(2) + std::exp(5)),
                                   std::log(std::exp(3) + std::exp(6))});

  const Tensor b = expand(tensor_f64({1, 5, 3}, {3, 1}), {3, 4});
  REQUIRE(b.strides()[1] == 0);
  check_close(sum(b, {1}), {4, 20, 12});
  check_close(amax(b, {0}), {5, 5, 5, 5});
  auto [bv, bi] = max(b, 1);
  check_close(bv, {1, 5, 3});
  CHECK(ints(bi) == std::vector<int64_t>{0, 0, 0});  // a row of ties: the first index
  CHECK(ints(argmax(b, 0)) == std::vector<int64_t>{1, 1, 1, 1});
  check_close(cumsum(b, 1), {1, 2, 3, 4, 5, 10, 15, 20, 3, 6, 9, 12});
  check_close(cumsum(b, 0), {1, 1, 1, 1, 6, 6, 6, 6, 9, 9, 9, 9});
  check_close(var(b, {1}), {0, 0, 0});
}

TEST_CASE("reduce: amax, amin, max(x) and min(x)") {
  const Tensor x = tensor_f64({1, 7, 3, 4, -2, 6}, {2, 3});
  CHECK(amax(x).item<double>() == 7);
  CHECK(amin(x).item<double>() == -2);
  CHECK(max(x).item<double>() == 7);
  CHECK(min(x).item<double>() == -2);
  CHECK(max(x).shape() == Shape{});
  check_close(amax(x, {1}), {7, 6});
  CHECK(amin(x, {0}, true).shape() == Shape{1, 3});
  check_close(amin(x, {0}, true), {1, -2, 3});
  CHECK(amax(x, {-1, 0}).shape() == Shape{});
  CHECK(amax(x, {-1, 0}).item<double>() == 7);
  check_close(amax(iota_2x3x4(), {0, 2}), {15, 19, 23});
  check_close(amin(iota_2x3x4(), {1}), {0, 1, 2, 3, 12, 13, 14, 15});

  const Tensor n = amax(tensor_i64({3, 9, 2}));
  CHECK(n.dtype() == DType::i64);
  CHECK(n.item<int64_t>() == 9);
  CHECK(amin(tensor({2.5f, -1.5f})).item<float>() == -1.5f);
}

TEST_CASE("reduce: amax and amin share the gradient equally among ties") {
  Tensor x = tensor_f64({1, 3, 3, 2, 3}).set_requires_grad();
  amax(x).backward();
  check_close(x.grad(), {0, 1.0 / 3, 1.0 / 3, 0, 1.0 / 3});

  Tensor y = tensor_f64({1, 1, 2, 0, 5, 0}, {2, 3}).set_requires_grad();
  sum(amin(y, {1}) * tensor_f64({2, 4})).backward();
  check_close(y.grad(), {1, 1, 0, 2, 0, 2});

  Tensor z = tensor_f64({4, -1, 4, 4}).set_requires_grad();
  max(z).backward();
  check_close(z.grad(), {1.0 / 3, 0, 1.0 / 3, 1.0 / 3});
}

TEST_CASE("reduce: max/min along a dim give values and the first index among ties") {
  const Tensor x = tensor_f64({1, 7, 7, 4, -2, 4}, {2, 3});
  auto [v, i] = max(x, 1);
  CHECK(v.shape() == Shape{2});
  CHECK(i.dtype() == DType::i64);
  check_close(v, {7, 4});
  CHECK(ints(i) == std::vector<int64_t>{1, 0});
  auto [mv, mi] = min(x, -1);
  check_close(mv, {1, -2});
  CHECK(ints(mi) == std::vector<int64_t>{0, 1});
  auto [kv, ki] = max(x, 0, true);
  CHECK(kv.shape() == Shape{1, 3});
  CHECK(ki.shape() == Shape{1, 3});
  check_close(kv, {4, 7, 7});
  CHECK(ints(ki) == std::vector<int64_t>{1, 0, 0});

  CHECK(ints(argmax(x, 1)) == std::vector<int64_t>{1, 0});
  const Tensor am = argmin(x, 0, true);
  CHECK(am.shape() == Shape{1, 3});
  CHECK(ints(am) == std::vector<int64_t>{0, 1, 1});
  const Tensor mid = argmax(iota_2x3x4(), 1);
  CHECK(mid.shape() == Shape{2, 4});
  CHECK(ints(mid) == std::vector<int64_t>(8, 2));
  CHECK(ints(argmin(tensor_i64({5, 2, 9, 2}), 0)) == std::vector<int64_t>{1});

  // A 0-dim tensor is its own max, at index 0.
  auto [sv, si] = max(scalar(2.5, DType::f64), 0);
  CHECK(sv.shape() == Shape{});
  CHECK(sv.item<double>() == 2.5);
  CHECK(si.item<int64_t>() == 0);
  CHECK(amax(scalar(-1.0, DType::f64), {-1}).item<double>() == -1.0);
  CHECK(argmin(scalar(3.0), 0, true).shape() == Shape{});
}

TEST_CASE("reduce: max/min along a dim send the whole gradient to the chosen index") {
  Tensor x = tensor_f64({1, 7, 7, 4, -2, 4}, {2, 3}).set_requires_grad();
  auto [v, i] = max(x, 1);
  sum(v * tensor_f64({2, 3})).backward();
  check_close(x.grad(), {0, 2, 0, 3, 0, 0});  // ties: only the first index gets it

  Tensor y = tensor_f64({1, 7, 7, 4, -2, 4}, {2, 3}).set_requires_grad();
  auto [mv, mi] = min(y, 0, true);
  sum(mv * tensor_f64({1, 2, 3}, {1, 3})).backward();
  check_close(y.grad(), {1, 0, 0, 0, 2, 3});
  CHECK(!mi.requires_grad());
}

TEST_CASE("reduce: NaN propagates through max, min and their indices") {
  const Tensor x = to_dtype(tensor_f64({1, kNaN, 3, kNaN, 2, 5, 0, 1}, {2, 4}), DType::f32);
  check_close(amax(x, {1}), {kNaN, 5});
  check_close(amin(x, {1}), {kNaN, 0});
  CHECK(std::isnan(max(x).item<double>()));
  CHECK(std::isnan(min(x).item<double>()));
  auto [v, i] = max(x, 1);
  check_close(v, {kNaN, 5});
  CHECK(ints(i) == std::vector<int64_t>{1, 1});  // the first NaN
  auto [mv, mi] = min(x, 1);
  check_close(mv, {kNaN, 0});
  CHECK(ints(mi) == std::vector<int64_t>{1, 2});

  // Along the leading dim (the column layout of the kernel).
  const Tensor y = tensor_f64({1, 2, kNaN, 0, 3, kNaN}, {3, 2});
  CHECK(ints(argmax(y, 0)) == std::vector<int64_t>{1, 2});
  CHECK(ints(argmin(y, 0)) == std::vector<int64_t>{1, 2});

  // The NaN is the max, so it gets the gradient.
  Tensor z = tensor_f64({1, kNaN, 3}).set_requires_grad();
  amax(z).backward();
  check_close(z.grad(), {0, 1, 0});
}

TEST_CASE("reduce: var and std with correction and keepdim") {
  const Tensor x = tensor_f64({1, 2, 3, 4});
  CHECK(var(x).item<double>() == Approx(5.0 / 3));
  CHECK(var(x, {}, 0).item<double>() == Approx(1.25));
  CHECK(dg::std(x).item<double>() == Approx(std::sqrt(5.0 / 3)));

  const Tensor y = tensor_f64({1, 2, 3, 4, 2, 4, 6, 8}, {2, 4});
  check_close(var(y, {1}), {5.0 / 3, 20.0 / 3});
  CHECK(var(y, {-1}, 1, true).shape() == Shape{2, 1});
  check_close(var(y, {0}, 0), {0.25, 1, 2.25, 4});
  check_close(dg::std(y, {0}, 0), {0.5, 1, 1.5, 2});
  // One element with correction 1 divides 0 by 0, as in PyTorch.
  CHECK(std::isnan(var(tensor_f64({3})).item<double>()));
  // Two passes keep precision where E[x^2] - E[x]^2 would cancel.
  CHECK(var(tensor_f64({1e9 + 1, 1e9 + 2, 1e9 + 3})).item<double>() == Approx(1.0));
}

TEST_CASE("reduce: logsumexp is stable and exact at infinities") {
  const Tensor x = tensor_f64({1, 2, 3, 0, 0, 0}, {2, 3});
  check_close(logsumexp(x, {1}), {std::log(std::exp(1) + std::exp(2) + std::exp(3)), std::log(3)});
  CHECK(logsumexp(x, {1}, true).shape() == Shape{2, 1});
  CHECK(logsumexp(x, {}).shape() == Shape{});

  // exp(1000) overflows; the shift by the max does not.
  check_close(logsumexp(tensor_f64({1000, 1000}), {0}), {1000 + std::log(2)});
  check_close(logsumexp(tensor_f64({-1000, -1000}), {0}), {-1000 + std::log(2)});
  check_close(logsumexp(to_dtype(tensor_f64({88, 89}), DType::f32), {0}),
              {89 + std::log1p(std::exp(-1.0))}, 1e-6);
  // Rows of -inf are -inf (not NaN); +inf and NaN propagate.
  check_close(logsumexp(tensor_f64({-kInf, -kInf, 0, -kInf}, {2, 2}), {1}), {-kInf, 0});
  check_close(logsumexp(tensor_f64({kInf, 1, kNaN, 1}, {2, 2}), {1}), {kInf, kNaN});
  // An empty reduction is log(0).
  check_close(logsumexp(zeros({0, 3}, DType::f64), {0}), {-kInf, -kInf, -kInf});

  const Tensor y = iota_2x3x4() * 0.1;
  const Tensor lse = logsumexp(y, {0, 2}, true);
  CHECK(lse.shape() == Shape{1, 3, 1});
  CHECK(max_abs_diff(lse, log(sum(exp(y), {0, 2}, true))) < 1e-12);

  // The gradient is the softmax.
  Tensor z = tensor_f64({1, 2, 3, 0, 0, 0}, {2, 3}).set_requires_grad();
  sum(logsumexp(z, {1})).backward();
  const double s = std::exp(1) + std::exp(2) + std::exp(3);
  check_close(z.grad(), {std::exp(1) / s, std::exp(2) / s, std::exp(3) / s, 1.0 / 3, 1.0 / 3,
                         1.0 / 3});
}

TEST_CASE("reduce: norm for p = 2, 1, 3, 0 and +-inf; zero gradient at zero") {
  const Tensor x = tensor_f64({3, -4, 0, 0}, {2, 2});
  CHECK(norm(x).item<double>() == Approx(5));
  check_close(norm(x, 2, {1}), {5, 0});
  CHECK(norm(x, 2, {1}, true).shape() == Shape{2, 1});
  CHECK(norm(x, 1).item<double>() == Approx(7));
  CHECK(norm(x, kInf).item<double>() == Approx(4));
  check_close(norm(x, -kInf, {1}), {3, 0});
  check_close(norm(x, 3, {-1}), {std::cbrt(91.0), 0});
  CHECK(norm(x, 0).item<double>() == 2);

  for (double p : {2.0, 3.0}) {
    INFO("p = " << p);
    Tensor a = tensor_f64({3, -4, 0, 0}, {2, 2}).set_requires_grad();
    sum(norm(a, p, {1})).backward();
    // d||x||_p/dx = sign(x) |x|^(p-1) / ||x||^(p-1), and 0 (not NaN) for the all-zero row.
    const double n = std::pow(91.0, 1.0 / 3);
    if (p == 2.0) {
      check_close(a.grad(), {0.6, -0.8, 0, 0});
    } else {
      check_close(a.grad(), {9 / (n * n), -16 / (n * n), 0, 0});
    }
  }
  Tensor all_zero = zeros({3}, DType::f64).set_requires_grad();
  norm(all_zero).backward();
  check_close(all_zero.grad(), {0, 0, 0});

  Tensor tie = tensor_f64({-2, 2, 1}).set_requires_grad();
  norm(tie, kInf).backward();
  check_close(tie.grad(), {-0.5, 0.5, 0});
}

TEST_CASE("reduce: cumsum along any dim, for f64, f32, i64 and bool") {
  const Tensor x = two_by_three();
  check_close(cumsum(x, 1), {1, 3, 6, 4, 9, 15});
  check_close(cumsum(x, -1), {1, 3, 6, 4, 9, 15});
  check_close(cumsum(x, 0), {1, 2, 3, 5, 7, 9});
  CHECK(cumsum(x, 0).shape() == Shape{2, 3});
  // [1,2,3] = sum over j' <= 2 of 12 + 4 j' + 3.
  CHECK(values(cumsum(iota_2x3x4(), 1))[12 + 8 + 3] == 57);

  const Tensor n = cumsum(tensor_i64({1, 2, 3}), 0);
  CHECK(n.dtype() == DType::i64);
  CHECK(ints(n) == std::vector<int64_t>{1, 3, 6});
  const Tensor b = cumsum(from_vector(std::vector<bool>{true, false, true, true}), 0);
  CHECK(b.dtype() == DType::i64);
  CHECK(ints(b) == std::vector<int64_t>{1, 1, 2, 3});
  CHECK(cumsum(scalar(2.5), 0).item<float>() == 2.5f);

  // f32 sums accumulate in double: 100000 * 0.1f stays 10000 (a float running sum drifts by ~1).
  const Tensor tenths = full({100000}, 0.1, DType::f32);
  CHECK(std::abs(values(cumsum(tenths, 0)).back() - 10000.0) < 1e-2);

  // The gradient of x_i is the sum of the gradients of out_j for j >= i.
  Tensor g = tensor_f64({5, 6, 7, 8}).set_requires_grad();
  sum(cumsum(g, 0) * tensor_f64({1, 2, 3, 4})).backward();
  check_close(g.grad(), {10, 9, 7, 4});
}

TEST_CASE("reduce: arg_reduce and cumsum kernels agree with a naive loop on larger inputs") {
  // [2, 300, 300]: enough work for the kernels' parallel paths in every dim. Values are rounded to
  // tenths so rows are full of ties, which must resolve to the first index.
  const Shape shape{2, 300, 300};
  std::vector<double> v = hashed_values(numel(shape), 7, -1, 1);
  for (double& e : v) e = std::round(e * 10) / 10;
  const Tensor x64 = from_vector(v, shape);
  for (DType dtype : {DType::f64, DType::f32}) {
    const Tensor x = to_dtype(x64, dtype);
    for (int dim = 0; dim < 3; ++dim) {
      INFO("dtype " << dtype_name(dtype) << ", dim " << dim);
      const int64_t n = shape[dim];
      const int64_t stride = dim == 0 ? 90000 : dim == 1 ? 300 : 1;
      auto [maxv, maxi] = max(x, dim);
      const std::vector<int64_t> argmins = ints(argmin(x, dim));
      const std::vector<double> maxvals = values(maxv), sums = values(cumsum(x, dim));
      const std::vector<int64_t> argmaxs = ints(maxi);
      int64_t mismatches = 0, out = 0;
      double worst_sum_error = 0;
      for (int64_t a = 0; a < numel(shape) / (n * stride); ++a)
        for (int64_t c = 0; c < stride; ++c, ++out) {
          const int64_t base = a * n * stride + c;
          int64_t best_max = 0, best_min = 0;
          double running = 0;
          for (int64_t k = 0; k < n; ++k) {
            const double e = v[base + k * stride];
            if (e > v[base + best_max * stride]) best_max = k;
            if (e < v[base + best_min * stride]) best_min = k;
            running += e;
            worst_sum_error = std::max(worst_sum_error, std::abs(sums[base + k * stride] - running));
          }
          mismatches += argmaxs[out] != best_max || argmins[out] != best_min ||
                        maxvals[out] != static_cast<double>(
                                            dtype == DType::f32
                                                ? static_cast<float>(v[base + best_max * stride])
                                                : v[base + best_max * stride]);
        }
      CHECK(mismatches == 0);
      CHECK(worst_sum_error < (dtype == DType::f64 ? 1e-10 : 1e-4));
    }
  }
}

TEST_CASE("reduce: errors name the op, the dim and the shape") {
  const Tensor x = two_by_three();
  CHECK_THROWS_WITH(amax(x, {2}), Catch::Contains("amax: dim 2 out of range"));
  CHECK_THROWS_WITH(sum(x, {0, -2}), Catch::Contains("sum: dim 0 appears more than once"));
  CHECK_THROWS_WITH(var(x, {1, 1}), Catch::Contains("dim 1 appears more than once"));
  CHECK_THROWS_WITH(max(x, 5), Catch::Contains("max: dim 5 out of range"));
  CHECK_THROWS_WITH(argmin(x, -3), Catch::Contains("argmin: dim -3 out of range"));
  CHECK_THROWS_WITH(cumsum(x, 2), Catch::Contains("cumsum: dim 2 out of range"));
  CHECK_THROWS_WITH(logsumexp(x, {0, 7}), Catch::Contains("logsumexp: dim 7 out of range"));

  // Empty reductions have no identity for max and min.
  const Tensor empty_rows = zeros({0, 3}), empty_cols = zeros({3, 0});
  CHECK_THROWS_WITH(amax(empty_rows),
                    Catch::Contains("amax: cannot reduce over dim 0 of size 0 (input shape [0,3])"));
  CHECK_THROWS_WITH(max(empty_rows), Catch::Contains("max: cannot reduce over dim 0 of size 0"));
  CHECK_THROWS_WITH(amin(empty_rows, {0}), Catch::Contains("amin: cannot reduce over dim 0"));
  CHECK_THROWS_WITH(max(empty_cols, 1), Catch::Contains("max: cannot reduce over dim 1 of size 0"));
  CHECK_THROWS_WITH(argmin(empty_cols, -1), Catch::Contains("argmin: cannot reduce over dim 1"));
  CHECK_THROWS_WITH(norm(empty_rows, kInf), Catch::Contains("cannot reduce over dim 0 of size 0"));
  // ... but reducing a non-empty dim of an empty tensor is fine.
  CHECK(amax(empty_rows, {1}).shape() == Shape{0});
  CHECK(std::get<1>(max(empty_rows, 1, true)).shape() == Shape{0, 1});

  const Tensor flags = from_vector(std::vector<bool>{true, false});
  CHECK_THROWS_WITH(amax(flags), Catch::Contains("amax: not defined for bool tensors"));
  CHECK_THROWS_WITH(argmax(flags, 0), Catch::Contains("argmax: not defined for bool tensors"));
  const Tensor counts = tensor_i64({1, 2});
  CHECK_THROWS_WITH(logsumexp(counts, {0}), Catch::Contains("logsumexp: expected a floating"));
  CHECK_THROWS_WITH(var(counts), Catch::Contains("var: expected a floating tensor"));
  CHECK_THROWS_WITH(norm(counts), Catch::Contains("norm: expected a floating tensor"));
}

TEST_CASE("reduce: the FLOP counter counts one per input element") {
  const Tensor x = two_by_three();
  {
    FlopScope scope;
    argmax(x, 1);
    CHECK(scope.count() == 6);
  }
  {
    FlopScope scope;
    cumsum(x, 0);
    CHECK(scope.count() == 6);
  }
  {
    FlopScope scope;
    amax(x, {0});
    CHECK(scope.count() == 6);
  }
}

}  // namespace dg::test
