// Tests of the indexing ops (engine/ops/index.cpp, engine/cpu/index_kernels.cpp): hand-checked
// values over dims 0, 1 and -1, 1-D to 3-D and non-contiguous operands; accumulation of duplicate
// indices; topk/sort edge cases (k = 0, k = size, ties, NaN); a bounds, dtype and rank error for
// every op; gradient values; and inputs big enough to take the parallel paths, checked against
// naive loops. Gradient checks against finite differences are in gradcheck_cases_index.cpp.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "engine/flops.h"
#include "tests/engine/test_util.h"

using namespace dg;
using dg::test::values;

namespace {

using I64s = std::vector<int64_t>;
using F64s = std::vector<double>;

I64s ints(const Tensor& t) { return t.to_vector<int64_t>(); }

// [[1,2,3],[4,5,6]]
Tensor x23() { return tensor({1, 2, 3, 4, 5, 6}, {2, 3}); }

// 0, 1, ..., n-1 in f64 with `shape`.
Tensor counting(const Shape& shape) { return reshape(arange(0.0, numel(shape), 1.0, DType::f64), shape); }

const double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

// ---------------------------------------------------------------- index_select

TEST_CASE("index_select: rows, columns and dim -1 of a 2-D tensor") {
  Tensor rows = index_select(x23(), 0, tensor_i64({1, 1, 0}));
  CHECK(rows.shape() == Shape{3, 3});
  CHECK(values(rows) == F64s{4, 5, 6, 4, 5, 6, 1, 2, 3});
  Tensor cols = index_select(x23(), 1, tensor_i64({2, 0}));
  CHECK(cols.shape() == Shape{2, 2});
  CHECK(values(cols) == F64s{3, 1, 6, 4});
  CHECK(values(index_select(x23(), -1, tensor_i64({2, 0}))) == F64s{3, 1, 6, 4});
}

TEST_CASE("index_select: 1-D, 3-D, empty index") {
  CHECK(values(index_select(tensor({10, 20, 30}), 0, tensor_i64({2, 2, 0, 1}))) == F64s{30, 30, 10, 20});

  Tensor x = counting({2, 3, 4});  // x[a][b][c] = 12a + 4b + c
  Tensor out = index_select(x, 1, tensor_i64({2, 0}));
  REQUIRE(out.shape() == Shape{2, 2, 4});
  CHECK(values(out) == F64s{8, 9, 10, 11, 0, 1, 2, 3, 20, 21, 22, 23, 12, 13, 14, 15});

  CHECK(index_select(x23(), 0, from_vector(I64s{})).shape() == Shape{0, 3});
  CHECK(index_select(x23(), 1, from_vector(I64s{})).shape() == Shape{2, 0});
}

TEST_CASE("index_select: transposed input and strided index") {
  Tensor xt = transpose(x23(), 0, 1);  // [[1,4],[2,5],[3,6]]
  CHECK(values(index_select(xt, 0, tensor_i64({2, 0}))) == F64s{3, 6, 1, 4});
  CHECK(values(index_select(xt, 1, tensor_i64({1}))) == F64s{4, 5, 6});
  // Column 0 of [[2,0],[1,0]]: {2, 1} with stride 2.
  Tensor strided = select(tensor_i64({2, 0, 1, 0}, {2, 2}), 1, 0);
  REQUIRE(!strided.is_contiguous());
  CHECK(values(index_select(x23(), 1, strided)) == F64s{3, 2, 6, 5});
}

// ---------------------------------------------------------------- gather

TEST_CASE("gather: dims 0, 1 and -1 of a 2-D tensor") {
  Tensor idx = tensor_i64({2, 0, 1, 1}, {2, 2});
  CHECK(values(gather(x23(), 1, idx)) == F64s{3, 1, 5, 5});
  CHECK(values(gather(x23(), -1, idx)) == F64s{3, 1, 5, 5});
  Tensor down = gather(x23(), 0, tensor_i64({1, 0, 1}, {1, 3}));
  CHECK(down.shape() == Shape{1, 3});
  CHECK(values(down) == F64s{4, 2, 6});
}

TEST_CASE("gather: the index may be smaller off dim and longer along dim") {
  CHECK(values(gather(x23(), 1, tensor_i64({0}, {1, 1}))) == F64s{1});
  Tensor out = gather(x23(), 0, tensor_i64({1, 0, 1}, {3, 1}));
  CHECK(out.shape() == Shape{3, 1});
  CHECK(values(out) == F64s{4, 1, 4});
  CHECK(values(gather(tensor({10, 20, 30}), 0, tensor_i64({2, 0, 0}))) == F64s{30, 10, 10});
}

TEST_CASE("gather: 3-D along the last dim matches a naive loop") {
  Tensor x = counting({2, 3, 4});
  Tensor idx = tensor_i64({3, 0, 2, 1, 1, 3}, {2, 3, 1});
  Tensor out = gather(x, 2, idx);
  REQUIRE(out.shape() == Shape{2, 3, 1});
  CHECK(values(out) == F64s{3, 4, 10, 13, 17, 23});
}

TEST_CASE("gather: transposed input and transposed index") {
  Tensor xt = transpose(x23(), 0, 1);  // [[1,4],[2,5],[3,6]]
  CHECK(values(gather(xt, 1, tensor_i64({1, 0, 1}, {3, 1}))) == F64s{4, 2, 6});
  Tensor idx = transpose(tensor_i64({0, 1, 2, 0}, {2, 2}), 0, 1);  // [[0,2],[1,0]]
  CHECK(values(gather(x23(), 1, idx)) == F64s{1, 3, 5, 4});
}

// ---------------------------------------------------------------- scatter, scatter_add, index_add

TEST_CASE("scatter: dims 1 and 0; src larger than index; x untouched") {
  Tensor x = zeros({2, 4});
  Tensor src = tensor({1, 2, 9, 3, 4, 9}, {2, 3});  // the 9s are outside the index: unused
  Tensor out = scatter(x, 1, tensor_i64({3, 0, 1, 2}, {2, 2}), src);
  CHECK(values(out) == F64s{2, 0, 0, 1, 0, 3, 4, 0});
  CHECK(values(x) == F64s(8, 0.0));
  CHECK(values(scatter(x, -1, tensor_i64({3, 0, 1, 2}, {2, 2}), src)) == values(out));

  Tensor down = scatter(zeros({3, 2}), 0, tensor_i64({2, 0}, {1, 2}), tensor({5, 6}, {1, 2}));
  CHECK(values(down) == F64s{0, 6, 0, 0, 5, 0});
}

TEST_CASE("scatter: transposed src and transposed x") {
  Tensor src = transpose(tensor({1, 2, 3, 4}, {2, 2}), 0, 1);  // [[1,3],[2,4]]
  Tensor out = scatter(zeros({2, 3}), 1, tensor_i64({2, 0, 1, 2}, {2, 2}), src);
  CHECK(values(out) == F64s{3, 0, 1, 0, 2, 4});

  Tensor xt = transpose(x23(), 0, 1);  // [[1,4],[2,5],[3,6]]
  Tensor into = scatter(xt, 0, tensor_i64({0, 2}, {2, 1}), tensor({10, 20}, {2, 1}));
  CHECK(values(into) == F64s{10, 4, 2, 5, 20, 6});
}

TEST_CASE("scatter: on the CPU the last duplicate wins") {
  Tensor out = scatter(zeros({1, 3}), 1, tensor_i64({1, 1}, {1, 2}), tensor({5, 7}, {1, 2}));
  CHECK(values(out) == F64s{0, 7, 0});
}

TEST_CASE("scatter_add: duplicate indices accumulate") {
  Tensor out = scatter_add(ones({2, 3}), 1, tensor_i64({0, 0, 2, 1, 1, 1}, {2, 3}),
                           tensor({1, 2, 3, 4, 5, 6}, {2, 3}));
  CHECK(values(out) == F64s{4, 1, 4, 1, 16, 1});

  // 3-D along dim 0, the index longer than x along dim 0 and narrower along dim 1.
  Tensor idx = tensor_i64({1, 0, 1, 1, 0, 1}, {3, 1, 2});
  Tensor out3 = scatter_add(zeros({2, 2, 2}, DType::f64), 0, idx, counting({3, 1, 2}) + 1.0);
  CHECK(values(out3) == F64s{5, 2, 0, 0, 4, 10, 0, 0});

  // A transposed src accumulates the same as its contiguous copy.
  Tensor src_t = transpose(tensor({1, 2, 3, 4}, {2, 2}), 0, 1);  // [[1,3],[2,4]]
  CHECK(values(scatter_add(zeros({2, 2}), 1, tensor_i64({1, 1, 0, 0}, {2, 2}), src_t)) ==
        F64s{0, 4, 6, 0});
}

TEST_CASE("index_add: duplicate indices accumulate along dims 0, 1 and -1") {
  Tensor rows = index_add(zeros({3, 2}), 0, tensor_i64({2, 0, 2}), tensor({1, 2, 3, 4, 5, 6}, {3, 2}));
  CHECK(values(rows) == F64s{3, 4, 0, 0, 6, 8});
  Tensor cols = index_add(ones({2, 3}), 1, tensor_i64({1, 1}), tensor({1, 2, 3, 4}, {2, 2}));
  CHECK(values(cols) == F64s{1, 4, 1, 1, 8, 1});
  CHECK(values(index_add(ones({2, 3}), -1, tensor_i64({1, 1}), tensor({1, 2, 3, 4}, {2, 2}))) ==
        values(cols));
  CHECK(values(index_add(zeros({3}), 0, tensor_i64({0, 0, 0, 2}), tensor({1, 2, 3, 4}))) ==
        F64s{6, 0, 4});
  Tensor src_t = transpose(tensor({1, 2, 3, 4}, {2, 2}), 0, 1);  // [[1,3],[2,4]]
  CHECK(values(index_add(zeros({2, 3}), 1, tensor_i64({0, 2}), src_t)) == F64s{1, 0, 3, 2, 0, 4});
}

TEST_CASE("scatter_add and index_add count one add per source element") {
  FlopScope scope;
  scatter_add(zeros({2, 3}), 1, tensor_i64({0, 0}, {2, 1}), ones({2, 3}));
  CHECK(scope.count() == 2);
  FlopScope scope2;
  index_add(zeros({2, 3}), 1, tensor_i64({0, 1}), ones({2, 2}));
  CHECK(scope2.count() == 4);
}

// ---------------------------------------------------------------- masked_fill, one_hot

TEST_CASE("masked_fill: broadcast masks, transposed input, integer input") {
  Tensor row_mask = from_vector(std::vector<bool>{true, false, true});
  CHECK(values(masked_fill(x23(), row_mask, -1)) == F64s{-1, 2, -1, -1, 5, -1});
  Tensor col_mask = from_vector(std::vector<bool>{false, true}, {2, 1});
  CHECK(values(masked_fill(x23(), col_mask, 0)) == F64s{1, 2, 3, 0, 0, 0});
  Tensor xt = transpose(x23(), 0, 1);
  CHECK(values(masked_fill(xt, from_vector(std::vector<bool>{false, true}), 9)) ==
        F64s{1, 9, 2, 9, 3, 9});
  Tensor xi = masked_fill(tensor_i64({1, 2, 3}), row_mask, 7);
  CHECK(xi.dtype() == DType::i64);
  CHECK(ints(xi) == I64s{7, 2, 7});
}

TEST_CASE("masked_fill: errors") {
  CHECK_THROWS_WITH(masked_fill(x23(), tensor({1, 0, 1}), 0),
                    Catch::Contains("masked_fill: mask of shape [3] has dtype f32, expected bool"));
  CHECK_THROWS_WITH(masked_fill(tensor({1, 2, 3}), from_vector(std::vector<bool>(6, true), {2, 3}), 0),
                    Catch::Contains("masked_fill: mask of shape [2,3] does not broadcast to input shape [3]"));
  CHECK_THROWS_WITH(masked_fill(x23(), from_vector(std::vector<bool>(4, true)), 0),
                    Catch::Contains("masked_fill") && Catch::Contains("[4]"));
}

TEST_CASE("one_hot: values, shapes and inferred num_classes") {
  Tensor out = one_hot(tensor_i64({0, 2, 1}), 3);
  CHECK(out.dtype() == DType::i64);
  CHECK(out.shape() == Shape{3, 3});
  CHECK(ints(out) == I64s{1, 0, 0, 0, 0, 1, 0, 1, 0});
  Tensor two_d = one_hot(tensor_i64({1, 0, 0, 1}, {2, 2}), 2);
  CHECK(two_d.shape() == Shape{2, 2, 2});
  CHECK(ints(two_d) == I64s{0, 1, 1, 0, 1, 0, 0, 1});
  Tensor inferred = one_hot(tensor_i64({0, 3}), -1);
  CHECK(inferred.shape() == Shape{2, 4});
  CHECK(ints(inferred) == I64s{1, 0, 0, 0, 0, 0, 0, 1});
}

TEST_CASE("one_hot: errors") {
  CHECK_THROWS_WITH(one_hot(tensor_i64({0, 3}), 3),
                    Catch::Contains("one_hot: class index 3 out of range for num_classes 3 (index shape [2])"));
  CHECK_THROWS_WITH(one_hot(tensor_i64({-1}), 3), Catch::Contains("one_hot: class index -1 out of range"));
  CHECK_THROWS_WITH(one_hot(tensor({0, 1}), 3),
                    Catch::Contains("one_hot: index of shape [2] has dtype f32, expected i64"));
  CHECK_THROWS_WITH(one_hot(tensor_i64({0}), 0), Catch::Contains("one_hot: num_classes must be positive"));
}

// ---------------------------------------------------------------- topk

namespace {
// [[1,5,3,4,2],[9,7,8,6,0]]
Tensor topk_input() { return tensor({1, 5, 3, 4, 2, 9, 7, 8, 6, 0}, {2, 5}); }
}  // namespace

TEST_CASE("topk: largest and smallest along the last dim") {
  auto [v, i] = topk(topk_input(), 2);
  CHECK(v.shape() == Shape{2, 2});
  CHECK(values(v) == F64s{5, 4, 9, 8});
  CHECK(i.dtype() == DType::i64);
  CHECK(ints(i) == I64s{1, 3, 0, 2});
  auto [vs, is] = topk(topk_input(), 2, -1, /*largest=*/false);
  CHECK(values(vs) == F64s{1, 2, 0, 6});
  CHECK(ints(is) == I64s{0, 4, 4, 3});
}

TEST_CASE("topk: k = 0 and k = size") {
  auto [v0, i0] = topk(topk_input(), 0);
  CHECK(v0.shape() == Shape{2, 0});
  CHECK(i0.shape() == Shape{2, 0});
  auto [v, i] = topk(topk_input(), 5, 1);
  CHECK(values(v) == F64s{5, 4, 3, 2, 1, 9, 8, 7, 6, 0});
  CHECK(ints(i) == I64s{1, 3, 2, 4, 0, 0, 2, 1, 3, 4});
}

TEST_CASE("topk: dim 0, a transposed input and a 3-D input") {
  auto [v, i] = topk(topk_input(), 1, 0);
  CHECK(v.shape() == Shape{1, 5});
  CHECK(values(v) == F64s{9, 7, 8, 6, 2});
  CHECK(ints(i) == I64s{1, 1, 1, 1, 0});
  auto [vt, it] = topk(transpose(topk_input(), 0, 1), 1, 0);
  CHECK(values(vt) == F64s{5, 9});
  CHECK(ints(it) == I64s{1, 0});
  // counting({2,3,4}) grows along every dim, so the top 2 along dim 1 are rows 2 and 1.
  auto [v3, i3] = topk(counting({2, 3, 4}), 2, 1);
  CHECK(v3.shape() == Shape{2, 2, 4});
  CHECK(values(v3) == F64s{8, 9, 10, 11, 4, 5, 6, 7, 20, 21, 22, 23, 16, 17, 18, 19});
  CHECK(ints(i3) == I64s{2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1});
}

TEST_CASE("topk: unsorted returns the same set; ties go to the lower index; NaN is largest") {
  auto [v, i] = topk(topk_input(), 3, 1, true, /*sorted=*/false);
  const I64s unsorted = ints(i);
  for (int r = 0; r < 2; ++r) {
    I64s row(unsorted.begin() + 3 * r, unsorted.begin() + 3 * r + 3);
    std::sort(row.begin(), row.end());
    CHECK(row == (r == 0 ? I64s{1, 2, 3} : I64s{0, 1, 2}));
  }
  auto [vt, it] = topk(tensor({2, 1, 2, 2}), 2);
  CHECK(ints(it) == I64s{0, 2});
  auto [vn, in] = topk(tensor_f64({1, kNaN, 3}), 2);
  CHECK(std::isnan(values(vn)[0]));
  CHECK(ints(in) == I64s{1, 2});
  auto [vm, im] = topk(tensor_f64({1, kNaN, 3}), 1, -1, false);
  CHECK(ints(im) == I64s{0});
  auto [vi, ii] = topk(tensor_i64({4, -2, 7}), 2);
  CHECK(ints(vi) == I64s{7, 4});
}

TEST_CASE("topk: errors") {
  CHECK_THROWS_WITH(topk(topk_input(), 6),
                    Catch::Contains("topk: k = 6 out of range for dim 1 of size 5 (input shape [2,5])"));
  CHECK_THROWS_WITH(topk(topk_input(), -1), Catch::Contains("topk: k = -1 out of range"));
  CHECK_THROWS_WITH(topk(topk_input(), 1, 2), Catch::Contains("topk: dim 2 out of range"));
  CHECK_THROWS_WITH(topk(scalar(1.0), 1), Catch::Contains("topk: expected a tensor with at least 1 dim"));
}

// ---------------------------------------------------------------- sort, argsort

TEST_CASE("sort: ascending and descending, dims 0 and -1, transposed input") {
  auto [v, i] = sort(tensor({3, 1, 2}));
  CHECK(values(v) == F64s{1, 2, 3});
  CHECK(ints(i) == I64s{1, 2, 0});
  auto [vd, id] = sort(tensor({3, 1, 2}), -1, /*descending=*/true);
  CHECK(values(vd) == F64s{3, 2, 1});
  CHECK(ints(id) == I64s{0, 2, 1});

  Tensor x = tensor({3, 0, 1, 4, 2, 5}, {3, 2});  // [[3,0],[1,4],[2,5]]
  auto [v0, i0] = sort(x, 0);
  CHECK(values(v0) == F64s{1, 0, 2, 4, 3, 5});
  CHECK(ints(i0) == I64s{1, 0, 2, 1, 0, 2});
  auto [vt, it] = sort(transpose(x, 0, 1), -1);  // rows [3,1,2] and [0,4,5]
  CHECK(values(vt) == F64s{1, 2, 3, 0, 4, 5});
  CHECK(ints(it) == I64s{1, 2, 0, 0, 1, 2});
}

TEST_CASE("sort: stable with ties in both directions") {
  Tensor x = tensor({2, 1, 2, 1, 2});
  auto [v, i] = sort(x);
  CHECK(values(v) == F64s{1, 1, 2, 2, 2});
  CHECK(ints(i) == I64s{1, 3, 0, 2, 4});
  auto [vd, id] = sort(x, 0, true);
  CHECK(values(vd) == F64s{2, 2, 2, 1, 1});
  CHECK(ints(id) == I64s{0, 2, 4, 1, 3});
}

TEST_CASE("sort: NaN orders above every number; integers and empty dims work") {
  auto [v, i] = sort(tensor_f64({kNaN, 1, kNaN, 0}));
  CHECK(ints(i) == I64s{3, 1, 0, 2});
  CHECK(values(v)[1] == 1);
  CHECK(std::isnan(values(v)[3]));
  auto [vd, id] = sort(tensor_f64({kNaN, 1, kNaN, 0}), 0, true);
  CHECK(ints(id) == I64s{0, 2, 1, 3});
  auto [vi, ii] = sort(tensor_i64({5, -3, 0}));
  CHECK(ints(vi) == I64s{-3, 0, 5});
  auto [ve, ie] = sort(zeros({2, 0}), 1);
  CHECK(ve.shape() == Shape{2, 0});
  CHECK(ie.shape() == Shape{2, 0});
  CHECK_THROWS_WITH(sort(scalar(1.0)), Catch::Contains("sort: expected a tensor with at least 1 dim"));
}

TEST_CASE("argsort: the indices of sort, with no graph recorded") {
  Tensor x = tensor({2, 1, 2, 1, 2}).set_requires_grad();
  Tensor order = argsort(x, -1, true);
  CHECK(ints(order) == I64s{0, 2, 4, 1, 3});
  CHECK(!order.requires_grad());
  CHECK(order.grad_fn() == nullptr);
}

// ---------------------------------------------------------------- errors shared by index ops

TEST_CASE("index ops: an index out of range throws naming the op, dim, size and shape") {
  Tensor x = x23();
  CHECK_THROWS_WITH(index_select(x, 0, tensor_i64({0, 2})),
                    Catch::Contains("index_select: index 2 out of range for dim 0 of size 2 (input shape [2,3])"));
  CHECK_THROWS_WITH(gather(x, 1, tensor_i64({0, 7}, {1, 2})),
                    Catch::Contains("gather: index 7 out of range for dim 1 of size 3 (input shape [2,3])"));
  CHECK_THROWS_WITH(scatter(x, 0, tensor_i64({2}, {1, 1}), ones({1, 1})),
                    Catch::Contains("scatter: index 2 out of range for dim 0 of size 2 (input shape [2,3])"));
  CHECK_THROWS_WITH(scatter_add(x, 1, tensor_i64({3}, {1, 1}), ones({1, 1})),
                    Catch::Contains("scatter_add: index 3 out of range for dim 1 of size 3"));
  CHECK_THROWS_WITH(index_add(x, 1, tensor_i64({5}), ones({2, 1})),
                    Catch::Contains("index_add: index 5 out of range for dim 1 of size 3"));
  // A strided index takes the copying path of the check.
  Tensor strided = select(tensor_i64({0, 1, 9, 1}, {2, 2}), 1, 0);  // {0, 9}
  CHECK_THROWS_WITH(index_select(x, 1, strided), Catch::Contains("index_select: index 9 out of range"));
}

TEST_CASE("index ops: negative indices are errors") {
  Tensor x = x23();
  const char* negative = "negative indices are not supported";
  CHECK_THROWS_WITH(index_select(x, 1, tensor_i64({0, -1})),
                    Catch::Contains("index_select: index -1 out of range") && Catch::Contains(negative));
  CHECK_THROWS_WITH(gather(x, 0, tensor_i64({-1}, {1, 1})),
                    Catch::Contains("gather: index -1 out of range") && Catch::Contains(negative));
  CHECK_THROWS_WITH(scatter(x, 1, tensor_i64({-1}, {1, 1}), ones({1, 1})),
                    Catch::Contains("scatter: index -1 out of range") && Catch::Contains(negative));
  CHECK_THROWS_WITH(scatter_add(x, 1, tensor_i64({-1}, {1, 1}), ones({1, 1})),
                    Catch::Contains("scatter_add: index -1 out of range") && Catch::Contains(negative));
  CHECK_THROWS_WITH(index_add(x, 0, tensor_i64({-1}), ones({1, 3})),
                    Catch::Contains("index_add: index -1 out of range") && Catch::Contains(negative));
}

TEST_CASE("index ops: an index that is not i64 throws naming the op and dtype") {
  Tensor x = x23();
  CHECK_THROWS_WITH(index_select(x, 0, tensor({0, 1})),
                    Catch::Contains("index_select: index of shape [2] has dtype f32, expected i64"));
  CHECK_THROWS_WITH(gather(x, 1, tensor({0, 1, 0, 1, 0, 1}, {2, 3})),
                    Catch::Contains("gather: index of shape [2,3] has dtype f32, expected i64"));
  CHECK_THROWS_WITH(scatter(x, 1, tensor_f64({0}, {1, 1}), ones({1, 1})),
                    Catch::Contains("scatter: index of shape [1,1] has dtype f64, expected i64"));
  CHECK_THROWS_WITH(scatter_add(x, 1, from_vector(std::vector<bool>{true}, {1, 1}), ones({1, 1})),
                    Catch::Contains("scatter_add: index of shape [1,1] has dtype bool, expected i64"));
  CHECK_THROWS_WITH(index_add(x, 0, tensor({0}), ones({1, 3})),
                    Catch::Contains("index_add: index of shape [1] has dtype f32, expected i64"));
}

TEST_CASE("index ops: wrong ranks and sizes throw naming the shapes") {
  Tensor x = x23();
  CHECK_THROWS_WITH(index_select(x, 0, tensor_i64({0, 1}, {1, 2})),
                    Catch::Contains("index_select: index must be 1-D, got shape [1,2]"));
  CHECK_THROWS_WITH(index_select(x, 2, tensor_i64({0})), Catch::Contains("index_select: dim 2 out of range"));
  CHECK_THROWS_WITH(gather(x, 1, tensor_i64({0, 1})),
                    Catch::Contains("gather: index of shape [2] has 1 dims but input of shape [2,3] has 2"));
  CHECK_THROWS_WITH(gather(x, 1, tensor_i64({0, 1, 0}, {3, 1})),
                    Catch::Contains("gather: index of shape [3,1] is larger than input of shape [2,3] at dim 0 (3 > 2)"));
  CHECK_THROWS_WITH(gather(scalar(1.0), 0, tensor_i64({0})),
                    Catch::Contains("gather: expected a tensor with at least 1 dim"));
  CHECK_THROWS_WITH(scatter(x, 1, tensor_i64({0, 1}), ones({2})),
                    Catch::Contains("scatter: index of shape [2] has 1 dims but input of shape [2,3] has 2"));
  CHECK_THROWS_WITH(scatter(x, 1, tensor_i64({0, 1}, {1, 2}), ones({1, 1})),
                    Catch::Contains("scatter: index of shape [1,2] is larger than src of shape [1,1] at dim 1 (2 > 1)"));
  CHECK_THROWS_WITH(scatter_add(x, 0, tensor_i64({0, 1, 0, 1}, {1, 4}), ones({1, 4})),
                    Catch::Contains("scatter_add: index of shape [1,4] is larger than input of shape [2,3] at dim 1"));
  CHECK_THROWS_WITH(scatter(x, 0, tensor_i64({0}, {1, 1}), ones({1, 1}, DType::f64)),
                    Catch::Contains("scatter: dtype mismatch"));
  CHECK_THROWS_WITH(index_add(x, 0, tensor_i64({0}, {1, 1}), ones({1, 3})),
                    Catch::Contains("index_add: index must be 1-D, got shape [1,1]"));
  CHECK_THROWS_WITH(index_add(x, 0, tensor_i64({0, 1}), ones({1, 3})),
                    Catch::Contains("index_add: src has shape [1,3], expected [2,3]"));
  CHECK_THROWS_WITH(scatter_add(from_vector(std::vector<bool>{true}), 0, tensor_i64({0}),
                                from_vector(std::vector<bool>{true})),
                    Catch::Contains("scatter_add: not defined for bool tensors"));
}

// ---------------------------------------------------------------- gradient values

TEST_CASE("index backward: gather and index_select accumulate over duplicate indices") {
  Tensor x = x23().set_requires_grad();
  sum(gather(x, 1, tensor_i64({0, 0, 2, 1}, {2, 2}))).backward();
  CHECK(values(x.grad()) == F64s{2, 0, 0, 0, 1, 1});
  Tensor y = x23().set_requires_grad();
  sum(index_select(y, 0, tensor_i64({1, 1, 0}))).backward();
  CHECK(values(y.grad()) == F64s{1, 1, 1, 2, 2, 2});
}

TEST_CASE("index backward: scatter zeroes overwritten positions; src gets zeros where unread") {
  Tensor x = zeros({2, 3}).set_requires_grad();
  Tensor src = zeros({2, 2}).set_requires_grad();
  Tensor w = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  sum(scatter(x, 1, tensor_i64({2, 0}, {2, 1}), src) * w).backward();
  CHECK(values(x.grad()) == F64s{1, 2, 0, 0, 5, 6});
  CHECK(values(src.grad()) == F64s{3, 0, 4, 0});
}

TEST_CASE("index backward: scatter_add and index_add pass the gradient through to x") {
  Tensor w = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor x = zeros({2, 3}).set_requires_grad();
  Tensor src = zeros({2, 2}).set_requires_grad();
  sum(scatter_add(x, 1, tensor_i64({2, 2, 0, 1}, {2, 2}), src) * w).backward();
  CHECK(values(x.grad()) == values(w));
  CHECK(values(src.grad()) == F64s{3, 3, 4, 5});

  Tensor y = zeros({2, 3}).set_requires_grad();
  Tensor rows = zeros({2, 2}).set_requires_grad();
  sum(index_add(y, 1, tensor_i64({2, 2}), rows) * w).backward();
  CHECK(values(y.grad()) == values(w));
  CHECK(values(rows.grad()) == F64s{3, 3, 6, 6});
}

TEST_CASE("index backward: masked_fill, topk and sort") {
  Tensor x = x23().set_requires_grad();
  sum(masked_fill(x, from_vector(std::vector<bool>{true, false, true}), 0) * x23()).backward();
  CHECK(values(x.grad()) == F64s{0, 2, 0, 0, 5, 0});

  Tensor t = topk_input().set_requires_grad();
  auto [v, i] = topk(t, 2);
  sum(v * tensor({1, 2, 3, 4}, {2, 2})).backward();
  CHECK(values(t.grad()) == F64s{0, 1, 0, 2, 0, 3, 0, 4, 0, 0});

  Tensor s = tensor({3, 1, 2}).set_requires_grad();
  auto [sv, si] = sort(s);
  sum(sv * tensor({10, 20, 30})).backward();
  CHECK(values(s.grad()) == F64s{30, 10, 20});
}

TEST_CASE("index backward: an index changed in place after the forward is caught, not used") {
  // The backward trusts the index the forward validated; the version check is what makes that safe.
  Tensor x = x23().set_requires_grad();
  Tensor idx = tensor_i64({0, 2}, {1, 2});
  Tensor y = gather(x, 1, idx);
  idx.fill_(7);
  CHECK_THROWS_WITH(sum(y).backward(), Catch::Contains("saved by 'gather'") &&
                                           Catch::Contains("modified by an in-place operation"));
}

// ---------------------------------------------------------------- parallel paths

TEST_CASE("index kernels: inputs big enough to run in parallel match naive loops") {
  const int64_t R = 4, C = 40000;  // 40000 positions off dim 0: scatter runs its parallel path
  Tensor idx = from_vector([&] {
    I64s v(R * C);
    for (int64_t i = 0; i < R * C; ++i) v[i] = (i * 7919 + i / C) % 3;  // rows 0..2, with repeats
    return v;
  }(), {R, C});
  Tensor src = counting({R, C});
  const I64s iv = ints(idx);
  const F64s sv = values(src);

  F64s expected(3 * C, 0.0);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) expected[iv[r * C + c] * C + c] += sv[r * C + c];
  CHECK(values(scatter_add(zeros({3, C}, DType::f64), 0, idx, src)) == expected);

  Tensor table = counting({3, C});
  F64s gathered(R * C);
  for (int64_t i = 0; i < R * C; ++i) gathered[i] = iv[i] * C + i % C;
  CHECK(values(gather(table, 0, idx)) == gathered);

  F64s added(3 * C, 0.0);
  const I64s rows{2, 0, 2, 1};
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) added[rows[r] * C + c] += sv[r * C + c];
  CHECK(values(index_add(zeros({3, C}, DType::f64), 0, from_vector(rows), src)) == added);

  // 400 rows of 100 hashed values (with ties from rounding): sort agrees with std::stable_sort.
  F64s raw = test::hashed_values(400 * 100, 3, 0, 20);
  for (double& r : raw) r = std::floor(r);
  auto [sorted_values, order] = sort(from_vector(raw, {400, 100}));
  const I64s ov = ints(order);
  bool all_match = true;
  for (int64_t r = 0; r < 400; ++r) {
    I64s ref(100);
    std::iota(ref.begin(), ref.end(), int64_t{0});
    std::stable_sort(ref.begin(), ref.end(), [&](int64_t a, int64_t b) { return raw[r * 100 + a] < raw[r * 100 + b]; });
    all_match = all_match && std::equal(ref.begin(), ref.end(), ov.begin() + r * 100);
  }
  CHECK(all_match);
}
