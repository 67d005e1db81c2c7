// Ensemble-based exit rules (survey, Section 4 and Table 3): the decision uses the predictions of
// every exit a sample has passed, not only the current one.
//   PatienceExit  PABEE (Zhou et al. 2020): a per-sample counter of consecutive agreements goes up
//                 by one when exit i's argmax equals exit i-1's and back to 0 otherwise; the sample
//                 stops when the counter reaches the patience t, i.e. when t + 1 consecutive heads
//                 have made the same prediction (PABEE's reference code: counter == patience), and
//                 leaves with the current head's prediction.
//   VotingExit    Sun et al. 2021: every exit passed votes for its argmax; the sample stops when a
//                 class has more than theta votes and leaves with the class holding most votes
//                 (ties: the class voted for most recently). At the last exit the vote decides too.
#pragma once

#include <cstdint>
#include <vector>

#include "dynamic/early_exit/exit_rule.h"

namespace dg::dynamic::early_exit {

class PatienceExit : public ExitRule {
 public:
  explicit PatienceExit(int64_t patience);
  std::string name() const override { return "patience"; }
  double threshold() const override { return static_cast<double>(patience_); }
  void set_threshold(double patience) override;
  void begin_batch(int64_t batch_size) override;
  ExitDecision decide(const ExitSignals& s) override;
  // The counter of a sample (for tests and reports).
  int64_t counter(int64_t sample) const { return counter_.at(static_cast<size_t>(sample)); }

 private:
  int64_t patience_;
  std::vector<int64_t> counter_, previous_;  // per sample of the batch; previous -1: none yet
};

class VotingExit : public ExitRule {
 public:
  explicit VotingExit(double theta) : theta_(theta) {}
  std::string name() const override { return "voting"; }
  double threshold() const override { return theta_; }
  void set_threshold(double theta) override { theta_ = theta; }
  void begin_batch(int64_t batch_size) override;
  ExitDecision decide(const ExitSignals& s) override;

 private:
  double theta_;
  int64_t batch_ = 0, classes_ = 0;
  // Per sample and class: votes so far, and the exit of the latest vote (-1: none).
  std::vector<int64_t> votes_, last_vote_;
};

}  // namespace dg::dynamic::early_exit
