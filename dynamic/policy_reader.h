// A reader whose policy, after every token, picks one move from a configurable set: the skimming
// methods of the survey's Table 1 that skip single tokens, re-read or stop reading.
//   stop      stop reading now (the class comes from the current state)
//   next      read the next token
//   skip k    skip k tokens (k = 1 .. max_skip), reading the (k+1)-th next
//   reread    read the same token again (when `reread`)
// Presets: Jumper (Liu et al. 2018) at token level = {stop, next}; RIM (Li et al. 2019) = {stop,
// next, skip 1}; Yu et al. 2018 = {stop, next, skip 1..K, reread}. Reading ends at the end of the
// sequence or after max_reads tokens read (re-reading could otherwise go on). The policy is
// trained like LSTM-Jump's (REINFORCE with reward +-1 and a learned baseline: the output and
// lstm_jump_losses of lstm_jump.h); sampled in training, greedy in inference. Batched like
// LSTM-Jump: each sample reads at its own position, the cell runs on the rows still reading.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dynamic/lstm_jump.h"

namespace dg::dynamic {

struct PolicyReaderOptions {
  int64_t max_skip = 0;    // K: skip moves 1 .. K (0: none)
  bool reread = false;     // offer "read the same token again"
  int64_t max_reads = 0;   // tokens read at most per sample (0: twice the sequence length)

  static PolicyReaderOptions jumper() { return {}; }
  static PolicyReaderOptions rim() { return {.max_skip = 1}; }
  static PolicyReaderOptions skim_reread_stop(int64_t max_skip) { return {.max_skip = max_skip, .reread = true}; }
};

class PolicyReader : public nn::Module {
 public:
  PolicyReader(int64_t input_size, int64_t hidden_size, int64_t num_classes,
               const PolicyReaderOptions& options = {}, const nn::ParamOptions& param = {});

  // Move indices, as decision_jumps reports them.
  static constexpr int64_t kStop = 0, kNext = 1;
  int64_t skip_move(int64_t k) const { return 1 + k; }           // k in 1 .. max_skip
  int64_t reread_move() const { return 2 + options.max_skip; }   // when options.reread
  int64_t num_moves() const { return 2 + options.max_skip + (options.reread ? 1 : 0); }

  // x [B, T, input_size]; lengths optional i64 [B]; mode sample needs a generator.
  LSTMJumpOutput forward(const Tensor& x, const Tensor& lengths = Tensor(),
                         JumpMode mode = JumpMode::greedy, Generator* generator = nullptr);

  std::string type_name() const override { return "PolicyReader"; }

  const int64_t input_size, hidden_size, num_classes;
  const PolicyReaderOptions options;
  std::shared_ptr<nn::LSTMCell> cell;
  std::shared_ptr<nn::Linear> policy;      // hidden -> num_moves()
  std::shared_ptr<nn::Linear> classifier;  // hidden -> num_classes
  std::shared_ptr<LearnedBaseline> baseline;
};

}  // namespace dg::dynamic
