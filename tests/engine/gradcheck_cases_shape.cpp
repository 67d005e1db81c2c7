// Gradient checks for the shape and view ops, one line per case. Each view is followed by an
// elementwise op where the view's layout matters, so a wrong stride would show up.
#include "tests/engine/gradcheck_registry.h"
#include "tests/engine/test_util.h"

namespace dg::test {
namespace {

using Inputs = std::vector<Tensor>;

std::function<Inputs()> in(std::vector<Shape> shapes) {
  return [shapes] {
    Inputs xs;
    for (size_t i = 0; i < shapes.size(); ++i) xs.push_back(grad_input(shapes[i], 400 + i));
    return xs;
  };
}

// Multiplies by a fixed non-uniform tensor so each output position has its own weight.
Tensor weigh(const Tensor& t) { return t * uniform_f64(t.shape(), 99, 0.5, 1.5); }

RegisterGradcheck reshape_2_6_3_4{{OpId::reshape, "reshape [2,6] -> [3,4]", in({{2, 6}}), [](auto& x) { return weigh(reshape(x[0], {3, 4})); }}};
RegisterGradcheck reshape_of_a_transpose_copies{{OpId::reshape, "reshape of a transpose (copies)", in({{3, 4}}), [](auto& x) { return weigh(reshape(transpose(x[0], 0, 1), {2, 6})); }}};
RegisterGradcheck squeeze_unsqueeze_flatten{{OpId::reshape, "squeeze/unsqueeze/flatten", in({{2, 1, 3}}), [](auto& x) { return weigh(flatten(unsqueeze(squeeze(x[0], 1), 0))); }}};
RegisterGradcheck permute_2_3_4_2_0_1{{OpId::permute, "permute [2,3,4] -> (2,0,1)", in({{2, 3, 4}}), [](auto& x) { return weigh(permute(x[0], {2, 0, 1})); }, true}};
RegisterGradcheck narrow_dim_1{{OpId::narrow, "narrow dim 1", in({{3, 5}}), [](auto& x) { return weigh(narrow(x[0], 1, 1, 3)); }}};
RegisterGradcheck select_and_split{{OpId::narrow, "select and split", in({{4, 3}}), [](auto& x) {
  auto parts = split(x[0], 3, 0);
  return weigh(select(parts[0], 1, 2) * 2.0 + select(parts[1], 1, 0).sum()); }}};
RegisterGradcheck chunk_case{{OpId::narrow, "chunk", in({{5, 2}}), [](auto& x) {
  auto parts = chunk(x[0], 3, 0);
  return weigh(cat({parts[2], parts[0] * parts[1]}, 0)); }}};
RegisterGradcheck expand_3_1_2_3_4{{OpId::expand, "expand [3,1] -> [2,3,4]", in({{3, 1}}), [](auto& x) { return weigh(expand(x[0], {2, 3, 4})); }}};
RegisterGradcheck contiguous_of_a_transpose{{OpId::contiguous, "contiguous of a transpose", in({{3, 4}}), [](auto& x) { return weigh(contiguous(transpose(x[0], 0, 1))); }}};
RegisterGradcheck clone_case{{OpId::contiguous, "clone", in({{3}}), [](auto& x) { return weigh(clone(x[0])); }}};
RegisterGradcheck cat_dim_1_of_three{{OpId::cat, "cat dim 1 of three", in({{2, 1}, {2, 3}, {2, 2}}), [](auto& x) { return weigh(cat({x[0], x[1], x[2]}, 1)); }, true}};
RegisterGradcheck stack_dim_1{{OpId::cat, "stack dim -1", in({{2, 3}, {2, 3}}), [](auto& x) { return weigh(stack({x[0], x[1]}, -1)); }}};
RegisterGradcheck cat_with_itself{{OpId::cat, "cat with itself", in({{3}}), [](auto& x) { return weigh(cat({x[0], x[0]}, 0)); }}};
RegisterGradcheck pad_last_two_dims{{OpId::pad, "pad last two dims", in({{2, 3}}), [](auto& x) { return weigh(pad(x[0], {1, 2, 0, 1}, 0.5)); }}};
RegisterGradcheck pad_negative_crop{{OpId::pad, "pad negative (crop)", in({{4, 5}}), [](auto& x) { return weigh(pad(x[0], {-1, 2, 1, -2})); }}};
RegisterGradcheck repeat_case{{OpId::expand, "repeat", in({{2, 3}}), [](auto& x) { return weigh(repeat(x[0], {2, 1, 2})); }}};

}  // namespace
}  // namespace dg::test
