// The schedules of lr_schedule.h as closures over their settings (checked once, when made), and the
// LrScheduler that applies one to an optimizer's parameter groups.
#include "nn/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "engine/ops/ops.h"

namespace dg::nn {

namespace {

void check_step(int64_t step, const char* who) {
  check(step >= 0, "{}: step must be >= 0, got {}", who, step);
}

// base_lr * step / warmup_steps while step < warmup_steps.
double warmup(int64_t step, int64_t warmup_steps, double base_lr) {
  return base_lr * static_cast<double>(step) / static_cast<double>(warmup_steps);
}

// weight * to + (1 - weight) * from: exactly `to` at weight 1 and exactly `from` at weight 0, so the
// schedules hit their end points without rounding error.
double interpolate(double from, double to, double weight) {
  return weight * to + (1.0 - weight) * from;
}

}  // namespace

LrSchedule warmup_cosine(int64_t warmup_steps, int64_t total_steps, double min_lr) {
  check(warmup_steps >= 0 && total_steps > warmup_steps,
        "warmup_cosine: need 0 <= warmup_steps < total_steps, got warmup_steps {} and "
        "total_steps {}", warmup_steps, total_steps);
  check(min_lr >= 0, "warmup_cosine: min_lr must be >= 0, got {}", min_lr);
  return [=](int64_t step, double base_lr) {
    check_step(step, "warmup_cosine");
    if (step < warmup_steps) return warmup(step, warmup_steps, base_lr);
    if (step >= total_steps) return min_lr;
    const double progress = static_cast<double>(step - warmup_steps) /
                            static_cast<double>(total_steps - warmup_steps);
    const double weight = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));  // 1 -> 0
    return interpolate(min_lr, base_lr, weight);
  };
}

LrSchedule step_decay(int64_t step_size, double gamma) {
  check(step_size > 0, "step_decay: step_size must be positive, got {}", step_size);
  check(gamma > 0, "step_decay: gamma must be positive, got {}", gamma);
  return [=](int64_t step, double base_lr) {
    check_step(step, "step_decay");
    return base_lr * std::pow(gamma, static_cast<double>(step / step_size));
  };
}

LrSchedule linear_decay(int64_t total_steps, double end_lr, int64_t warmup_steps) {
  check(warmup_steps >= 0 && total_steps > warmup_steps,
        "linear_decay: need 0 <= warmup_steps < total_steps, got warmup_steps {} and "
        "total_steps {}", warmup_steps, total_steps);
  check(end_lr >= 0, "linear_decay: end_lr must be >= 0, got {}", end_lr);
  return [=](int64_t step, double base_lr) {
    check_step(step, "linear_decay");
    if (step < warmup_steps) return warmup(step, warmup_steps, base_lr);
    if (step >= total_steps) return end_lr;
    const double progress = static_cast<double>(step - warmup_steps) /
                            static_cast<double>(total_steps - warmup_steps);
    return interpolate(end_lr, base_lr, 1.0 - progress);
  };
}

LrScheduler::LrScheduler(Optimizer& optimizer, LrSchedule schedule)
    : optimizer_(optimizer), schedule_(std::move(schedule)) {
  check(static_cast<bool>(schedule_), "LrScheduler: empty schedule");
  for (size_t g = 0; g < optimizer_.num_param_groups(); ++g)
    base_lrs_.push_back(optimizer_.lr(g));
  apply();
}

void LrScheduler::step() {
  ++step_;
  apply();
}

double LrScheduler::lr_at(int64_t step, size_t group) const {
  check(group < base_lrs_.size(), "LrScheduler: no parameter group {} (there are {})", group,
        base_lrs_.size());
  return schedule_(step, base_lrs_[group]);
}

void LrScheduler::apply() {
  for (size_t g = 0; g < base_lrs_.size(); ++g) optimizer_.set_lr(g, lr_at(step_, g));
}

StateDict LrScheduler::state_dict() const {
  return {{"step", scalar(static_cast<double>(step_), DType::i64)},
          {"base_lrs", from_vector(base_lrs_)}};
}

void LrScheduler::load_state_dict(const StateDict& state) {
  const char* who = "LrScheduler.load_state_dict";
  check(state.size() == 2 && state.count("step") && state.count("base_lrs"),
        "{}: expected exactly the keys 'step' and 'base_lrs'", who);
  const Tensor& step = state.at("step");
  const Tensor& base_lrs = state.at("base_lrs");
  check(step.numel() == 1 && step.dtype() == DType::i64 && step.item<int64_t>() >= 0,
        "{}: 'step' should be one non-negative i64", who);
  check(base_lrs.dim() == 1 && is_floating(base_lrs.dtype()) &&
            static_cast<size_t>(base_lrs.numel()) == base_lrs_.size(),
        "{}: 'base_lrs' should be a floating vector of {} learning rates (one per parameter "
        "group), got {} {}", who, base_lrs_.size(), base_lrs.dtype(), base_lrs.shape());
  std::vector<double> lrs = base_lrs.to_vector<double>();
  for (double lr : lrs) check(lr >= 0, "{}: invalid base learning rate {}", who, lr);
  step_ = step.item<int64_t>();
  base_lrs_ = std::move(lrs);
  apply();
}

}  // namespace dg::nn
