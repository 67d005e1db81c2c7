// The routing primitive every dynamic family shares: per row (a token or a sample) a decision of
// which computation runs on it, executed so that only the chosen computation runs.
//
//   dispatch / combine  A RoutingPlan is built from each row's destinations (i64 [N, k], -1 =
//                       nowhere). dispatch gathers the routed rows into one contiguous block per
//                       destination (a stable counting sort by destination: within a block rows
//                       keep their order, so nothing depends on thread count); the caller runs
//                       destination e on block(dispatched, plan, e) only; combine scatter-adds the
//                       results back, each times its weight. Differentiable in the rows and in the
//                       weights. A row (or slot) sent nowhere is never gathered, computed or added.
//   route               the three steps in one call, with a function per destination.
//   compaction          ActiveRows names a subset of the batch (the samples still running, the
//                       tokens not skipped); compact() gathers them, write_back() writes a result
//                       for them into a full-batch tensor whose other rows pass through unchanged.
//                       Batched early exit and skimming are this, step after step.
//
// The grouped products of the blocks (one task list over the thread pool) are the engine op
// grouped_matmul (engine/ops/ops.h), which takes plan.group_sizes() directly.
//
// Rows are dim 0 of every tensor here; the other dims are carried along unchanged.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/ops/ops.h"

namespace dg::dynamic {

// Where each row goes, fixed for one forward pass.
class RoutingPlan {
 public:
  // destinations: i64 [N] or [N, k]; entry (n, j) is the destination of row n's j-th slot, in
  // [0, num_destinations), or -1 for a slot that goes nowhere (a dropped token, a finished sample).
  // A row may name the same destination in several slots (it is then dispatched once per slot).
  RoutingPlan(const Tensor& destinations, int64_t num_destinations);

  int64_t rows() const { return rows_; }                      // N
  int64_t slots_per_row() const { return slots_; }            // k
  int64_t num_destinations() const { return static_cast<int64_t>(group_sizes_.size()); }
  int64_t routed() const { return offsets_.back(); }          // M: slots that go somewhere
  int64_t unrouted() const { return rows_ * slots_ - routed(); }
  // Rows per destination (sums to routed()); offsets() has E + 1 entries, block e is
  // [offsets()[e], offsets()[e + 1]) of a dispatched tensor.
  const std::vector<int64_t>& group_sizes() const { return group_sizes_; }
  const std::vector<int64_t>& offsets() const { return offsets_; }
  // i64 [M]: the source row of each dispatched position (grouped by destination, rows ascending).
  const Tensor& source_rows() const { return source_rows_; }
  // i64 [M]: the slot (n * k + j) each dispatched position came from, to gather its weight.
  const Tensor& source_slots() const { return source_slots_; }
  // i64 [M]: the destination of each dispatched position.
  const Tensor& position_destinations() const { return position_destinations_; }

 private:
  int64_t rows_ = 0, slots_ = 1;
  std::vector<int64_t> group_sizes_, offsets_;
  Tensor source_rows_, source_slots_, position_destinations_;
};

// x [N, ...] -> [M, ...]: the routed rows, destination 0's block first.
Tensor dispatch(const Tensor& x, const RoutingPlan& plan);

// Block e ([group_sizes()[e], ...]) of a dispatched tensor (a view).
Tensor block(const Tensor& dispatched, const RoutingPlan& plan, int64_t destination);

// y [M, ...] (one result per dispatched position) -> out [N, ...]:
//   out[n] = sum over row n's routed slots j of weights[n, j] * y[position of (n, j)],
// zero for a row with no routed slot. weights is [N] or [N, k] like the destinations, of y's
// dtype; undefined means every weight is 1.
Tensor combine(const Tensor& y, const RoutingPlan& plan, const Tensor& weights = {});

// dispatch, then fn(e, block e) for every destination with at least one row (fn must return one
// row per input row), then combine. Destinations with no rows are never called.
using DestinationFn = std::function<Tensor(int64_t destination, const Tensor& rows)>;
Tensor route(const Tensor& x, const RoutingPlan& plan, const Tensor& weights,
             const DestinationFn& fn);

// ---------------------------------------------------------------- compaction

// A subset of the rows of a batch of `total()` rows.
class ActiveRows {
 public:
  // active: bool [N], true for the rows to keep.
  explicit ActiveRows(const Tensor& active);
  // The rows listed (ascending, distinct, in [0, total)).
  ActiveRows(std::vector<int64_t> rows, int64_t total);

  int64_t total() const { return total_; }
  int64_t count() const { return static_cast<int64_t>(rows_.size()); }
  bool all() const { return count() == total_; }
  bool none() const { return rows_.empty(); }
  const std::vector<int64_t>& rows() const { return rows_; }
  const Tensor& indices() const { return indices_; }  // i64 [count()]

 private:
  std::vector<int64_t> rows_;
  int64_t total_ = 0;
  Tensor indices_;
};

// x [N, ...] -> [count, ...]: the active rows, in order (x itself when every row is active).
Tensor compact(const Tensor& x, const ActiveRows& active);

// base [N, ...] with its active rows replaced by part [count, ...]; the other rows pass through.
// Differentiable in both (the replaced rows of base get no gradient).
Tensor write_back(const Tensor& base, const Tensor& part, const ActiveRows& active);

// write_back(base, fn(compact(x)), active): fn runs on the active rows only; with no active row
// it is not called and base is returned.
Tensor run_active(const Tensor& x, const ActiveRows& active, const Tensor& base,
                  const std::function<Tensor(const Tensor&)>& fn);

}  // namespace dg::dynamic
