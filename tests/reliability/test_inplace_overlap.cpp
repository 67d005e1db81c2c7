// In-place writes into a view whose elements share memory (expand, a stride-0 broadcast) raced:
// several threads read-modify-wrote the same element and the result changed from run to run.
// They are refused, as PyTorch refuses them; views without overlap (transposes, slices, steps)
// still take in-place writes.
#include <catch2/catch.hpp>

#include "engine/ops/ops.h"

namespace dg::test {
namespace {

using Catch::Matchers::Contains;

TEST_CASE("in-place ops refuse a destination whose elements overlap") {
  NoGradGuard no_grad;
  const Tensor base = zeros({1});
  Tensor view = base.expand({100000});
  CHECK_THROWS_WITH(view.add_(ones({100000})),
                    Contains("add_: cannot write in place into a tensor whose elements overlap") &&
                        Contains("shape [100000], strides [0]"));
  CHECK_THROWS_WITH(view.mul_(2.0), Contains("mul_"));
  CHECK_THROWS_WITH(view.sub_(ones({100000})), Contains("sub_"));
  CHECK_THROWS_WITH(view.div_(ones({100000})), Contains("div_"));
  CHECK_THROWS_WITH(view.fill_(1.0), Contains("fill_"));
  CHECK_THROWS_WITH(view.zero_(), Contains("fill_"));
  CHECK_THROWS_WITH(view.copy_(ones({100000})), Contains("copy_"));
  Tensor square = ones({3, 1}).expand({3, 3});
  CHECK_THROWS_WITH(square.sqrt_(), Contains("sqrt_") && Contains("strides [1,0]"));
  CHECK(base.item<float>() == 0.0f);  // nothing was written

  // Overlap hidden behind a permutation or a size-1 dim is still found.
  Tensor hidden = zeros({2, 1}).expand({2, 4}).transpose(0, 1);
  CHECK_THROWS_WITH(hidden.add_(1.0), Contains("overlap"));
}

TEST_CASE("in-place ops still write through views without overlap") {
  NoGradGuard no_grad;
  Tensor x = zeros({3, 4});
  Tensor t = x.transpose(0, 1);
  t.add_(1.0);
  x.narrow(1, 1, 2).mul_(3.0);
  x.expand({3, 4}).add_(1.0);  // expand to the same shape keeps real strides
  Tensor one = zeros({1, 1}).expand({1, 1});
  one.fill_(5.0);
  CHECK(x.sum().item<float>() == Approx(12 * 2 + 6 * 2));
  CHECK(one.item<float>() == 5.0f);
}

}  // namespace
}  // namespace dg::test
