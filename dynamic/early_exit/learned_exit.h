// The learning-based exit rule of BERxiT (Xin et al. 2021): the model's learning-to-exit module
// (LearnedExitScore, one linear layer shared by the exits, trained by learned_exit_loss in
// training.h to predict whether the exit's classifier is right) scores the head's input
// u = sigmoid(w . h + b); a sample stops when u > theta and leaves with the current head's
// prediction.
#pragma once

#include <memory>

#include "dynamic/early_exit/exit_rule.h"
#include "dynamic/early_exit/multi_exit.h"

namespace dg::dynamic::early_exit {

class LearnedExit : public ExitRule {
 public:
  LearnedExit(double theta, std::shared_ptr<LearnedExitScore> score);
  std::string name() const override { return "learned"; }
  double threshold() const override { return theta_; }
  void set_threshold(double theta) override { theta_ = theta; }
  ExitDecision decide(const ExitSignals& s) override;

 private:
  double theta_;
  std::shared_ptr<LearnedExitScore> score_;
};

}  // namespace dg::dynamic::early_exit
