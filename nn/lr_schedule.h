// Learning-rate schedules. A schedule is a pure function from (step, base lr) to the learning rate
// for that step, so it can be checked and plotted on its own; an LrScheduler applies one to an
// optimizer, giving each parameter group the schedule's value for the group's own base lr (its lr
// when the scheduler was made).
//
// Steps count optimizer updates from 0: the lr for the first update is schedule(0, base). Call
// scheduler.step() after each optimizer.step(), as in PyTorch.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "nn/optim.h"
#include "nn/state_dict.h"

namespace dg::nn {

using LrSchedule = std::function<double(int64_t step, double base_lr)>;

// Linear warmup from 0 to base_lr over warmup_steps (lr(warmup_steps) == base_lr), then half a
// cosine from base_lr down to min_lr at total_steps, and min_lr after that.
LrSchedule warmup_cosine(int64_t warmup_steps, int64_t total_steps, double min_lr = 0.0);

// base_lr * gamma^floor(step / step_size), as torch.optim.lr_scheduler.StepLR.
LrSchedule step_decay(int64_t step_size, double gamma = 0.1);

// Linear warmup from 0 to base_lr over warmup_steps (none by default), then a straight line down
// to end_lr at total_steps, and end_lr after that.
LrSchedule linear_decay(int64_t total_steps, double end_lr = 0.0, int64_t warmup_steps = 0);

class LrScheduler {
 public:
  // Takes the groups' current learning rates as their base lrs and sets the lr for step 0.
  LrScheduler(Optimizer& optimizer, LrSchedule schedule);

  // Moves to the next step and sets every group's lr for it.
  void step();
  // The number of step() calls so far: the step whose lr the optimizer now has.
  int64_t current_step() const { return step_; }
  // The lr group `group` gets at `step` (pure: changes nothing).
  double lr_at(int64_t step, size_t group = 0) const;
  const std::vector<double>& base_lrs() const { return base_lrs_; }

  // Keys: "step" (i64 []) and "base_lrs" (f64 [groups]). Loading sets the optimizer's lrs.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 private:
  void apply();

  Optimizer& optimizer_;
  LrSchedule schedule_;
  std::vector<double> base_lrs_;
  int64_t step_ = 0;
};

}  // namespace dg::nn
