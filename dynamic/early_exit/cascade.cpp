// The CascadeBERT cascade over complete models.
#include "dynamic/early_exit/cascade.h"

#include <chrono>
#include <numeric>

#include "dynamic/early_exit/exit_rule.h"
#include "dynamic/routing.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/flops.h"

namespace dg::dynamic::early_exit {

namespace {
// A complete model's prediction: every block, then the final exit only.
Tensor final_logits(MultiExitModel& model, const Tensor& input, const Tensor& mask) {
  ExitState state = model.begin(input, mask);
  for (int64_t i = 0; i < model.num_exits(); ++i) state = model.run_block(i, state);
  return model.run_exit(model.num_exits() - 1, state).logits;
}
}  // namespace

EarlyExitResult cascade(const std::vector<CascadeStage>& stages, double theta, const Tensor& input,
                        const Tensor& mask) {
  check(!stages.empty(), "cascade: no models");
  check(input.defined() && input.dim() >= 1 && input.size(0) >= 1, "cascade: needs a non-empty batch");
  const int64_t classes = stages.front().model ? stages.front().model->num_classes() : 0;
  for (size_t k = 0; k < stages.size(); ++k) {
    check(stages[k].model != nullptr, "cascade: model {} is null", k);
    check(stages[k].model->num_classes() == classes, "cascade: model {} has {} classes, model 0 {}",
          k, stages[k].model->num_classes(), classes);
    check(!stages[k].model->is_training(), "cascade: model {} is in training mode; call eval() first", k);
    check(stages[k].temperature > 0, "cascade: model {} has temperature {}", k, stages[k].temperature);
  }
  NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  const FlopScope everything;
  const int64_t batch = input.size(0), n = static_cast<int64_t>(stages.size());
  EarlyExitResult r;
  r.classes = classes;
  r.prediction.assign(static_cast<size_t>(batch), -1);
  r.exit_index.assign(static_cast<size_t>(batch), -1);
  r.flops.assign(static_cast<size_t>(batch), 0);
  r.exit_logits.assign(static_cast<size_t>(batch * classes), 0.0);
  r.rows_per_block.assign(static_cast<size_t>(n), 0);
  r.block_flops.assign(static_cast<size_t>(n), 0);

  std::vector<int64_t> samples(static_cast<size_t>(batch));
  std::iota(samples.begin(), samples.end(), 0);
  Tensor rows = input, row_mask = mask;
  for (int64_t k = 0; k < n && !samples.empty(); ++k) {
    const FlopScope step;
    const std::vector<double> logits =
        final_logits(*stages[static_cast<size_t>(k)].model, rows, row_mask).to_vector<double>();
    const auto count = static_cast<int64_t>(samples.size());
    r.rows_per_block[static_cast<size_t>(k)] = count;
    r.block_flops[static_cast<size_t>(k)] = step.count();
    const int64_t each = step.count() / count, rest = step.count() % count;
    std::vector<int64_t> going_on;
    for (int64_t j = 0; j < count; ++j) {
      const auto s = static_cast<size_t>(samples[static_cast<size_t>(j)]);
      r.flops[s] += each + (j < rest ? 1 : 0);
      const std::span<const double> row(logits.data() + j * classes, static_cast<size_t>(classes));
      if (k + 1 < n && max_probability(row, stages[static_cast<size_t>(k)].temperature) < theta) {
        going_on.push_back(j);
        continue;
      }
      r.prediction[s] = argmax(row);
      r.exit_index[s] = k;
      std::copy(row.begin(), row.end(), r.exit_logits.begin() + static_cast<int64_t>(s) * classes);
    }
    if (going_on.empty()) break;
    if (going_on.size() < samples.size()) {
      const ActiveRows keep(going_on, count);
      rows = compact(rows, keep);
      if (row_mask.defined()) row_mask = compact(row_mask, keep);
      std::vector<int64_t> next;
      for (const int64_t j : going_on) next.push_back(samples[static_cast<size_t>(j)]);
      samples = std::move(next);
    }
  }
  r.total_flops = everything.count();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace dg::dynamic::early_exit
