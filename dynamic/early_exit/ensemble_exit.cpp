// Patience (PABEE) and voting (Sun et al.) exits.
#include "dynamic/early_exit/ensemble_exit.h"

#include <cmath>

#include "engine/error.h"

namespace dg::dynamic::early_exit {

PatienceExit::PatienceExit(int64_t patience) : patience_(0) {
  set_threshold(static_cast<double>(patience));
}

void PatienceExit::set_threshold(double patience) {
  check(patience >= 0 && patience == std::floor(patience),
        "PatienceExit: patience must be a whole number >= 0, got {}", patience);
  patience_ = static_cast<int64_t>(patience);
}

void PatienceExit::begin_batch(int64_t batch_size) {
  counter_.assign(static_cast<size_t>(batch_size), 0);
  previous_.assign(static_cast<size_t>(batch_size), -1);
}

ExitDecision PatienceExit::decide(const ExitSignals& s) {
  ExitDecision d;
  d.stop.resize(static_cast<size_t>(s.rows()));
  d.prediction.resize(static_cast<size_t>(s.rows()));
  for (int64_t r = 0; r < s.rows(); ++r) {
    const auto sample = static_cast<size_t>(s.samples[static_cast<size_t>(r)]);
    check(sample < counter_.size(), "PatienceExit: sample {} outside a batch of {} (call begin_batch)",
          sample, counter_.size());
    const int64_t prediction = argmax(s.row(r));
    counter_[sample] = previous_[sample] == prediction ? counter_[sample] + 1 : 0;
    previous_[sample] = prediction;
    d.prediction[static_cast<size_t>(r)] = prediction;
    d.stop[static_cast<size_t>(r)] = s.is_last() || counter_[sample] >= patience_;
  }
  return d;
}

void VotingExit::begin_batch(int64_t batch_size) {
  batch_ = batch_size;
  classes_ = 0;  // sized at the first decision, when the number of classes is known
  votes_.clear();
  last_vote_.clear();
}

ExitDecision VotingExit::decide(const ExitSignals& s) {
  if (classes_ == 0) {
    classes_ = s.classes;
    votes_.assign(static_cast<size_t>(batch_ * classes_), 0);
    last_vote_.assign(static_cast<size_t>(batch_ * classes_), -1);
  }
  check(s.classes == classes_, "VotingExit: {} classes after {}", s.classes, classes_);
  ExitDecision d;
  d.stop.resize(static_cast<size_t>(s.rows()));
  d.prediction.resize(static_cast<size_t>(s.rows()));
  for (int64_t r = 0; r < s.rows(); ++r) {
    const int64_t sample = s.samples[static_cast<size_t>(r)];
    check(sample >= 0 && sample < batch_, "VotingExit: sample {} outside a batch of {} (call begin_batch)",
          sample, batch_);
    int64_t* votes = votes_.data() + sample * classes_;
    int64_t* last = last_vote_.data() + sample * classes_;
    const int64_t vote = argmax(s.row(r));
    ++votes[vote];
    last[vote] = s.exit_index;
    int64_t best = 0;
    for (int64_t c = 1; c < classes_; ++c)
      if (votes[c] > votes[best] || (votes[c] == votes[best] && last[c] > last[best])) best = c;
    d.prediction[static_cast<size_t>(r)] = best;
    d.stop[static_cast<size_t>(r)] = s.is_last() || static_cast<double>(votes[best]) > theta_;
  }
  return d;
}

}  // namespace dg::dynamic::early_exit
