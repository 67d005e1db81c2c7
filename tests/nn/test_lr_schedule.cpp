// Tests of the learning-rate schedules: their values at the key steps (start, end of warmup, middle
// and end of the decay, after the end), monotonicity, the scheduler's effect on every parameter
// group of an optimizer, its state dict, and argument errors.
#include <catch2/catch.hpp>

#include <cmath>

#include "engine/ops/ops.h"
#include "nn/lr_schedule.h"
#include "nn/optim.h"

using namespace dg;
using namespace dg::nn;

TEST_CASE("warmup_cosine: warmup to the base lr, cosine down to min_lr", "[nn][lr]") {
  const LrSchedule s = warmup_cosine(/*warmup_steps=*/10, /*total_steps=*/110, /*min_lr=*/0.01);
  const double base = 0.5;
  CHECK(s(0, base) == 0.0);
  CHECK(s(5, base) == Approx(0.25));
  CHECK(s(10, base) == base);  // warmup reaches the base lr exactly
  CHECK(s(60, base) == Approx(0.01 + (base - 0.01) * 0.5));  // halfway: the cosine's midpoint
  CHECK(s(35, base) == Approx(0.01 + (base - 0.01) * 0.5 * (1 + std::cos(M_PI / 4))));
  CHECK(s(110, base) == 0.01);  // the end: min_lr
  CHECK(s(1000, base) == 0.01);
  double previous = base;
  for (int64_t step = 11; step <= 110; ++step) {  // strictly decreasing after the warmup
    CHECK(s(step, base) < previous);
    previous = s(step, base);
  }
  // Without warmup the first step has the base lr.
  CHECK(warmup_cosine(0, 100)(0, 0.1) == 0.1);
  CHECK(warmup_cosine(0, 100)(100, 0.1) == 0.0);
}

TEST_CASE("step_decay: multiplies by gamma every step_size steps", "[nn][lr]") {
  const LrSchedule s = step_decay(/*step_size=*/3, /*gamma=*/0.5);
  CHECK(s(0, 0.8) == 0.8);
  CHECK(s(2, 0.8) == 0.8);
  CHECK(s(3, 0.8) == 0.4);
  CHECK(s(5, 0.8) == 0.4);
  CHECK(s(6, 0.8) == 0.2);
  CHECK(s(30, 0.8) == Approx(0.8 / 1024));
}

TEST_CASE("linear_decay: straight line to end_lr, optional warmup", "[nn][lr]") {
  const LrSchedule s = linear_decay(/*total_steps=*/100, /*end_lr=*/0.0);
  CHECK(s(0, 1.0) == 1.0);
  CHECK(s(25, 1.0) == Approx(0.75));
  CHECK(s(100, 1.0) == 0.0);
  CHECK(s(150, 1.0) == 0.0);
  const LrSchedule w = linear_decay(/*total_steps=*/20, /*end_lr=*/0.1, /*warmup_steps=*/10);
  CHECK(w(0, 1.0) == 0.0);
  CHECK(w(5, 1.0) == Approx(0.5));
  CHECK(w(10, 1.0) == 1.0);
  CHECK(w(15, 1.0) == Approx(0.55));
  CHECK(w(20, 1.0) == 0.1);
}

TEST_CASE("LrScheduler: sets every group's lr from its own base lr", "[nn][lr]") {
  Tensor a = zeros({2}).set_requires_grad(true);
  Tensor b = zeros({3}).set_requires_grad(true);
  SGD opt({{{a}, {.lr = 0.1}}, {{b}, {.lr = 0.02}}});
  LrScheduler sched(opt, warmup_cosine(4, 20, 0.001));
  CHECK(opt.lr(0) == 0.0);  // step 0 of the warmup, set on construction
  CHECK(sched.base_lrs() == std::vector<double>{0.1, 0.02});
  for (int i = 0; i < 4; ++i) sched.step();
  CHECK(sched.current_step() == 4);
  CHECK(opt.lr(0) == 0.1);
  CHECK(opt.lr(1) == 0.02);
  sched.step();
  CHECK(opt.lr(1) == sched.lr_at(5, 1));
  CHECK(opt.lr(1) < 0.02);
  for (int i = 0; i < 20; ++i) sched.step();
  CHECK(opt.lr(0) == 0.001);
  CHECK(opt.lr(1) == 0.001);
  CHECK(sched.lr_at(4) == 0.1);  // pure: asking does not move the scheduler
  CHECK(sched.current_step() == 25);

  SECTION("state dict") {
    const StateDict state = sched.state_dict();
    CHECK(state.at("step").item<int64_t>() == 25);
    SGD other({{{a}, {.lr = 0.7}}, {{b}, {.lr = 0.7}}});
    LrScheduler resumed(other, warmup_cosine(4, 20, 0.001));
    resumed.load_state_dict(state);
    CHECK(resumed.current_step() == 25);
    CHECK(resumed.base_lrs() == std::vector<double>{0.1, 0.02});
    CHECK(other.lr(0) == 0.001);
    SGD one_group({a});
    LrScheduler wrong(one_group, step_decay(5));
    CHECK_THROWS_WITH(wrong.load_state_dict(state), Catch::Contains("one per parameter group"));
    CHECK(wrong.current_step() == 0);
  }
}

TEST_CASE("LR schedules: argument errors", "[nn][lr]") {
  CHECK_THROWS_WITH(warmup_cosine(10, 10), Catch::Contains("0 <= warmup_steps < total_steps"));
  CHECK_THROWS_WITH(warmup_cosine(-1, 10), Catch::Contains("warmup_steps -1"));
  CHECK_THROWS_WITH(warmup_cosine(1, 10, -0.1), Catch::Contains("min_lr must be >= 0"));
  CHECK_THROWS_WITH(step_decay(0), Catch::Contains("step_size must be positive"));
  CHECK_THROWS_WITH(step_decay(3, 0.0), Catch::Contains("gamma must be positive"));
  CHECK_THROWS_WITH(linear_decay(0), Catch::Contains("linear_decay"));
  CHECK_THROWS_WITH(step_decay(3)(-1, 0.1), Catch::Contains("step must be >= 0"));
}
