// Confidence-based exit rules (survey, Section 4 and Table 3): a sample stops at the first exit
// whose prediction is confident enough, and leaves with that exit's prediction.
//   EntropyExit           DeeBERT (Xin et al. 2020): H(p) < theta, p = softmax(z)
//   NormalizedEntropyExit FastBERT (Liu et al. 2020): H(p) / log C < theta ("uncertainty", in [0, 1])
//   CalibratedMaxProbExit RightTool (Schwartz et al. 2020): max_c softmax(z / T_i)_c > theta, with
//                         one temperature T_i per exit fitted on validation data (fit_temperature)
// At the last exit every sample stops with the last head's prediction.
#pragma once

#include <cstdint>
#include <vector>

#include "dynamic/early_exit/exit_rule.h"

namespace dg::dynamic::early_exit {

class EntropyExit : public ExitRule {
 public:
  explicit EntropyExit(double theta) : theta_(theta) {}
  std::string name() const override { return "entropy"; }
  double threshold() const override { return theta_; }
  void set_threshold(double theta) override { theta_ = theta; }
  ExitDecision decide(const ExitSignals& s) override;

 private:
  double theta_;
};

class NormalizedEntropyExit : public ExitRule {
 public:
  explicit NormalizedEntropyExit(double theta) : theta_(theta) {}
  std::string name() const override { return "normalized_entropy"; }
  double threshold() const override { return theta_; }
  void set_threshold(double theta) override { theta_ = theta; }
  ExitDecision decide(const ExitSignals& s) override;

 private:
  double theta_;
};

class CalibratedMaxProbExit : public ExitRule {
 public:
  // temperatures: one per exit (empty: all 1, i.e. uncalibrated).
  explicit CalibratedMaxProbExit(double theta, std::vector<double> temperatures = {});
  std::string name() const override { return "calibrated_max_prob"; }
  double threshold() const override { return theta_; }
  void set_threshold(double theta) override { theta_ = theta; }
  ExitDecision decide(const ExitSignals& s) override;
  const std::vector<double>& temperatures() const { return temperatures_; }

 private:
  double theta_;
  std::vector<double> temperatures_;
};

// Temperature scaling (Guo et al. 2017), as RightTool calibrates each exit: the T > 0 minimising
// the mean negative log-likelihood of labels under softmax(logits / T). logits row-major
// [labels.size(), classes]. The NLL is convex in 1 / T, so a golden-section search over 1 / T in
// [1 / max_temperature, 1 / min_temperature] finds its minimum on that range.
double fit_temperature(const std::vector<double>& logits, const std::vector<int64_t>& labels,
                       int64_t classes, double min_temperature = 0.05, double max_temperature = 20.0);
// Mean -log softmax(logits / T)[label].
double temperature_nll(const std::vector<double>& logits, const std::vector<int64_t>& labels,
                       int64_t classes, double temperature);

}  // namespace dg::dynamic::early_exit
