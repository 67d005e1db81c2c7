// Focused Hierarchical RNN (Ke et al. 2018): a lower LSTM reads every token; at each token a binary
// gate, conditioned on the question and the lower state, decides whether the upper LSTM (which
// reads the lower states) updates there:
//   z_t ~ Bernoulli(sigmoid(w . [h_low_t; q] + b)),   h_up_t = z_t ? upper(h_low_t, h_up_{t-1}) : h_up_{t-1}
// The answer comes from [h_up_T; q]. The gate is trained by REINFORCE (reward +-1, a learned
// baseline on [h_low_t; q]); sampled in training, the most likely decision in inference. The
// upper cell runs only on the compacted rows whose gate is open at that token.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dynamic/lstm_jump.h"

namespace dg::dynamic {

struct FocusedOutput {
  Tensor logits;               // [B, num_classes]
  Tensor h_upper;              // [B, upper_hidden]
  Tensor gate_log_probs;       // [B, T]: log P(z_t) of the decision taken, differentiable
  Tensor gate_baselines;       // [B, T]: the learned baseline at each token (differentiable)
  Tensor gates;                // [B, T]: z_t, 0 or 1 (0 past a sequence's end)
  int64_t upper_rows = 0;      // rows the upper cell ran on, summed over the tokens
};

class FocusedHierarchicalRNN : public nn::Module {
 public:
  FocusedHierarchicalRNN(int64_t input_size, int64_t question_size, int64_t lower_hidden,
                         int64_t upper_hidden, int64_t num_classes, const nn::ParamOptions& param = {});

  // x [B, T, input_size], question [B, question_size]. mode sample needs a generator.
  FocusedOutput forward(const Tensor& x, const Tensor& question, JumpMode mode = JumpMode::greedy,
                        Generator* generator = nullptr);

  std::string type_name() const override { return "FocusedHierarchicalRNN"; }

  const int64_t input_size, question_size, lower_hidden, upper_hidden, num_classes;
  std::shared_ptr<nn::LSTMCell> lower, upper;
  std::shared_ptr<nn::Linear> gate;        // [h_low; q] -> 1
  std::shared_ptr<nn::Linear> classifier;  // [h_up; q] -> num_classes
  std::shared_ptr<LearnedBaseline> baseline;
};

// REINFORCE and baseline losses of the gates given each sample's reward [B]: the policy loss
// -mean_b sum_t (reward_b - baseline_bt) log P(z_bt), the baseline's MSE over the tokens.
JumpLosses focused_losses(const FocusedOutput& out, const Tensor& reward);

}  // namespace dg::dynamic
