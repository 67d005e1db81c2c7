// TemperatureSchedule: see temperature_schedule.h.
#include "dynamic/temperature_schedule.h"

#include <algorithm>

#include "engine/error.h"

namespace dg::dynamic {

TemperatureSchedule::TemperatureSchedule(int64_t annealing_steps, double initial_temperature)
    : annealing_steps(annealing_steps), initial_temperature(initial_temperature) {
  check(annealing_steps > 0, "TemperatureSchedule: annealing_steps must be positive, got {}",
        annealing_steps);
  check(initial_temperature >= 1.0,
        "TemperatureSchedule: the initial temperature must be >= 1 (it anneals down to 1), got {}",
        initial_temperature);
}

double TemperatureSchedule::at(int64_t step) const {
  check(step >= 0, "TemperatureSchedule: step must be >= 0, got {}", step);
  const double remaining =
      static_cast<double>(annealing_steps - step) / static_cast<double>(annealing_steps);
  return 1.0 + std::max(0.0, (initial_temperature - 1.0) * remaining);
}

}  // namespace dg::dynamic
