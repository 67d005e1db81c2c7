// grouped_matmul and its weight gradient against the per-group loop of plain matmuls they replace:
// uneven and empty groups, a transposed weight view, float32 at sizes that split over the pool
// (results identical at one and two threads), the FLOP count (routed rows only, zero for an empty
// group) and the error messages.
#include <catch2/catch.hpp>

#include "engine/flops.h"
#include "engine/parallel.h"
#include "tests/engine/test_util.h"

using namespace dg;
using dg::test::max_abs_diff;
using dg::test::uniform_f32;
using dg::test::uniform_f64;

namespace {

// The definition, one group at a time.
Tensor grouped_reference(const Tensor& x, const Tensor& w, const std::vector<int64_t>& sizes) {
  std::vector<Tensor> blocks;
  int64_t row = 0;
  for (size_t e = 0; e < sizes.size(); ++e) {
    if (sizes[e] > 0) blocks.push_back(matmul(narrow(x, 0, row, sizes[e]), select(w, 0, e)));
    row += sizes[e];
  }
  return cat(blocks, 0);
}

Tensor weight_grad_reference(const Tensor& x, const Tensor& g, const std::vector<int64_t>& sizes) {
  std::vector<Tensor> blocks;
  int64_t row = 0;
  for (size_t e = 0; e < sizes.size(); ++e) {
    blocks.push_back(matmul(transpose(narrow(x, 0, row, sizes[e]), 0, 1), narrow(g, 0, row, sizes[e])));
    row += sizes[e];
  }
  return stack(blocks, 0);
}

}  // namespace

TEST_CASE("grouped_matmul equals one matmul per group", "[grouped_matmul]") {
  const std::vector<int64_t> sizes{3, 0, 5, 1, 0};
  const Tensor x = uniform_f64({9, 4}, 1), w = uniform_f64({5, 4, 6}, 2);
  CHECK(max_abs_diff(grouped_matmul(x, w, sizes), grouped_reference(x, w, sizes)) < 1e-12);
  // A transposed view of the weights is read in place and gives the same products.
  const Tensor wt = contiguous(transpose(w, 1, 2));
  CHECK(max_abs_diff(grouped_matmul(x, transpose(wt, 1, 2), sizes), grouped_reference(x, w, sizes)) < 1e-12);
  // Neither layout (a strided slice along N): copied first, same result.
  const Tensor wide = uniform_f64({5, 4, 12}, 3);
  const Tensor every_other = make_view(wide, {5, 4, 6}, {48, 12, 2}, 0);
  CHECK(max_abs_diff(grouped_matmul(x, every_other, sizes), grouped_reference(x, contiguous(every_other), sizes)) < 1e-12);
  const Tensor g = uniform_f64({9, 6}, 4);
  CHECK(max_abs_diff(grouped_matmul_weight_grad(x, g, sizes), weight_grad_reference(x, g, sizes)) < 1e-12);
}

TEST_CASE("grouped_matmul at pool sizes: same result at one and two threads", "[grouped_matmul]") {
  // Uneven loads like a router's: one expert with most rows, one with none.
  const std::vector<int64_t> sizes{700, 3, 0, 130, 191};
  const Tensor x = uniform_f32({1024, 64}, 5), w = uniform_f32({5, 64, 96}, 6);
  const Tensor g = uniform_f32({1024, 96}, 7);
  const int saved = num_threads();
  set_num_threads(1);
  const Tensor one = grouped_matmul(x, w, sizes), one_grad = grouped_matmul_weight_grad(x, g, sizes);
  set_num_threads(2);
  const Tensor two = grouped_matmul(x, w, sizes), two_grad = grouped_matmul_weight_grad(x, g, sizes);
  set_num_threads(saved);
  CHECK(max_abs_diff(one, two) == 0.0);
  CHECK(max_abs_diff(one_grad, two_grad) == 0.0);
  CHECK(max_abs_diff(one, grouped_reference(x, w, sizes)) < 1e-4);
  CHECK(max_abs_diff(one_grad, weight_grad_reference(x, g, sizes)) < 1e-3);
}

TEST_CASE("grouped_matmul counts the routed rows' multiply-adds only", "[grouped_matmul]") {
  const Tensor x = uniform_f64({7, 4}, 8), w = uniform_f64({3, 4, 5}, 9);
  {
    FlopScope scope;
    grouped_matmul(x, w, {7, 0, 0});
    CHECK(scope.count() == 7 * 4 * 5);
  }
  {
    FlopScope scope;
    grouped_matmul(narrow(x, 0, 0, 0), w, {0, 0, 0});  // nothing routed: nothing runs
    CHECK(scope.count() == 0);
  }
  // The backward: x gradient (M K N) and weight gradient (M K N), nothing for the empty groups.
  const Tensor xg = uniform_f64({7, 4}, 8).set_requires_grad(true);
  const Tensor wg = uniform_f64({3, 4, 5}, 9).set_requires_grad(true);
  Tensor loss = sum(grouped_matmul(xg, wg, {2, 0, 5}));
  FlopScope scope;
  loss.backward();
  CHECK(scope.count() == 2 * 7 * 4 * 5);
  CHECK(max_abs_diff(select(wg.grad(), 0, 1), zeros({4, 5}, DType::f64)) == 0.0);
}

TEST_CASE("grouped_matmul: bad arguments are clear errors", "[grouped_matmul]") {
  const Tensor x = uniform_f64({5, 4}, 1), w = uniform_f64({2, 4, 3}, 2);
  CHECK_THROWS_WITH(grouped_matmul(x, w, {2, 2}), Catch::Contains("grouped_matmul: group sizes sum to 4 but x [5,4] has 5 rows"));
  CHECK_THROWS_WITH(grouped_matmul(x, w, {5}), Catch::Contains("1 group sizes given for 2 groups"));
  CHECK_THROWS_WITH(grouped_matmul(x, w, {6, -1}), Catch::Contains("group 1 has negative size -1"));
  CHECK_THROWS_WITH(grouped_matmul(x, uniform_f64({2, 3, 3}, 3), {2, 3}),
                    Catch::Contains("inner dimensions 4 and 3 differ"));
  CHECK_THROWS_WITH(grouped_matmul(x, uniform_f32({2, 4, 3}, 3), {2, 3}), Catch::Contains("dtype mismatch"));
  CHECK_THROWS_WITH(grouped_matmul_weight_grad(x, uniform_f64({4, 3}, 3), {2, 3}),
                    Catch::Contains("same rows"));
}
