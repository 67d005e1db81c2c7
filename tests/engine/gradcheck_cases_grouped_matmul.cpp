// Float64 gradient checks of the grouped matmul pair (engine/ops/grouped_matmul.cpp): uneven
// groups, an empty group (first, middle and last), a transposed weight view (the backward's own
// form), and the weight gradient op on its own. Each is also checked to second order, since the
// two ops are each other's gradients.
#include "tests/engine/gradcheck_registry.h"
#include "tests/engine/test_util.h"

namespace dg::test {
namespace {

using Inputs = std::vector<Tensor>;

std::function<Inputs()> two(Shape a, Shape b, uint64_t seed) {
  return [a, b, seed] { return Inputs{grad_input(a, seed), grad_input(b, seed + 1)}; };
}
Tensor squared(const Tensor& t) { return t * t; }

static RegisterGradcheck uneven{{OpId::grouped_matmul, "grouped_matmul x[6,4] w[3,4,5] sizes {1,3,2}",
    two({6, 4}, {3, 4, 5}, 40),
    [](const Inputs& x) { return grouped_matmul(x[0], x[1], {1, 3, 2}); }, true}};
static RegisterGradcheck empty_groups{{OpId::grouped_matmul,
    "grouped_matmul x[5,3] w[4,3,2] sizes {0,3,0,2}, squared", two({5, 3}, {4, 3, 2}, 42),
    [](const Inputs& x) { return squared(grouped_matmul(x[0], x[1], {0, 3, 0, 2})); }, true}};
static RegisterGradcheck transposed{{OpId::grouped_matmul,
    "grouped_matmul x[4,3] w[2,5,3]^T sizes {2,2}", two({4, 3}, {2, 5, 3}, 44),
    [](const Inputs& x) { return grouped_matmul(x[0], transpose(x[1], 1, 2), {2, 2}); }, true}};
static RegisterGradcheck weight_grad{{OpId::grouped_matmul_weight_grad,
    "grouped_matmul_weight_grad x[5,3] g[5,2] sizes {2,0,3}, squared", two({5, 3}, {5, 2}, 46),
    [](const Inputs& x) { return squared(grouped_matmul_weight_grad(x[0], x[1], {2, 0, 3})); }, true}};

}  // namespace
}  // namespace dg::test
