// The check every training program ends with: did the loss go down? It compares the mean of the
// first few step losses with the mean of the last few (a window, so one noisy step decides
// nothing), and says so in one line either way, so a run's log shows why it passed or failed.
//
//   const LossTrend trend = loss_trend(step_losses);
//   if (!report_loss_trend(trend, 0.9)) return 1;   // "the loss went down: 2.30 -> 0.41 ..."
#pragma once

#include <cstddef>
#include <vector>

namespace dg::train {

struct LossTrend {
  double first = 0.0;  // mean of the first `window` step losses
  double last = 0.0;   // mean of the last `window` step losses
  size_t window = 0;   // 0 when there were fewer than two losses (nothing to compare)
  // The last steps' mean is below `factor` times the first steps' (false without two losses).
  bool went_down(double factor = 0.9) const { return window > 0 && last < factor * first; }
};

// The trend of `step_losses` over windows of min(window, n / 2) steps.
LossTrend loss_trend(const std::vector<double>& step_losses, size_t window = 5);

// Prints "the loss went down: ..." or "FAILED: the loss did not go down ..." on stdout and returns
// trend.went_down(factor).
bool report_loss_trend(const LossTrend& trend, double factor = 0.9);

}  // namespace dg::train
