// TemperatureSchedule: DY-Conv's annealing of the attention's softmax temperature (Chen et al.
// 2020, followed by PAD-Net): T starts at T0 (30) and falls linearly to 1 over the first N steps,
// then stays at 1:
//
//   T(n) = 1 + max(0, (T0 - 1) * (N - n) / N)
//
// A "step" is whatever the caller counts: the paper anneals per iteration over the first epochs
// (15 of 100 in PAD-Net's setup), so N = 15 * iterations_per_epoch; counting epochs works the same
// way. Apply the value to a model with set_dynamic_conv_temperature (dyconv.h).
#pragma once

#include <cstdint>

namespace dg::dynamic {

class TemperatureSchedule {
 public:
  // initial_temperature >= 1, annealing_steps > 0 (both checked).
  TemperatureSchedule(int64_t annealing_steps, double initial_temperature = 30.0);

  // T at step n (n >= 0): T0 at n = 0, 1 from n = annealing_steps on.
  double at(int64_t step) const;

  const int64_t annealing_steps;
  const double initial_temperature;
};

}  // namespace dg::dynamic
