// Shapes whose element count, strides or byte size do not fit in 64 bits, and allocations the
// system refuses: each must be a dg::Error naming the op and the shape, never a wrapped count that
// sizes a short buffer (which later reads and writes would overrun) and never a bare std::bad_alloc.
#include <catch2/catch.hpp>

#include "engine/ops/ops.h"

namespace dg::test {
namespace {

using Catch::Matchers::Contains;

constexpr int64_t k2_40 = int64_t{1} << 40;
constexpr int64_t k2_62 = int64_t{1} << 62;

TEST_CASE("shape products that overflow int64 are errors naming the op and the shape") {
  // {2^62 + 1, 4} used to wrap to 4 elements: a 16-byte buffer for a "huge" tensor.
  CHECK_THROWS_WITH(zeros({k2_62 + 1, 4}),
                    Contains("zeros") && Contains("[4611686018427387905,4]") &&
                        Contains("more elements than a 64-bit count can hold"));
  CHECK_THROWS_WITH(zeros({k2_40, k2_40}), Contains("zeros") && Contains("[1099511627776,1099511627776]"));
  CHECK_THROWS_WITH(full({k2_40, k2_40, 0}, 1.0), Contains("full"));
  CHECK_THROWS_WITH(Tensor::empty({k2_62, 8}), Contains("empty"));
  // The element count fits but the byte count does not.
  CHECK_THROWS_WITH(zeros({k2_62}, DType::f64), Contains("zeros") && Contains("more than 2^63 bytes"));
}

TEST_CASE("views and broadcasts to shapes that overflow are refused") {
  const Tensor x = ones({1});
  CHECK_THROWS_WITH(x.expand({k2_40, k2_40}), Contains("expand") || Contains("view"));
  const Tensor a = ones({1, 1}).expand({k2_40, 1});
  const Tensor b = ones({1, 1}).expand({1, k2_40});
  CHECK_THROWS_WITH(a + b, Contains("add") && Contains("more elements than a 64-bit count"));
  CHECK_THROWS_WITH(ones({4}).reshape({k2_62, 4, -1}), Contains("reshape"));
}

TEST_CASE("a view can never address elements outside its storage") {
  const Tensor x = zeros({2, 3});
  CHECK_THROWS_WITH(make_view(x, {2, 4}, {4, 1}, 0), Contains("of a storage of 6"));
  CHECK_THROWS_WITH(make_view(x, {3}, {1}, 4), Contains("of a storage of 6"));
  CHECK_THROWS_WITH(make_view(x, {2}, {k2_62, 1}, 0), Contains("view"));
  CHECK(make_view(x, {3, 2}, {1, 3}, 0).numel() == 6);  // a valid transposed view still works
  // Kernels make no view past an empty operand: scatter with an empty index (a compacted layer
  // with no dynamic positions does this) writes nothing.
  const Tensor none = from_vector(std::vector<int64_t>{});
  CHECK(scatter(ones({3}), 0, none, zeros({0})).to_vector<float>() == std::vector<float>{1, 1, 1});
  CHECK(scatter(zeros({0}), 0, none, zeros({0})).numel() == 0);
}

TEST_CASE("an allocation the system refuses is a dg::Error saying what was allocated") {
  // 2^60 f32 elements: the count and the byte size (2^62) are representable, no machine has the
  // memory. Was std::bad_alloc with no op, shape or size.
  CHECK_THROWS_WITH(zeros({int64_t{1} << 30, int64_t{1} << 30}),
                    Contains("zeros: out of memory allocating 4611686018427387904 bytes") &&
                        Contains("f32 tensor of shape [1073741824,1073741824]"));
  CHECK_THROWS_AS(ones({int64_t{1} << 61}, DType::i64), Error);
}

}  // namespace
}  // namespace dg::test
