// ReasoNet (Shen et al. 2017): reasoning steps over an encoded text that stop when a termination
// gate says so. From an initial state s_1 (the encoded question), at step t = 1 .. T_max:
//   stop_t ~ Bernoulli(sigmoid(w . s_t + b))         (forced at t = T_max)
//   if stop_t: answer from s_t
//   else:      x_t = sum_l softmax_l(s_t W M_l) M_l,   s_{t+1} = GRU(x_t, s_t)
// over the memory M [B, L, d_m]. The gate is trained by REINFORCE (its paper uses a contrastive
// reward baseline; here any baseline of dynamic/reinforce.h, passed by the caller); sampled in
// training, the most likely decision in inference. Batched, the samples still reasoning are
// compacted at every step: attention and GRU run on those rows only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dynamic/lstm_jump.h"

namespace dg::dynamic {

struct ReasoNetOutput {
  Tensor logits;                 // [B, num_classes], from each sample's state when it stopped
  Tensor state;                  // [B, hidden]: that state
  Tensor stop_log_probs;         // [B]: sum of log P(decision) over the sampled decisions
  std::vector<int64_t> steps;    // per sample: reasoning steps taken (attention + GRU), 0 .. T_max - 1
  int64_t step_rows = 0;         // rows the attention and GRU ran on, summed over the steps
};

class ReasoNet : public nn::Module {
 public:
  ReasoNet(int64_t memory_size, int64_t hidden_size, int64_t num_classes, int64_t max_steps,
           const nn::ParamOptions& param = {});

  // initial_state [B, hidden], memory [B, L, memory_size]. mode sample needs a generator.
  ReasoNetOutput forward(const Tensor& initial_state, const Tensor& memory,
                         JumpMode mode = JumpMode::greedy, Generator* generator = nullptr);

  std::string type_name() const override { return "ReasoNet"; }

  const int64_t memory_size, hidden_size, num_classes, max_steps;
  Tensor attention_weight;                 // [hidden, memory_size]: s W M_l^T
  std::shared_ptr<nn::GRUCell> cell;       // memory_size -> hidden
  std::shared_ptr<nn::Linear> terminate;   // hidden -> 1
  std::shared_ptr<nn::Linear> classifier;  // hidden -> num_classes
};

}  // namespace dg::dynamic
