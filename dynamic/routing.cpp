// The routing primitive (see routing.h): the plan is a counting sort of the slots by destination,
// done on the host from the destinations' values (O(N k + E), independent of thread count); the
// data movement is engine ops (index_select to dispatch, index_add to combine, index_copy to write
// back), so autograd, FLOP counting and backends come from the engine and nothing is computed for
// a row that goes nowhere.
#include "dynamic/routing.h"

#include <numeric>

namespace dg::dynamic {

namespace {

// The plan's index tensors live on the host, like every tensor of the CPU backend.
Tensor i64_tensor(const std::vector<int64_t>& values) {
  return from_vector(values, {static_cast<int64_t>(values.size())});
}

void check_rows(const Tensor& t, int64_t rows, std::string_view op, std::string_view what) {
  check(t.defined(), "{}: {} is undefined", op, what);
  check(t.dim() >= 1 && t.shape()[0] == rows, "{}: {} has shape {}, expected {} rows (dim 0)", op,
        what, t.shape(), rows);
}

}  // namespace

RoutingPlan::RoutingPlan(const Tensor& destinations, int64_t num_destinations) {
  constexpr std::string_view op = "RoutingPlan";
  check(destinations.defined(), "{}: destinations are undefined", op);
  check(destinations.dtype() == DType::i64 && (destinations.dim() == 1 || destinations.dim() == 2),
        "{}: destinations must be i64 [N] or [N, k], got {} {}", op, destinations.dtype(),
        destinations.shape());
  check(num_destinations >= 1, "{}: need at least one destination, got {}", op, num_destinations);
  rows_ = destinations.shape()[0];
  slots_ = destinations.dim() == 2 ? destinations.shape()[1] : 1;
  const std::vector<int64_t> dest = destinations.to_vector<int64_t>();

  group_sizes_.assign(num_destinations, 0);
  for (size_t i = 0; i < dest.size(); ++i) {
    const int64_t e = dest[i];
    check(e >= -1 && e < num_destinations,
          "{}: row {} slot {} names destination {}, outside [0, {}) (-1 means nowhere)", op,
          static_cast<int64_t>(i) / slots_, static_cast<int64_t>(i) % slots_, e, num_destinations);
    if (e >= 0) ++group_sizes_[e];
  }
  offsets_.assign(num_destinations + 1, 0);
  std::partial_sum(group_sizes_.begin(), group_sizes_.end(), offsets_.begin() + 1);

  // Stable counting sort: slots in (row, slot) order land in their destination's block in order.
  const int64_t M = offsets_.back();
  std::vector<int64_t> next(offsets_.begin(), offsets_.end() - 1);
  std::vector<int64_t> rows(M), slots(M), where(M);
  for (size_t i = 0; i < dest.size(); ++i) {
    const int64_t e = dest[i];
    if (e < 0) continue;
    const int64_t p = next[e]++;
    rows[p] = static_cast<int64_t>(i) / slots_;
    slots[p] = static_cast<int64_t>(i);
    where[p] = e;
  }
  source_rows_ = i64_tensor(rows);
  source_slots_ = i64_tensor(slots);
  position_destinations_ = i64_tensor(where);
}

Tensor dispatch(const Tensor& x, const RoutingPlan& plan) {
  check_rows(x, plan.rows(), "dispatch", "x");
  return index_select(x, 0, plan.source_rows());
}

Tensor block(const Tensor& dispatched, const RoutingPlan& plan, int64_t destination) {
  check_rows(dispatched, plan.routed(), "block", "the dispatched tensor");
  check(destination >= 0 && destination < plan.num_destinations(),
        "block: destination {} outside [0, {})", destination, plan.num_destinations());
  return narrow(dispatched, 0, plan.offsets()[destination], plan.group_sizes()[destination]);
}

Tensor combine(const Tensor& y, const RoutingPlan& plan, const Tensor& weights) {
  constexpr std::string_view op = "combine";
  check_rows(y, plan.routed(), op, "y (one row per dispatched position)");
  Tensor contributions = y;
  if (weights.defined()) {
    const Shape expected = plan.slots_per_row() == 1 && weights.dim() == 1
                               ? Shape{plan.rows()}
                               : Shape{plan.rows(), plan.slots_per_row()};
    check(weights.shape() == expected, "{}: weights have shape {}, expected {} (rows x slots)", op,
          weights.shape(), expected);
    check(weights.dtype() == y.dtype(), "{}: weights are {} but y is {}", op, weights.dtype(),
          y.dtype());
    Shape column = Shape::filled(y.dim(), 1);
    column[0] = plan.routed();
    const Tensor w = index_select(reshape(weights, {-1}), 0, plan.source_slots());
    contributions = y * reshape(w, column);
  }
  Shape out_shape = y.shape();
  out_shape[0] = plan.rows();
  return index_add(zeros(out_shape, y.dtype(), y.device()), 0, plan.source_rows(), contributions);
}

Tensor route(const Tensor& x, const RoutingPlan& plan, const Tensor& weights,
             const DestinationFn& fn) {
  const Tensor dispatched = dispatch(x, plan);
  std::vector<Tensor> outputs;
  for (int64_t e = 0; e < plan.num_destinations(); ++e) {
    if (plan.group_sizes()[e] == 0) continue;
    Tensor out = fn(e, block(dispatched, plan, e));
    check(out.defined() && out.dim() >= 1 && out.shape()[0] == plan.group_sizes()[e],
          "route: destination {} returned shape {} for {} rows", e,
          out.defined() ? out.shape() : Shape{}, plan.group_sizes()[e]);
    outputs.push_back(std::move(out));
  }
  if (outputs.empty()) {  // nothing routed: the output has no rows to take its shape from
    check(false, "route: no row was routed anywhere; the output shape is unknown (use combine)");
  }
  return combine(outputs.size() == 1 ? outputs.front() : cat(outputs, 0), plan, weights);
}

// ---------------------------------------------------------------- compaction

ActiveRows::ActiveRows(const Tensor& active) {
  check(active.defined() && active.dtype() == DType::b8 && active.dim() == 1,
        "ActiveRows: expected a bool [N] mask, got {} {}", active.defined() ? active.dtype() : DType::b8,
        active.defined() ? active.shape() : Shape{});
  total_ = active.shape()[0];
  const std::vector<bool> keep = active.to_vector<bool>();
  for (int64_t n = 0; n < total_; ++n)
    if (keep[n]) rows_.push_back(n);
  indices_ = i64_tensor(rows_);
}

ActiveRows::ActiveRows(std::vector<int64_t> rows, int64_t total) : rows_(std::move(rows)), total_(total) {
  check(total >= 0, "ActiveRows: negative total {}", total);
  for (size_t i = 0; i < rows_.size(); ++i)
    check(rows_[i] >= 0 && rows_[i] < total && (i == 0 || rows_[i] > rows_[i - 1]),
          "ActiveRows: rows must be ascending, distinct and in [0, {}); entry {} is {}", total, i,
          rows_[i]);
  indices_ = i64_tensor(rows_);
}

Tensor compact(const Tensor& x, const ActiveRows& active) {
  check_rows(x, active.total(), "compact", "x");
  if (active.all()) return x;
  return index_select(x, 0, active.indices());
}

Tensor write_back(const Tensor& base, const Tensor& part, const ActiveRows& active) {
  check_rows(base, active.total(), "write_back", "base");
  check_rows(part, active.count(), "write_back", "part (one row per active row)");
  if (active.all() && part.shape() == base.shape()) return part;
  return index_copy(base, 0, active.indices(), part);
}

Tensor run_active(const Tensor& x, const ActiveRows& active, const Tensor& base,
                  const std::function<Tensor(const Tensor&)>& fn) {
  if (active.none()) return base;
  return write_back(base, fn(compact(x, active)), active);
}

}  // namespace dg::dynamic
