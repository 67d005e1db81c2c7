// Skim-RNN (Seo, Min, Farhadi and Hajishirzi 2018): two LSTM cells over the same hidden state, a
// big one of size d and a small one of size d' << d. Per step a choice from
// p_t = softmax(W [x_t; h_{t-1}] + b) over {read, skim}:
//   read:  (h, c) = big(x_t, (h, c))
//   skim:  the first d' units of (h, c) = small(x_t, (h[:d'], c[:d'])), the other d - d' copied.
// Training mixes the two results with a Gumbel-softmax sample r_t of the choice (temperature tau):
// h_t = r_read * h_read + r_skim * h_skim, both cells running on every row, as the paper trains.
// Inference takes argmax p_t and runs one cell per row: the rows that read are compacted into the
// big cell, the rows that skim into the small one (dynamic/routing.h), so a skimmed step costs
// the small cell only. The skim loss gamma * mean_t(-log p_t(skim)) encourages skimming.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/random.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/rnn.h"

namespace dg::dynamic {

struct SkimRNNOptions {
  int64_t small_hidden = 5;      // d'
  double temperature = 1.0;      // tau of the Gumbel-softmax in training
  bool return_sequence = false;  // keep h at every step
};

struct SkimRNNOutput {
  Tensor output;          // [B, T, d]: h after every step, if requested
  Tensor h, c;            // the final state [B, d]
  Tensor skim_log_probs;  // [B, T]: log p_t(skim), differentiable (the skim loss's input)
  Tensor skimmed;         // [B, T]: 1 where the step skimmed (argmax in inference, the Gumbel
                          // sample's argmax in training), 0 where it read
  int64_t big_rows = 0, small_rows = 0;  // rows each cell ran on, summed over the steps
};

class SkimRNN : public nn::Module {
 public:
  SkimRNN(int64_t input_size, int64_t hidden_size, const SkimRNNOptions& options = {},
          const nn::ParamOptions& param = {});

  // x [B, T, input_size], batch first. In training mode (is_training()) the choice is a
  // Gumbel-softmax sample drawn from `generator` (the default generator when null); in eval mode
  // it is the argmax and each row runs one cell.
  SkimRNNOutput forward(const Tensor& x, Generator* generator = nullptr);

  std::string type_name() const override { return "SkimRNN"; }
  std::string extra_repr() const override;

  const int64_t input_size, hidden_size;
  const SkimRNNOptions options;
  std::shared_ptr<nn::LSTMCell> big, small;
  std::shared_ptr<nn::Linear> choice;  // [x; h] -> 2 logits (read, skim)
};

// gamma * mean over the batch and the steps of -log p(skim).
Tensor skim_loss(const Tensor& skim_log_probs, double gamma);

}  // namespace dg::dynamic
