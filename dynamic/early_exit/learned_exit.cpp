// BERxiT's learned exit.
#include "dynamic/early_exit/learned_exit.h"

#include "engine/autograd.h"
#include "engine/error.h"

namespace dg::dynamic::early_exit {

LearnedExit::LearnedExit(double theta, std::shared_ptr<LearnedExitScore> score)
    : theta_(theta), score_(std::move(score)) {
  check(score_ != nullptr, "LearnedExit: needs the model's LearnedExitScore (build the model with "
                           "learned_exit_score)");
}

ExitDecision LearnedExit::decide(const ExitSignals& s) {
  check(s.features.defined() && s.features.dim() == 2 && s.features.size(0) == s.rows(),
        "LearnedExit: needs the head's input [{}, d], got {}", s.rows(),
        s.features.defined() ? s.features.shape() : Shape{});
  std::vector<double> scores;
  {
    NoGradGuard no_grad;
    scores = score_->forward(s.exit_index, s.features).to_vector<double>();
  }
  ExitDecision d;
  d.stop.resize(static_cast<size_t>(s.rows()));
  d.prediction.resize(static_cast<size_t>(s.rows()));
  for (int64_t r = 0; r < s.rows(); ++r) {
    d.prediction[static_cast<size_t>(r)] = argmax(s.row(r));
    d.stop[static_cast<size_t>(r)] = s.is_last() || scores[static_cast<size_t>(r)] > theta_;
  }
  return d;
}

}  // namespace dg::dynamic::early_exit
