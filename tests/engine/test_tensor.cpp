// Tensors themselves: creation, dtypes, views sharing storage, contiguity, broadcasting rules
// (against NumPy's), in-place ops and their version counter, the caching allocator and the FLOP
// counter.
#include <catch2/catch.hpp>

#include <limits>

#include "engine/allocator.h"
#include "engine/flops.h"
#include "engine/ops/ops.h"
#include "tests/engine/test_util.h"

using namespace dg;
using dg::test::values;

TEST_CASE("tensor: creation ops and dtypes") {
  CHECK(values(zeros({2, 2})) == std::vector<double>{0, 0, 0, 0});
  CHECK(values(full({3}, 2.5, DType::f64)) == std::vector<double>{2.5, 2.5, 2.5});
  CHECK(values(arange(5)) == std::vector<double>{0, 1, 2, 3, 4});
  CHECK(arange(5).dtype() == DType::i64);
  CHECK(values(arange(1.0, 2.0, 0.25, DType::f32)) == std::vector<double>{1, 1.25, 1.5, 1.75});
  CHECK(values(linspace(0, 1, 5)) == std::vector<double>{0, 0.25, 0.5, 0.75, 1});
  CHECK(values(eye(3)) == std::vector<double>{1, 0, 0, 0, 1, 0, 0, 0, 1});
  CHECK(tensor({1, 2, 3, 4, 5, 6}, {2, 3}).shape() == Shape{2, 3});
  CHECK(from_vector(std::vector<bool>{true, false}).dtype() == DType::b8);
  CHECK(values(from_vector(std::vector<bool>{true, false, true})) == std::vector<double>{1, 0, 1});
  CHECK(scalar(3.0).dim() == 0);
  CHECK(scalar(3.0).item<float>() == 3.0f);
  CHECK_THROWS_WITH(tensor({1, 2, 3}, {2, 2}), Catch::Contains("3 values do not fill shape [2,2]"));
  CHECK_THROWS_WITH(tensor({1, 2}).item<float>(), Catch::Contains("item: expected a tensor with one element, got shape [2]"));
}

TEST_CASE("tensor: dtype conversion") {
  Tensor x = tensor({-1.5, 0.0, 2.7});
  CHECK(values(x.to(DType::i64)) == std::vector<double>{-1, 0, 2});
  CHECK(values(x.to(DType::b8)) == std::vector<double>{1, 0, 1});
  CHECK(x.to(DType::f32).same(x));  // a no-op conversion returns the tensor itself
  CHECK(x.to(DType::f64).dtype() == DType::f64);
}

TEST_CASE("tensor: views share storage with their base") {
  Tensor base = arange(0.0, 12.0, 1.0, DType::f32);
  Tensor r = base.reshape({3, 4});
  Tensor t = r.transpose(0, 1);
  Tensor n = r.narrow(1, 1, 2);
  Tensor e = r.narrow(0, 0, 1).expand({5, 4});
  Tensor u = r.unsqueeze(0).squeeze(0);
  Tensor p = r.permute({1, 0});
  for (const Tensor* v : {&r, &t, &n, &e, &u, &p}) CHECK(v->storage() == base.storage());
  CHECK_FALSE(t.is_contiguous());
  CHECK(values(t.contiguous()) == std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  CHECK(values(n) == std::vector<double>{1, 2, 5, 6, 9, 10});
  CHECK(e.strides()[0] == 0);
  // Writing through a view is visible in the base.
  n.fill_(-1.0);
  CHECK(values(base) == std::vector<double>{0, -1, -1, 3, 4, -1, -1, 7, 8, -1, -1, 11});
  // A copy is not a view.
  Tensor c = t.contiguous();
  CHECK(c.storage() != base.storage());
  CHECK(r.clone().storage() != base.storage());
}

TEST_CASE("tensor: reshape copies only when strides do not allow a view") {
  Tensor x = arange(0.0, 6.0, 1.0, DType::f32).reshape({2, 3});
  CHECK(x.reshape({3, 2}).storage() == x.storage());
  Tensor t = x.transpose(0, 1);  // [3,2], not contiguous
  CHECK(t.reshape({6}).storage() != x.storage());
  CHECK(values(t.reshape({6})) == std::vector<double>{0, 3, 1, 4, 2, 5});
  CHECK(t.reshape({3, 2, 1}).storage() == x.storage());  // adding a unit dim is always a view
  CHECK_THROWS_WITH(view(t, {6}), Catch::Contains("cannot be viewed as [6]; use reshape"));
  CHECK(x.reshape({-1}).shape() == Shape{6});
  CHECK_THROWS_WITH(x.reshape({4, -1}), Catch::Contains("reshape: cannot reshape [2,3] (6 elements) into [4,-1]"));
  CHECK_THROWS_WITH(x.reshape({-1, -1}), Catch::Contains("only one dimension can be -1"));
}

TEST_CASE("tensor: broadcasting matches NumPy on a table of shape pairs") {
  struct Case { Shape a, b, expected; };
  const Case ok[] = {
      {{}, {}, {}},           {{3}, {}, {3}},           {{}, {2, 3}, {2, 3}},
      {{1}, {5}, {5}},        {{5}, {1}, {5}},          {{2, 3}, {3}, {2, 3}},
      {{2, 1}, {1, 3}, {2, 3}}, {{4, 1, 3}, {2, 1}, {4, 2, 3}}, {{8, 1, 6, 1}, {7, 1, 5}, {8, 7, 6, 5}},
      {{5, 4}, {1}, {5, 4}},  {{15, 3, 5}, {15, 1, 5}, {15, 3, 5}}, {{15, 3, 5}, {3, 1}, {15, 3, 5}},
      {{0}, {1}, {0}},        {{2, 0}, {2, 1}, {2, 0}},
  };
  for (const Case& c : ok) {
    INFO(to_string(c.a) << " with " << to_string(c.b));
    CHECK(broadcast_shapes(c.a, c.b, "test") == c.expected);
    CHECK((ones(c.a) + ones(c.b)).shape() == c.expected);
  }
  const std::pair<Shape, Shape> bad[] = {{{3}, {4}}, {{2, 1}, {8, 4, 3}}, {{2, 3}, {3, 2}}, {{0}, {2}}};
  for (const auto& [a, b] : bad) {
    INFO(to_string(a) << " with " << to_string(b));
    CHECK_THROWS_AS(ones(a) + ones(b), Error);
  }
  CHECK_THROWS_WITH(ones({2, 3}) + ones({4}), Catch::Contains("add: shapes [2,3] and [4] are not broadcastable (dim -1: 3 vs 4)"));
}

TEST_CASE("tensor: broadcast values follow NumPy") {
  Tensor a = tensor({1, 2, 3}, {3, 1});
  Tensor b = tensor({10, 20}, {2});
  CHECK(values(a * b) == std::vector<double>{10, 20, 20, 40, 30, 60});
  CHECK(values(a - b) == std::vector<double>{-9, -19, -8, -18, -7, -17});
  // Non-contiguous operands.
  Tensor m = tensor({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1);  // [[1,4],[2,5],[3,6]]
  CHECK(values(m + b) == std::vector<double>{11, 24, 12, 25, 13, 26});
}

TEST_CASE("tensor: mixed dtypes are refused, not promoted") {
  CHECK_THROWS_WITH(ones({2}) + ones({2}, DType::f64), Catch::Contains("add: dtype mismatch: f32 [2] and f64 [2]"));
  CHECK_THROWS_WITH(exp(ones({2}, DType::i64)), Catch::Contains("exp: expected a floating tensor (f32 or f64), got i64 [2]"));
  CHECK_THROWS_WITH(ones({2}, DType::b8) + ones({2}, DType::b8), Catch::Contains("add: arithmetic on bool tensors"));
  CHECK(values(ones({2}, DType::i64) * full({2}, 3, DType::i64)) == std::vector<double>{3, 3});
}

TEST_CASE("tensor: out-of-range dims are errors") {
  Tensor x = ones({2, 3});
  CHECK_THROWS_WITH(x.transpose(0, 2), Catch::Contains("transpose: dim 2 out of range for a tensor with 2 dims (expected -2..1)"));
  CHECK_THROWS_WITH(sum(x, {-3}), Catch::Contains("sum: dim -3 out of range"));
  CHECK_THROWS_WITH(x.narrow(1, 2, 2), Catch::Contains("narrow: range [2, 4) out of bounds for dim 1 of size 3"));
  CHECK_THROWS_WITH(x.permute({0, 0}), Catch::Contains("permute: dim 0 repeated"));
  CHECK_THROWS_WITH(x.expand({3, 3}), Catch::Contains("expand: cannot expand [2,3] to [3,3]"));
  CHECK_THROWS_WITH(cat({ones({2, 3}), ones({2, 4})}, 0), Catch::Contains("cat: tensor 1 has shape [2,4], expected [2,3] except in dim 0"));
}

TEST_CASE("tensor: shape ops produce the right values") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(values(cat({x, x * 10.0}, 1)) == std::vector<double>{1, 2, 3, 10, 20, 30, 4, 5, 6, 40, 50, 60});
  CHECK(stack({x, x}, 1).shape() == Shape{2, 2, 3});
  auto parts = split(x, std::vector<int64_t>{1, 2}, 1);
  CHECK(values(parts[1]) == std::vector<double>{2, 3, 5, 6});
  CHECK(chunk(arange(5), 2).size() == 2);  // sizes 3 and 2
  CHECK(values(repeat(tensor({1, 2}), {2, 2})) == std::vector<double>{1, 2, 1, 2, 1, 2, 1, 2});
  CHECK(repeat(tensor({1, 2}), {2, 2}).shape() == Shape{2, 4});
  CHECK(values(pad(tensor({1, 2}), {1, 2}, 9.0)) == std::vector<double>{9, 1, 2, 9, 9});
  CHECK(values(pad(x, {-1, 0, 0, -1})) == std::vector<double>{2, 3});
  CHECK(values(select(x, 1, -1)) == std::vector<double>{3, 6});
  CHECK(flatten(ones({2, 3, 4}), 1).shape() == Shape{2, 12});
  CHECK(squeeze(ones({1, 2, 1})).shape() == Shape{2});
}

TEST_CASE("tensor: in-place ops bump the version counter shared by views") {
  Tensor x = zeros({4});
  Tensor v = x.narrow(0, 0, 2);
  const uint64_t before = x.version();
  v.add_(1.0);
  CHECK(x.version() == before + 1);
  x.mul_(ones({4}) * 3.0);
  x.sub_(ones({1}));
  x.copy_(arange(0.0, 4.0, 1.0, DType::f32));
  x.zero_();
  CHECK(x.version() == before + 5);
  CHECK_THROWS_WITH(x.add_(ones({2, 4})), Catch::Contains("add_: operand of shape [2,4] does not broadcast to the tensor's shape [4]"));
}

TEST_CASE("tensor: the caching allocator reuses freed buffers") {
  const Shape shape{1000, 1000};
  { Tensor warm = Tensor::empty(shape); }
  const AllocatorStats before = CpuAllocator::stats();
  for (int i = 0; i < 10; ++i) Tensor t = Tensor::empty(shape);
  const AllocatorStats after = CpuAllocator::stats();
#ifdef DG_ALLOCATOR_NO_CACHE
  CHECK(after.malloc_calls == before.malloc_calls + 10);
#else
  CHECK(after.malloc_calls == before.malloc_calls);
  CHECK(after.cache_hits == before.cache_hits + 10);
#endif
  Tensor t = Tensor::empty({7});
  CHECK(reinterpret_cast<uintptr_t>(t.raw_data()) % CpuAllocator::kAlignment == 0);
}

TEST_CASE("tensor: the FLOP counter counts executed elementwise work") {
  Tensor a = ones({10, 10}), b = ones({10});
  FlopScope scope;
  Tensor c = a + b;   // 100
  Tensor d = exp(c);  // 100
  Tensor s = sum(d);  // 100 input elements
  CHECK(scope.count() == 300);
}

TEST_CASE("tensor: float32 erf and exact GELU (vectorised) stay within 1e-6 of the exact values") {
  // 20001 points over [-10, 10], plus the tails, NaN and the infinities; contiguous, so the
  // vectorised path runs, and a strided view, which takes the scalar one.
  std::vector<double> points;
  for (int i = -10000; i <= 10000; ++i) points.push_back(i * 1e-3);
  const double inf = std::numeric_limits<double>::infinity();
  for (double v : {-30.0, 30.0, 1e-30, -1e-30, 0.0, inf, -inf}) points.push_back(v);
  const Tensor x = to_dtype(from_vector(points, {static_cast<int64_t>(points.size())}), DType::f32);
  const std::vector<float> xf = x.to_vector<float>();
  const std::vector<float> e = erf(x).to_vector<float>();
  const std::vector<float> g = gelu(x).to_vector<float>();
  double worst_erf = 0.0, worst_gelu = 0.0;
  for (size_t i = 0; i < xf.size(); ++i) {
    const double exact_erf = std::erf(static_cast<double>(xf[i]));
    const double exact_gelu = 0.5 * xf[i] * (1.0 + std::erf(xf[i] / std::sqrt(2.0)));
    worst_erf = std::max(worst_erf, std::abs(e[i] - exact_erf));
    // GELU relative to its size, with an absolute floor where it is near 0.
    worst_gelu = std::max(worst_gelu, std::abs(g[i] - exact_gelu) / std::max(1.0, std::abs(exact_gelu)));
  }
  // erf: a rational approximation, absolute error below 4e-7 (a few ulp near +-1). GELU inherits
  // it times x / 2: absolute error up to about 1e-6 where GELU is near 0 on the negative side
  // (x around -4), relative error at most that where |GELU| > 1.
  CHECK(worst_erf < 4e-7);
  CHECK(worst_gelu < 1.5e-6);
  CHECK(e[e.size() - 2] == 1.0f);   // erf(inf)
  CHECK(e[e.size() - 1] == -1.0f);  // erf(-inf)
  CHECK(std::isnan(erf(to_dtype(tensor_f64({std::nan("")}), DType::f32)).to_vector<float>()[0]));
  // The strided (scalar) path gives std::erf's values.
  const Tensor strided = narrow(reshape(x, {-1}), 0, 0, 20000);
  const Tensor every_other = reshape(narrow(reshape(strided, {10000, 2}), 1, 0, 1), {10000});
  const std::vector<float> es = erf(every_other).to_vector<float>();
  const std::vector<float> xs = every_other.to_vector<float>();
  for (size_t i = 0; i < xs.size(); i += 997) CHECK(es[i] == std::erf(xs[i]));
}

TEST_CASE("tensor: exp underflows to exactly 0 and log(exp(-inf)) is -inf") {
  const double inf = std::numeric_limits<double>::infinity();
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = to_dtype(tensor_f64({-inf, -1000.0, -750.0, 0.0, 1.0}), dt);
    auto e = values(exp(x));
    CHECK(e[0] == 0.0);
    CHECK(e[1] == 0.0);
    CHECK(e[2] == 0.0);
    CHECK(e[3] == 1.0);
    CHECK(e[4] == Approx(std::exp(1.0)));
    CHECK(values(log(exp(x)))[0] == -inf);
  }
}
