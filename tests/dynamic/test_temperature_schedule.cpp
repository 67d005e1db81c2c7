// TemperatureSchedule: T0 at the start, linear descent, exactly 1 at the end of annealing and
// after; and set_dynamic_conv_temperature reaching every DynamicConv2d of a model.
#include <catch2/catch.hpp>

#include "dynamic/dyconv.h"
#include "dynamic/temperature_schedule.h"
#include "nn/basic.h"

using namespace dg;
using namespace dg::dynamic;

TEST_CASE("TemperatureSchedule: T0 at step 0, linear to 1 at the end of annealing, then 1", "[dynamic][temperature]") {
  const TemperatureSchedule schedule(100);  // T0 = 30, the DY-Conv paper's
  CHECK(schedule.initial_temperature == 30.0);
  CHECK(schedule.at(0) == 30.0);
  CHECK(schedule.at(50) == Approx(15.5).epsilon(1e-15));
  CHECK(schedule.at(25) == Approx(1.0 + 29.0 * 0.75).epsilon(1e-15));
  CHECK(schedule.at(99) == Approx(1.29).epsilon(1e-14));
  CHECK(schedule.at(100) == 1.0);
  CHECK(schedule.at(1000) == 1.0);
  // Strictly decreasing while annealing.
  for (int64_t n = 0; n < 100; ++n) CHECK(schedule.at(n + 1) < schedule.at(n));

  const TemperatureSchedule reference_code(15, 31.0);  // the reference code's T0
  CHECK(reference_code.at(0) == 31.0);
  CHECK(reference_code.at(15) == 1.0);

  CHECK_THROWS_AS(TemperatureSchedule(0), Error);
  CHECK_THROWS_AS(TemperatureSchedule(10, 0.5), Error);
  CHECK_THROWS_AS(schedule.at(-1), Error);
}

TEST_CASE("set_dynamic_conv_temperature sets every DynamicConv2d of a model", "[dynamic][temperature]") {
  auto a = std::make_shared<DynamicConv2d>(2, 2, 3);
  auto b = std::make_shared<DynamicConv2d>(2, 2, 3);
  nn::Sequential model{a, std::make_shared<nn::ReLU>(), std::make_shared<nn::Sequential>(
                                                            std::vector<std::shared_ptr<nn::UnaryModule>>{b})};
  const TemperatureSchedule schedule(10);
  CHECK(set_dynamic_conv_temperature(model, schedule.at(5)) == 2);
  CHECK(a->temperature() == 15.5);
  CHECK(b->temperature() == 15.5);
  CHECK(set_dynamic_conv_temperature(*a, schedule.at(10)) == 1);
  CHECK(a->temperature() == 1.0);
  CHECK(b->temperature() == 15.5);
}
