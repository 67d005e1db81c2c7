// The loss-went-down check every training program ends with: windowed means of the first and last
// steps, the factor, and nothing to compare without two steps.
#include <catch2/catch.hpp>

#include "nn/train/loss_trend.h"

using namespace dg::train;

TEST_CASE("loss_trend: means over windows of the first and last steps", "[train][loss_trend]") {
  const LossTrend trend = loss_trend({4, 2, 9, 9, 1, 3}, 2);
  CHECK(trend.window == 2);
  CHECK(trend.first == 3.0);
  CHECK(trend.last == 2.0);
  CHECK(trend.went_down(0.9));
  CHECK_FALSE(trend.went_down(0.5));
  // The window shrinks to half the steps.
  CHECK(loss_trend({2, 1, 0.5}, 5).window == 1);
}

TEST_CASE("loss_trend: fewer than two steps never count as going down", "[train][loss_trend]") {
  CHECK(loss_trend({}).window == 0);
  CHECK_FALSE(loss_trend({1.0}).went_down());
  CHECK_FALSE(report_loss_trend(loss_trend({1.0})));
  CHECK(report_loss_trend(loss_trend({2, 2, 1, 1}), 0.9));
  CHECK_FALSE(report_loss_trend(loss_trend({2, 2, 1.9, 1.9}), 0.9));
}
