// The per-row math the exit rules share.
#include "dynamic/early_exit/exit_rule.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace dg::dynamic::early_exit {

int64_t argmax(std::span<const double> logits) {
  check(!logits.empty(), "early exit: argmax of an empty row");
  return std::max_element(logits.begin(), logits.end()) - logits.begin();
}

double softmax_entropy(std::span<const double> logits, double temperature) {
  check(temperature > 0, "early exit: temperature {} must be positive", temperature);
  const double top = logits[static_cast<size_t>(argmax(logits))] / temperature;
  double total = 0, weighted = 0;  // sum e^(z - top), sum (z - top) e^(z - top)
  for (const double value : logits) {
    const double z = value / temperature - top;
    const double e = std::exp(z);
    total += e;
    weighted += z * e;
  }
  return std::log(total) - weighted / total;
}

double max_probability(std::span<const double> logits, double temperature) {
  check(temperature > 0, "early exit: temperature {} must be positive", temperature);
  const double top = logits[static_cast<size_t>(argmax(logits))] / temperature;
  double total = 0;
  for (const double value : logits) total += std::exp(value / temperature - top);
  return 1.0 / total;
}

}  // namespace dg::dynamic::early_exit
