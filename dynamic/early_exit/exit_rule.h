// The exit rule: after each exit, which of the still-running samples stop here and what each one
// predicts. A rule sees the exit's logits (and the head's input, for a learned rule) for the rows
// still running, each row tagged with the sample's index in the original batch, so a rule that
// remembers something per sample across exits (PABEE's patience counter, the votes of Sun et al.)
// keeps it by that index; begin_batch resets it.
//
// The rules (Table 3 of the survey; exact forms in ../shared/notes/algorithms.md, "Early exit"):
//   confidence_exit.h  entropy (DeeBERT), normalised entropy (FastBERT), temperature-calibrated
//                      maximum probability (RightTool)
//   ensemble_exit.h    patience (PABEE), accumulated votes (Sun et al. 2021)
//   learned_exit.h     learned exit score (BERxiT's LTE)
//
// The checks run on the logits as plain numbers (a row of C values per sample), so at batch 1 a
// check costs a few hundred nanoseconds, not a chain of tensor ops.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace dg::dynamic::early_exit {

// What a rule sees after exit `exit_index`, for the rows still running.
struct ExitSignals {
  int64_t exit_index = 0;
  int64_t num_exits = 1;
  std::span<const int64_t> samples;  // the original batch index of each row
  std::span<const double> logits;    // row-major [rows, classes]
  int64_t classes = 0;
  Tensor features;  // [rows, d]: the head's input (for a learned rule); may be undefined

  int64_t rows() const { return static_cast<int64_t>(samples.size()); }
  bool is_last() const { return exit_index == num_exits - 1; }
  std::span<const double> row(int64_t r) const {
    return logits.subspan(static_cast<size_t>(r * classes), static_cast<size_t>(classes));
  }
};

// One entry per row: stop here, and the prediction the sample leaves with (also filled for rows
// that go on; at the last exit every row stops and its prediction is taken).
struct ExitDecision {
  std::vector<bool> stop;
  std::vector<int64_t> prediction;
};

class ExitRule {
 public:
  virtual ~ExitRule() = default;
  virtual std::string name() const = 0;
  // The threshold the rule compares against (what a sweep varies).
  virtual double threshold() const = 0;
  virtual void set_threshold(double threshold) = 0;
  // A new batch of `batch_size` samples starts at exit 0.
  virtual void begin_batch(int64_t batch_size) {}
  virtual ExitDecision decide(const ExitSignals& signals) = 0;
};

// ---------------------------------------------------------------- per-row math, in double

// The first index of the largest value.
int64_t argmax(std::span<const double> logits);
// Entropy of softmax(logits / temperature) in nats: log sum e^z - sum z e^z / sum e^z.
double softmax_entropy(std::span<const double> logits, double temperature = 1.0);
// max_c softmax(logits / temperature)_c.
double max_probability(std::span<const double> logits, double temperature = 1.0);

}  // namespace dg::dynamic::early_exit
