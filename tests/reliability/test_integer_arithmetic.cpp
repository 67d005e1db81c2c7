// Integer arithmetic never raises a signal and never truncates a scalar silently:
// - i64 division truncates toward zero; a zero divisor is a dg::Error (it used to kill the
//   process with SIGFPE, as did INT64_MIN / -1, which now wraps to INT64_MIN as in PyTorch);
// - add, sub, mul, neg and abs wrap modulo 2^64 (no undefined signed overflow);
// - an i64 tensor meeting a fractional double in +, -, *, /, comparisons and where is promoted to
//   f32 (PyTorch's rule with its default dtype): `int_tensor * 2.5` used to multiply by 2;
//   in-place ops, which cannot change the dtype, refuse such a scalar.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "engine/ops/ops.h"

namespace dg::test {
namespace {

using Catch::Matchers::Contains;

Tensor i64(std::vector<int64_t> v) { return from_vector(v); }
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

TEST_CASE("i64 division truncates toward zero") {
  CHECK(div(i64({7, -7, 7, -7}), i64({2, 2, -2, -2})).to_vector<int64_t>() ==
        std::vector<int64_t>{3, -3, -3, 3});
  CHECK((i64({9, -9}) / 4.0).to_vector<int64_t>() == std::vector<int64_t>{2, -2});
}

TEST_CASE("i64 division by zero is a dg::Error, not SIGFPE") {
  CHECK_THROWS_WITH(div(i64({1, 2, 3}), i64({1, 0, 1})),
                    Contains("div: integer division by zero (i64 [3] / i64 [3])"));
  CHECK_THROWS_WITH(i64({1, 2}) / 0.0, Contains("div: integer division by zero"));
  CHECK_THROWS_WITH(5.0 / i64({1, 0}), Contains("div: integer division by zero"));
  // A broadcast (stride-0) divisor is scanned too.
  CHECK_THROWS_WITH(div(i64({1, 2}), i64({0}).expand({2})), Contains("integer division by zero"));
  Tensor t = i64({4, 6});
  CHECK_THROWS_WITH(t.div_(0.0), Contains("div_: integer division by zero"));
  CHECK_THROWS_WITH(t.div_(i64({2, 0})), Contains("div_: integer division by zero"));
  CHECK(t.to_vector<int64_t>() == std::vector<int64_t>{4, 6});  // refused before any write
  // Floating division by zero is IEEE: inf, no error.
  CHECK(std::isinf((ones({1}) / 0.0).item<float>()));
}

TEST_CASE("INT64_MIN / -1 wraps instead of trapping; +, -, *, neg, abs wrap modulo 2^64") {
  CHECK(div(i64({kMin, kMin}), i64({-1, 1})).to_vector<int64_t>() == std::vector<int64_t>{kMin, kMin});
  CHECK((i64({kMax}) + 1.0).item<int64_t>() == kMin);
  CHECK((i64({kMin}) - 1.0).item<int64_t>() == kMax);
  CHECK((i64({kMax}) * 2.0).item<int64_t>() == -2);
  CHECK(neg(i64({kMin})).item<int64_t>() == kMin);
  CHECK(abs(i64({kMin, -3})).to_vector<int64_t>() == std::vector<int64_t>{kMin, 3});
}

TEST_CASE("i64 pow takes O(log n) steps for any exponent and wraps") {
  CHECK(pow(i64({3, 2, -2, 5}), i64({4, 62, 3, 0})).to_vector<int64_t>() ==
        std::vector<int64_t>{81, int64_t{1} << 62, -8, 1});
  // A huge exponent used to loop 2^62 times.
  CHECK(pow(i64({1, -1, 2}), i64({kMax - 1, kMax - 1, kMax})).to_vector<int64_t>() ==
        std::vector<int64_t>{1, 1, 0});
  CHECK(pow(i64({1, -1, -1, 2}), i64({-3, -3, -2, -1})).to_vector<int64_t>() ==
        std::vector<int64_t>{1, -1, 1, 0});
}

TEST_CASE("an i64 tensor with a fractional scalar promotes to f32 instead of truncating") {
  const Tensor x = i64({1, 2, 3});
  const Tensor y = x * 2.5;
  CHECK(y.dtype() == DType::f32);
  CHECK(y.to_vector<float>() == std::vector<float>{2.5f, 5.0f, 7.5f});  // was {2, 4, 6}
  CHECK((2.5 * x).to_vector<float>() == std::vector<float>{2.5f, 5.0f, 7.5f});
  CHECK((x + 0.5).to_vector<float>() == std::vector<float>{1.5f, 2.5f, 3.5f});
  CHECK((x - 0.5).to_vector<float>() == std::vector<float>{0.5f, 1.5f, 2.5f});
  CHECK((x / 2.5).to_vector<float>() == std::vector<float>{0.4f, 0.8f, 1.2f});
  CHECK((1.5 - x).to_vector<float>() == std::vector<float>{0.5f, -0.5f, -1.5f});
  CHECK((3.0 / i64({2})).dtype() == DType::i64);  // whole scalars keep i64 (and truncate: 1)
  CHECK((3.0 / i64({2})).item<int64_t>() == 1);
  CHECK(eq(x, 2.5).to_vector<bool>() == std::vector<bool>{false, false, false});  // was x == 2
  CHECK(lt(x, 2.5).to_vector<bool>() == std::vector<bool>{true, true, false});
  CHECK(where(gt(x, 1.0), x, 0.5).to_vector<float>() == std::vector<float>{0.5f, 2.0f, 3.0f});
  // nan, inf and scalars past i64's range promote too.
  CHECK(std::isnan((x * std::nan("")).to_vector<float>()[0]));
  CHECK((x * 1e30).dtype() == DType::f32);
  // Whole-number scalars keep the dtype.
  CHECK((x * 2.0).dtype() == DType::i64);
}

TEST_CASE("in-place ops refuse a scalar an i64 tensor cannot hold") {
  Tensor x = i64({1, 2});
  CHECK_THROWS_WITH(x.mul_(2.5), Contains("mul_: the scalar 2.5 is not a whole number"));
  CHECK_THROWS_WITH(x.add_(std::numeric_limits<double>::infinity()), Contains("add_"));
  CHECK_THROWS_WITH(x.div_(0.5), Contains("div_"));
  CHECK(x.to_vector<int64_t>() == std::vector<int64_t>{1, 2});
  CHECK_THROWS_WITH(full({2}, std::nan(""), DType::i64), Contains("full: the value nan has no i64"));
}

}  // namespace
}  // namespace dg::test
