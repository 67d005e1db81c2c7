// Entropy, normalised entropy and calibrated maximum probability exits; temperature fitting.
#include "dynamic/early_exit/confidence_exit.h"

#include <cmath>

#include "engine/error.h"

namespace dg::dynamic::early_exit {

namespace {
// Stop where confident(row) holds (everywhere at the last exit); predict the row's argmax.
template <class Confident>
ExitDecision by_row(const ExitSignals& s, Confident confident) {
  ExitDecision d;
  d.stop.resize(static_cast<size_t>(s.rows()));
  d.prediction.resize(static_cast<size_t>(s.rows()));
  for (int64_t r = 0; r < s.rows(); ++r) {
    const auto row = s.row(r);
    d.prediction[static_cast<size_t>(r)] = argmax(row);
    d.stop[static_cast<size_t>(r)] = s.is_last() || confident(row);
  }
  return d;
}
}  // namespace

ExitDecision EntropyExit::decide(const ExitSignals& s) {
  return by_row(s, [&](auto row) { return softmax_entropy(row) < theta_; });
}

ExitDecision NormalizedEntropyExit::decide(const ExitSignals& s) {
  const double log_classes = std::log(static_cast<double>(s.classes));
  return by_row(s, [&](auto row) { return softmax_entropy(row) / log_classes < theta_; });
}

CalibratedMaxProbExit::CalibratedMaxProbExit(double theta, std::vector<double> temperatures)
    : theta_(theta), temperatures_(std::move(temperatures)) {
  for (const double t : temperatures_)
    check(t > 0, "CalibratedMaxProbExit: temperature {} must be positive", t);
}

ExitDecision CalibratedMaxProbExit::decide(const ExitSignals& s) {
  check(temperatures_.empty() || static_cast<int64_t>(temperatures_.size()) == s.num_exits,
        "CalibratedMaxProbExit: {} temperatures for {} exits", temperatures_.size(), s.num_exits);
  const double t = temperatures_.empty() ? 1.0 : temperatures_[static_cast<size_t>(s.exit_index)];
  return by_row(s, [&](auto row) { return max_probability(row, t) > theta_; });
}

// ---------------------------------------------------------------- temperature scaling

double temperature_nll(const std::vector<double>& logits, const std::vector<int64_t>& labels,
                       int64_t classes, double temperature) {
  check(classes >= 2 && logits.size() == labels.size() * static_cast<size_t>(classes),
        "temperature_nll: {} logits for {} labels of {} classes", logits.size(), labels.size(),
        classes);
  check(!labels.empty() && temperature > 0, "temperature_nll: needs labels and T > 0 (T = {})",
        temperature);
  double total = 0;
  for (size_t n = 0; n < labels.size(); ++n) {
    const std::span<const double> row(logits.data() + n * classes, static_cast<size_t>(classes));
    check(labels[n] >= 0 && labels[n] < classes, "temperature_nll: label {} of {} classes",
          labels[n], classes);
    double top = row[0];
    for (const double z : row) top = std::max(top, z);
    double sum = 0;
    for (const double z : row) sum += std::exp((z - top) / temperature);
    total += std::log(sum) - (row[static_cast<size_t>(labels[n])] - top) / temperature;
  }
  return total / static_cast<double>(labels.size());
}

double fit_temperature(const std::vector<double>& logits, const std::vector<int64_t>& labels,
                       int64_t classes, double min_temperature, double max_temperature) {
  check(0 < min_temperature && min_temperature < max_temperature,
        "fit_temperature: needs 0 < min_temperature < max_temperature, got {} and {}",
        min_temperature, max_temperature);
  auto nll = [&](double inverse) { return temperature_nll(logits, labels, classes, 1.0 / inverse); };
  const double golden = (std::sqrt(5.0) - 1) / 2;
  double lo = 1.0 / max_temperature, hi = 1.0 / min_temperature;
  double a = hi - golden * (hi - lo), b = lo + golden * (hi - lo);
  double fa = nll(a), fb = nll(b);
  for (int i = 0; i < 100 && hi - lo > 1e-9 * hi; ++i) {
    if (fa < fb) {
      hi = b, b = a, fb = fa;
      a = hi - golden * (hi - lo), fa = nll(a);
    } else {
      lo = a, a = b, fa = fb;
      b = lo + golden * (hi - lo), fb = nll(b);
    }
  }
  return 2.0 / (lo + hi);
}

}  // namespace dg::dynamic::early_exit
