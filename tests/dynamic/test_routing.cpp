// The routing primitive (dynamic/routing.h) against its definition, a loop over rows: dispatch,
// per-destination functions and the weighted combine equal out[n] = sum_j w[n, j] f_{e(n, j)}(x[n])
// with duplicate destinations in one row, empty destinations, every row to one destination and
// slots sent nowhere; float64 gradient checks through x and the weights; the FLOP counter shows
// that a row sent nowhere costs nothing; compaction runs a function on the active rows only and
// passes the others through, with exact gradients.
#include <catch2/catch.hpp>

#include "dynamic/routing.h"
#include "engine/flops.h"
#include "engine/gradcheck.h"
#include "tests/engine/test_util.h"

using namespace dg;
using namespace dg::dynamic;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

namespace {

// Destination e's function: a small linear map with its own matrix, then tanh.
Tensor destination_fn(int64_t e, const Tensor& rows, const Tensor& weights) {
  return tanh(matmul(rows, select(weights, 0, e)));
}

// The definition, one row and one slot at a time.
Tensor per_row_reference(const Tensor& x, const std::vector<int64_t>& dest, int64_t k,
                         const Tensor& w, const Tensor& expert_weights, int64_t out_dim) {
  const int64_t N = x.shape()[0];
  std::vector<Tensor> rows;
  for (int64_t n = 0; n < N; ++n) {
    Tensor acc = zeros({1, out_dim}, DType::f64);
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = dest[n * k + j];
      if (e < 0) continue;
      const double weight = w.defined() ? w.to_vector<double>()[n * k + j] : 1.0;
      acc = acc + destination_fn(e, narrow(x, 0, n, 1), expert_weights) * weight;
    }
    rows.push_back(acc);
  }
  return cat(rows, 0);
}

Tensor routed(const Tensor& x, const std::vector<int64_t>& dest, int64_t k, int64_t E,
              const Tensor& w, const Tensor& expert_weights) {
  const RoutingPlan plan(from_vector(dest, {x.shape()[0], k}), E);
  return route(x, plan, w, [&](int64_t e, const Tensor& rows) { return destination_fn(e, rows, expert_weights); });
}

}  // namespace

TEST_CASE("RoutingPlan: a stable sort of the slots by destination", "[routing]") {
  // Rows 0..4, two slots each; -1 = nowhere; row 3 names destination 2 twice; destination 1 empty.
  const RoutingPlan plan(tensor_i64({2, 0, 0, -1, 3, 2, 2, 2, -1, -1}, {5, 2}), 4);
  CHECK(plan.rows() == 5);
  CHECK(plan.slots_per_row() == 2);
  CHECK(plan.routed() == 7);
  CHECK(plan.unrouted() == 3);
  CHECK(plan.group_sizes() == std::vector<int64_t>{2, 0, 4, 1});
  CHECK(plan.offsets() == std::vector<int64_t>{0, 2, 2, 6, 7});
  CHECK(plan.source_rows().to_vector<int64_t>() == std::vector<int64_t>{0, 1, 0, 2, 3, 3, 2});
  CHECK(plan.source_slots().to_vector<int64_t>() == std::vector<int64_t>{1, 2, 0, 5, 6, 7, 4});
  CHECK(plan.position_destinations().to_vector<int64_t>() == std::vector<int64_t>{0, 0, 2, 2, 2, 2, 3});
}

TEST_CASE("dispatch/combine equals the per-row loop", "[routing]") {
  const int64_t N = 6, d = 3, out_dim = 4, E = 4, k = 2;
  const Tensor x = uniform_f64({N, d}, 1), expert_weights = uniform_f64({E, d, out_dim}, 2);
  const Tensor w = uniform_f64({N, k}, 3, 0.1, 1.0);
  SECTION("duplicate destinations in one row, an empty destination, slots sent nowhere") {
    const std::vector<int64_t> dest{0, 0, 3, -1, 2, 3, -1, -1, 3, 0, 2, 2};  // destination 1 empty
    CHECK(max_abs_diff(routed(x, dest, k, E, w, expert_weights),
                       per_row_reference(x, dest, k, w, expert_weights, out_dim)) < 1e-14);
  }
  SECTION("every row to one destination") {
    const std::vector<int64_t> dest(N * k, 1);
    CHECK(max_abs_diff(routed(x, dest, k, E, w, expert_weights),
                       per_row_reference(x, dest, k, w, expert_weights, out_dim)) < 1e-14);
  }
  SECTION("no weights: each slot counts once") {
    const std::vector<int64_t> dest{1, 2, 2, 2, 0, -1, 3, 1, 1, 1, 0, 3};
    CHECK(max_abs_diff(routed(x, dest, k, E, Tensor(), expert_weights),
                       per_row_reference(x, dest, k, Tensor(), expert_weights, out_dim)) < 1e-14);
  }
  SECTION("one slot per row, [N] destinations and weights") {
    const std::vector<int64_t> dest{3, 0, -1, 3, 1, 0};
    const Tensor w1 = uniform_f64({N}, 4);
    const RoutingPlan plan(from_vector(dest), E);
    const Tensor out = route(x, plan, w1, [&](int64_t e, const Tensor& rows) {
      return destination_fn(e, rows, expert_weights);
    });
    CHECK(max_abs_diff(out, per_row_reference(x, dest, 1, w1, expert_weights, out_dim)) < 1e-14);
    CHECK(max_abs_diff(select(out, 0, 2), zeros({out_dim}, DType::f64)) == 0.0);  // sent nowhere
  }
}

TEST_CASE("route calls only the destinations that received rows", "[routing]") {
  const RoutingPlan plan(tensor_i64({2, 2, -1, 0}), 5);
  std::vector<int64_t> called;
  route(uniform_f64({4, 2}, 1), plan, Tensor(), [&](int64_t e, const Tensor& rows) {
    called.push_back(e);
    return rows * 2.0;
  });
  CHECK(called == std::vector<int64_t>{0, 2});
}

TEST_CASE("dispatch/combine: float64 gradients in the rows and the weights", "[routing]") {
  const std::vector<int64_t> dest{0, 2, 2, 2, -1, 0, 1, -1, 0, 0};
  const Tensor expert_weights = uniform_f64({3, 3, 2}, 5);
  auto f = [&](const std::vector<Tensor>& in) { return routed(in[0], dest, 2, 3, in[1], expert_weights); };
  const GradcheckResult r = gradcheck(f, {test::grad_input({5, 3}, 6), test::grad_input({5, 2}, 7)});
  INFO(r.message);
  CHECK(r.ok);
  // The grouped matmul path, as a mixture-of-experts layer uses it: gradients in x, w and experts.
  auto g = [&](const std::vector<Tensor>& in) {
    const RoutingPlan plan(from_vector(dest, {5, 2}), 3);
    return combine(grouped_matmul(dispatch(in[0], plan), in[2], plan.group_sizes()), plan, in[1]);
  };
  const GradcheckResult r2 = gradcheck(
      g, {test::grad_input({5, 3}, 8), test::grad_input({5, 2}, 9), test::grad_input({3, 3, 2}, 10)});
  INFO(r2.message);
  CHECK(r2.ok);
}

TEST_CASE("rows sent nowhere cost nothing", "[routing]") {
  const int64_t N = 64, d = 16, E = 4;
  const Tensor x = uniform_f64({N, d}, 11), experts = uniform_f64({E, d, d}, 12);
  auto cost = [&](const std::vector<int64_t>& dest) {
    const RoutingPlan plan(from_vector(dest, {N, 1}), E);
    FlopScope scope;
    combine(grouped_matmul(dispatch(x, plan), experts, plan.group_sizes()), plan,
            full({N, 1}, 0.5, DType::f64));
    return scope.count();
  };
  std::vector<int64_t> all(N), half(N, -1), none(N, -1);
  for (int64_t n = 0; n < N; ++n) all[n] = n % E;
  for (int64_t n = 0; n < N; n += 2) half[n] = n % E;
  // Per routed row: the product (d * d), the weighting (d) and the add back (d).
  CHECK(cost(all) == N * (d * d + 2 * d));
  CHECK(cost(half) == (N / 2) * (d * d + 2 * d));
  CHECK(cost(none) == 0);
}

TEST_CASE("compaction: the function runs on the active rows only", "[routing]") {
  const Tensor x = uniform_f64({5, 3}, 13), base = uniform_f64({5, 3}, 14);
  const ActiveRows active(from_vector(std::vector<bool>{true, false, false, true, true}));
  CHECK(active.rows() == std::vector<int64_t>{0, 3, 4});
  CHECK(active.count() == 3);
  int64_t seen_rows = -1;
  const Tensor out = run_active(x, active, base, [&](const Tensor& rows) {
    seen_rows = rows.shape()[0];
    return exp(rows);
  });
  CHECK(seen_rows == 3);
  for (int64_t n = 0; n < 5; ++n) {
    const bool on = n == 0 || n == 3 || n == 4;
    CHECK(max_abs_diff(select(out, 0, n), on ? exp(select(x, 0, n)) : select(base, 0, n)) == 0.0);
  }
  // No active row: the function is not called.
  bool called = false;
  const Tensor same = run_active(x, ActiveRows({}, 5), base, [&](const Tensor& r) { called = true; return r; });
  CHECK_FALSE(called);
  CHECK(max_abs_diff(same, base) == 0.0);
  // Gradients: base's replaced rows get none, x's inactive rows get none.
  auto f = [&](const std::vector<Tensor>& in) {
    return run_active(in[0], ActiveRows({1, 2}, 4), in[1], [](const Tensor& r) { return r * r; });
  };
  const GradcheckResult r = gradcheck(f, {test::grad_input({4, 2}, 15), test::grad_input({4, 2}, 16)});
  INFO(r.message);
  CHECK(r.ok);
}

TEST_CASE("compaction: the FLOP count is the active rows' only", "[routing]") {
  const Tensor x = uniform_f64({10, 8}, 17), w = uniform_f64({8, 8}, 18);
  FlopScope scope;
  run_active(x, ActiveRows({2, 5, 7}, 10), zeros({10, 8}, DType::f64),
             [&](const Tensor& r) { return matmul(r, w); });
  CHECK(scope.count() == 3 * 8 * 8);
}

TEST_CASE("routing: bad arguments are clear errors", "[routing]") {
  CHECK_THROWS_WITH(RoutingPlan(tensor_i64({0, 4}), 4), Catch::Contains("row 1 slot 0 names destination 4, outside [0, 4)"));
  CHECK_THROWS_WITH(RoutingPlan(tensor({0.0f}), 2), Catch::Contains("destinations must be i64"));
  const RoutingPlan plan(tensor_i64({0, 1, 1}), 2);
  CHECK_THROWS_WITH(dispatch(uniform_f64({4, 2}, 1), plan), Catch::Contains("dispatch: x has shape [4,2], expected 3 rows"));
  CHECK_THROWS_WITH(combine(uniform_f64({3, 2}, 1), plan, uniform_f64({2}, 2)),
                    Catch::Contains("combine: weights have shape [2], expected [3]"));
  CHECK_THROWS_WITH(ActiveRows({2, 1}, 4), Catch::Contains("ascending"));
  CHECK_THROWS_WITH(write_back(zeros({4, 2}), zeros({1, 2}), ActiveRows({0, 3}, 4)),
                    Catch::Contains("write_back: part (one row per active row) has shape [1,2], expected 2 rows"));
  CHECK_THROWS_WITH(index_copy(zeros({4, 2}), 0, tensor_i64({1, 1}), zeros({2, 2})),
                    Catch::Contains("index_copy: index 1 appears twice"));
}
