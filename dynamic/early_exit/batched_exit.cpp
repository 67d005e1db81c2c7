// Batched early exit with compaction, and the per-sample reference loop.
#include "dynamic/early_exit/batched_exit.h"

#include <chrono>
#include <numeric>

#include "dynamic/routing.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/flops.h"
#include "engine/ops/ops.h"

namespace dg::dynamic::early_exit {

double EarlyExitResult::mean_exit() const {
  if (exit_index.empty()) return 0;
  const double total = std::accumulate(exit_index.begin(), exit_index.end(), 0.0);
  return total / static_cast<double>(exit_index.size()) + 1.0;
}

namespace {

EarlyExitResult empty_result(int64_t batch, int64_t classes, int64_t exits) {
  EarlyExitResult r;
  r.classes = classes;
  r.prediction.assign(static_cast<size_t>(batch), -1);
  r.exit_index.assign(static_cast<size_t>(batch), -1);
  r.flops.assign(static_cast<size_t>(batch), 0);
  r.exit_logits.assign(static_cast<size_t>(batch * classes), 0.0);
  r.rows_per_block.assign(static_cast<size_t>(exits), 0);
  r.block_flops.assign(static_cast<size_t>(exits), 0);
  return r;
}

void check_input(const MultiExitModel& model, const Tensor& input, const Tensor& mask,
                 const char* who) {
  check(input.defined() && input.dim() >= 1 && input.size(0) >= 1, "{}: needs a non-empty batch",
        who);
  check(!mask.defined() || (mask.dim() >= 1 && mask.size(0) == input.size(0)),
        "{}: mask of shape {} for a batch of {}", who, mask.defined() ? mask.shape() : Shape{},
        input.size(0));
  check(model.num_exits() >= 1, "{}: the model has no exit", who);
  // In training mode dropout draws per call and batch norm mixes the rows of a batch, so a
  // sample's result would depend on which others are still running.
  check(!model.is_training(), "{}: the model is in training mode; call eval() first", who);
}

// The rows' share of a step's measured FLOPs; rows that ran a step do the same work, so the
// division is exact in practice, and any remainder goes to the first rows so the shares add up.
void share_flops(EarlyExitResult& r, const std::vector<int64_t>& samples, int64_t step_flops) {
  const auto n = static_cast<int64_t>(samples.size());
  const int64_t each = step_flops / n, rest = step_flops % n;
  for (int64_t j = 0; j < n; ++j)
    r.flops[static_cast<size_t>(samples[static_cast<size_t>(j)])] += each + (j < rest ? 1 : 0);
}

// Records the rows that stop; returns the positions (in the current rows) of those that go on.
std::vector<int64_t> settle(EarlyExitResult& r, int64_t exit, const std::vector<int64_t>& samples,
                            const std::vector<double>& logits, const ExitDecision& d) {
  const auto rows = static_cast<int64_t>(samples.size());
  check(static_cast<int64_t>(d.stop.size()) == rows && static_cast<int64_t>(d.prediction.size()) == rows,
        "early exit: the rule answered for {} and {} rows, expected {}", d.stop.size(),
        d.prediction.size(), rows);
  std::vector<int64_t> going_on;
  for (int64_t j = 0; j < rows; ++j) {
    if (!d.stop[static_cast<size_t>(j)]) {
      going_on.push_back(j);
      continue;
    }
    const auto s = static_cast<size_t>(samples[static_cast<size_t>(j)]);
    r.prediction[s] = d.prediction[static_cast<size_t>(j)];
    r.exit_index[s] = exit;
    std::copy_n(logits.begin() + j * r.classes, r.classes, r.exit_logits.begin() + s * r.classes);
  }
  return going_on;
}

ExitState compact_state(const ExitState& state, const ActiveRows& keep) {
  return {compact(state.hidden, keep), state.mask.defined() ? compact(state.mask, keep) : Tensor()};
}

}  // namespace

EarlyExitResult early_exit(MultiExitModel& model, ExitRule& rule, const Tensor& input,
                           const Tensor& mask) {
  check_input(model, input, mask, "early_exit");
  NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  const FlopScope everything;
  const int64_t batch = input.size(0), exits = model.num_exits();
  EarlyExitResult r = empty_result(batch, model.num_classes(), exits);
  rule.begin_batch(batch);

  std::vector<int64_t> samples(static_cast<size_t>(batch));  // original index of each row
  std::iota(samples.begin(), samples.end(), 0);
  const FlopScope entry;  // the embedding (or nothing, for images) is part of the first step
  ExitState state = model.begin(input, mask);
  int64_t carried = entry.count();
  for (int64_t i = 0; i < exits && !samples.empty(); ++i) {
    const FlopScope step;
    state = model.run_block(i, state);
    const ExitOutput out = model.run_exit(i, state);
    const std::vector<double> logits = out.logits.to_vector<double>();
    const ExitDecision decision = rule.decide({.exit_index = i,
                                               .num_exits = exits,
                                               .samples = samples,
                                               .logits = logits,
                                               .classes = r.classes,
                                               .features = out.features});
    const int64_t step_flops = step.count() + carried;
    carried = 0;
    r.rows_per_block[static_cast<size_t>(i)] = static_cast<int64_t>(samples.size());
    r.block_flops[static_cast<size_t>(i)] = step_flops;
    share_flops(r, samples, step_flops);

    const std::vector<int64_t> going_on = settle(r, i, samples, logits, decision);
    if (going_on.size() == samples.size()) continue;
    // The samples that stopped leave the batch: later blocks never see their rows.
    std::vector<int64_t> next(going_on.size());
    for (size_t j = 0; j < going_on.size(); ++j) next[j] = samples[static_cast<size_t>(going_on[j])];
    if (!going_on.empty())
      state = compact_state(state, ActiveRows(going_on, static_cast<int64_t>(samples.size())));
    samples = std::move(next);
  }
  r.total_flops = everything.count();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

EarlyExitResult early_exit_per_sample(MultiExitModel& model, ExitRule& rule, const Tensor& input,
                                      const Tensor& mask) {
  check_input(model, input, mask, "early_exit_per_sample");
  NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  const FlopScope everything;
  const int64_t batch = input.size(0), exits = model.num_exits();
  EarlyExitResult r = empty_result(batch, model.num_classes(), exits);
  rule.begin_batch(batch);  // the rule keeps its per-sample state by the sample's batch index
  for (int64_t b = 0; b < batch; ++b) {
    const std::vector<int64_t> alone{b};
    const FlopScope entry;
    ExitState state = model.begin(narrow(input, 0, b, 1), mask.defined() ? narrow(mask, 0, b, 1) : Tensor());
    int64_t carried = entry.count();
    for (int64_t i = 0; i < exits; ++i) {
      const FlopScope step;
      state = model.run_block(i, state);
      const ExitOutput out = model.run_exit(i, state);
      const std::vector<double> logits = out.logits.to_vector<double>();
      const ExitDecision decision = rule.decide({.exit_index = i,
                                                 .num_exits = exits,
                                                 .samples = alone,
                                                 .logits = logits,
                                                 .classes = r.classes,
                                                 .features = out.features});
      const int64_t step_flops = step.count() + carried;
      carried = 0;
      ++r.rows_per_block[static_cast<size_t>(i)];
      r.block_flops[static_cast<size_t>(i)] += step_flops;
      r.flops[static_cast<size_t>(b)] += step_flops;
      if (settle(r, i, alone, logits, decision).empty()) break;
    }
  }
  r.total_flops = everything.count();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace dg::dynamic::early_exit
