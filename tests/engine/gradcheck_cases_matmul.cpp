// Float64 gradient checks of the matmul family (OpId::matmul), one line per case: every operand
// rank (1-D promotion on either side), batched, broadcast batch dims, the folded batch @ matrix
// weight gradient, transposed operands, bmm and outer. Several cases also check the gradient of
// the gradient, since matmul's backward is itself made of matmuls.
#include "tests/engine/gradcheck_registry.h"
#include "tests/engine/test_util.h"

namespace dg::test {
namespace {

using Inputs = std::vector<Tensor>;

// The inputs of a case: two f64 leaves of the given shapes.
std::function<Inputs()> two(Shape a, Shape b) {
  return [a, b] { return Inputs{grad_input(a, 1), grad_input(b, 2)}; };
}

Tensor mm(const Inputs& x) { return matmul(x[0], x[1]); }

RegisterGradcheck dot{{OpId::matmul, "[5] @ [5] (dot)", two({5}, {5}), mm, true}};
RegisterGradcheck vec_mat{{OpId::matmul, "[4] @ [4,3]", two({4}, {4, 3}), mm}};
RegisterGradcheck mat_vec{{OpId::matmul, "[3,4] @ [4]", two({3, 4}, {4}), mm}};
RegisterGradcheck mat_mat{{OpId::matmul, "[3,4] @ [4,2]", two({3, 4}, {4, 2}), mm, true}};
RegisterGradcheck batched{
    {OpId::matmul, "[2,3,4] @ [2,4,2]", two({2, 3, 4}, {2, 4, 2}), mm, true}};
RegisterGradcheck batch_mat{
    {OpId::matmul, "[2,3,4] @ [4,2] (folded weight gradient)", two({2, 3, 4}, {4, 2}), mm, true}};
RegisterGradcheck mat_batch{{OpId::matmul, "[3,4] @ [2,4,2]", two({3, 4}, {2, 4, 2}), mm}};
RegisterGradcheck broadcast{
    {OpId::matmul, "[2,1,3,4] @ [5,4,2] (broadcast batch)", two({2, 1, 3, 4}, {5, 4, 2}), mm}};
RegisterGradcheck vec_batch{{OpId::matmul, "[4] @ [2,4,3]", two({4}, {2, 4, 3}), mm, true}};
RegisterGradcheck batch_vec{{OpId::matmul, "[2,3,4] @ [4]", two({2, 3, 4}, {4}), mm}};
RegisterGradcheck transposed{
    {OpId::matmul, "[4,3]^T @ [2,4]^T (column-major operands)", two({4, 3}, {2, 4}),
     [](const Inputs& x) { return matmul(x[0].transpose(0, 1), x[1].transpose(0, 1)); }, true}};
RegisterGradcheck batched_bmm{{OpId::matmul, "bmm [2,3,4] @ [2,4,2]",
                                      two({2, 3, 4}, {2, 4, 2}),
                                      [](const Inputs& x) { return bmm(x[0], x[1]); }}};
RegisterGradcheck outer_product{{OpId::matmul, "outer [3] x [4]", two({3}, {4}),
                                        [](const Inputs& x) { return outer(x[0], x[1]); }, true}};

}  // namespace
}  // namespace dg::test
