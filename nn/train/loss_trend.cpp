// The loss-went-down check of loss_trend.h.
#include "nn/train/loss_trend.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

namespace dg::train {

LossTrend loss_trend(const std::vector<double>& step_losses, size_t window) {
  const size_t k = std::min(window, step_losses.size() / 2);
  if (k == 0) return {};
  const double first = std::accumulate(step_losses.begin(), step_losses.begin() + k, 0.0) / k;
  const double last = std::accumulate(step_losses.end() - k, step_losses.end(), 0.0) / k;
  return {.first = first, .last = last, .window = k};
}

bool report_loss_trend(const LossTrend& trend, double factor) {
  if (trend.window == 0) {
    std::printf("FAILED: fewer than two training steps, so no loss trend to check\n");
    return false;
  }
  const bool down = trend.went_down(factor);
  std::printf(
      "%s: mean of the first %zu steps %.4f, of the last %zu steps %.4f (needed below %.2f x)\n",
      down ? "the loss went down" : "FAILED: the loss did not go down", trend.window, trend.first,
      trend.window, trend.last, factor);
  return down;
}

}  // namespace dg::train
