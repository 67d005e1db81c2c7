// A default-constructed Tensor holds no data: its accessors must throw dg::Error (they used to
// dereference a null pointer and kill the process), and ops say "undefined tensor" as before.
#include <catch2/catch.hpp>

#include "engine/ops/ops.h"

namespace dg::test {
namespace {

using Catch::Matchers::Contains;

TEST_CASE("accessors on an undefined tensor throw dg::Error naming the accessor") {
  const Tensor t;
  CHECK_FALSE(t.defined());
  CHECK_FALSE(t.requires_grad());  // stays a query: optional inputs are passed to needs_grad
  CHECK_THROWS_WITH(t.numel(), Contains("Tensor::numel: undefined tensor"));
  CHECK_THROWS_WITH(t.shape(), Contains("Tensor::shape: undefined tensor"));
  CHECK_THROWS_WITH(t.dtype(), Contains("Tensor::dtype: undefined tensor"));
  CHECK_THROWS_WITH(t.dim(), Contains("Tensor::dim: undefined tensor"));
  CHECK_THROWS_WITH(t.size(0), Contains("undefined tensor"));
  CHECK_THROWS_WITH(t.strides(), Contains("undefined tensor"));
  CHECK_THROWS_WITH(t.device(), Contains("undefined tensor"));
  CHECK_THROWS_WITH(t.is_contiguous(), Contains("undefined tensor"));
  CHECK_THROWS_WITH(t.data<float>(), Contains("undefined tensor"));
  CHECK_THROWS_WITH(t.raw_data(), Contains("undefined tensor"));
  CHECK_THROWS_WITH(t.item<float>(), Contains("undefined tensor"));
  CHECK_THROWS_WITH(t.to_vector<float>(), Contains("undefined tensor"));
  CHECK_THROWS_WITH(t.grad(), Contains("undefined tensor"));
  CHECK_THROWS_WITH(t.is_leaf(), Contains("undefined tensor"));
  CHECK_THROWS_WITH(t.version(), Contains("undefined tensor"));
  CHECK(t.to_string() == "tensor(undefined)");  // printing stays possible
}

TEST_CASE("ops on an undefined tensor name the op") {
  const Tensor t;
  CHECK_THROWS_WITH(t + ones({2}), Contains("add: undefined tensor"));
  CHECK_THROWS_WITH(t.reshape({2}), Contains("reshape: undefined tensor"));
  CHECK_THROWS_WITH(t * 2.0, Contains("undefined tensor"));
  Tensor u;
  CHECK_THROWS_WITH(u.add_(1.0), Contains("undefined tensor"));
}

}  // namespace
}  // namespace dg::test
