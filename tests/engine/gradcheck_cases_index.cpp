// Float64 gradient checks for the indexing family (engine/ops/index.cpp), one case per line.
// Index tensors are fixed constants captured by the functions. Duplicate indices appear wherever
// the gradient is exact with them (gather, index_select, scatter_add, index_add); scatter's src
// gradient is exact only for unique indices, so its cases use unique ones. topk and sort inputs
// come from hashed values, which are distinct, so no perturbation reorders them.
// The second-order cases square the output: the op is linear, so its second derivative only
// shows through a nonlinearity, which makes the backward's own backward run.
#include "tests/engine/gradcheck_registry.h"
#include "tests/engine/test_util.h"

namespace dg::test {
namespace {

using Inputs = std::vector<Tensor>;

Inputs one(const Shape& s, uint64_t seed) { return {grad_input(s, seed)}; }
Inputs two(const Shape& a, const Shape& b, uint64_t seed) {
  return {grad_input(a, seed), grad_input(b, seed + 1)};
}
Tensor squared(const Tensor& t) { return t * t; }

// Functions, not globals: tensors must not be created during static initialisation.
Tensor rows_with_repeats() { return tensor_i64({3, 0, 3, 1}); }
Tensor gather_cols() { return tensor_i64({0, 3, 3, 1, 2, 2}, {3, 2}); }           // x [3,4], dim 1
Tensor gather_rows_3d() { return tensor_i64({1, 0, 1, 1, 0, 0, 1, 1}, {2, 2, 2}); }  // x [2,3,2], dim 0
Tensor scatter_unique() { return tensor_i64({2, 0, 1, 3}, {2, 2}); }               // x [3,4], dim 1
Tensor scatter_repeats() { return tensor_i64({1, 1, 0, 1, 0, 2}, {2, 3}); }        // x [3,3], dim 0

RegisterGradcheck index_select_rows{{OpId::index_select, "index_select [4,3] dim 0, repeats",
    [] { return one({4, 3}, 1); },
    [](const Inputs& x) { return squared(index_select(x[0], 0, rows_with_repeats())); }, true}};
RegisterGradcheck index_select_transposed{{OpId::index_select, "index_select [3,4]^T dim -1",
    [] { return one({3, 4}, 2); },
    [](const Inputs& x) { return index_select(transpose(x[0], 0, 1), -1, tensor_i64({2, 0})); }}};
RegisterGradcheck gather_dim1{{OpId::gather, "gather [3,4] dim 1, repeats",
    [] { return one({3, 4}, 3); },
    [](const Inputs& x) { return squared(gather(x[0], 1, gather_cols())); }, true}};
RegisterGradcheck gather_3d{{OpId::gather, "gather [2,3,2] dim 0, smaller index",
    [] { return one({2, 3, 2}, 4); },
    [](const Inputs& x) { return gather(x[0], 0, gather_rows_3d()); }}};
RegisterGradcheck scatter_src_larger{{OpId::scatter, "scatter [3,4] dim 1, src [3,3]",
    [] { return two({3, 4}, {3, 3}, 5); },
    [](const Inputs& x) { return scatter(x[0], 1, scatter_unique(), x[1]); }}};
RegisterGradcheck scatter_second{{OpId::scatter, "scatter [3,4] dim -1, squared",
    [] { return two({3, 4}, {2, 2}, 7); },
    [](const Inputs& x) { return squared(scatter(x[0], -1, scatter_unique(), x[1])); }, true}};
RegisterGradcheck scatter_add_repeats{{OpId::scatter_add, "scatter_add [3,3] dim 0, repeats",
    [] { return two({3, 3}, {2, 4}, 9); },
    [](const Inputs& x) { return squared(scatter_add(x[0], 0, scatter_repeats(), x[1])); }, true}};
RegisterGradcheck index_add_repeats{{OpId::index_add, "index_add [3,5] dim 1, repeats",
    [] { return two({3, 5}, {3, 4}, 11); },
    [](const Inputs& x) { return squared(index_add(x[0], 1, rows_with_repeats(), x[1])); }, true}};
RegisterGradcheck masked_fill_broadcast{{OpId::masked_fill, "masked_fill [2,3] mask [3]",
    [] { return one({2, 3}, 13); },
    [](const Inputs& x) { return masked_fill(x[0], from_vector(std::vector<bool>{true, false, true}), 5.0); }}};
RegisterGradcheck topk_largest{{OpId::topk, "topk k=2 [3,5] dim -1",
    [] { return one({3, 5}, 14); },
    [](const Inputs& x) { return std::get<0>(topk(x[0], 2, -1)); }}};
RegisterGradcheck topk_smallest{{OpId::topk, "topk k=3 smallest [4,2]^T dim 1, squared",
    [] { return one({4, 2}, 15); },
    [](const Inputs& x) { return squared(std::get<0>(topk(transpose(x[0], 0, 1), 3, 1, false))); },
    true}};
RegisterGradcheck sort_descending{{OpId::sort, "sort [4,3] dim 0 descending",
    [] { return one({4, 3}, 16); },
    [](const Inputs& x) { return std::get<0>(sort(x[0], 0, true)); }}};
RegisterGradcheck sort_3d{{OpId::sort, "sort [2,3,4] dim -1, squared",
    [] { return one({2, 3, 4}, 17); },
    [](const Inputs& x) { return squared(std::get<0>(sort(x[0], -1))); }, true}};

}  // namespace
}  // namespace dg::test
