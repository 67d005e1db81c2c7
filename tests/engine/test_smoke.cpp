#include <catch2/catch.hpp>

#include "engine/ops/ops.h"

using namespace dg;

TEST_CASE("smoke: add, mul, sum and backward") {
  Tensor x = tensor({1, 2, 3}).set_requires_grad();
  Tensor y = tensor({4, 5, 6}).set_requires_grad();
  Tensor loss = sum(x * y + x);
  loss.backward();
  CHECK(loss.item<float>() == Approx(1 * 4 + 2 * 5 + 3 * 6 + 6));
  CHECK(x.grad().to_vector<float>() == std::vector<float>{5, 6, 7});
  CHECK(y.grad().to_vector<float>() == std::vector<float>{1, 2, 3});
}
