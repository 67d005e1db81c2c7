// LSTM-Jump (Yu, Lee and Le 2017): an LSTM that reads R tokens, then looks at its state and
// chooses how far to jump: a softmax over {0, 1, ..., K}, where 0 stops reading and k >= 1 makes
// the next token read the k-th one after the current one (k = 1 reads on without skipping). It
// stops when the jump softmax says 0, when it passes the end of the sequence, or when it reaches
// a decision point after N jumps. The class comes from the last state. Decisions are not
// differentiable: the jump policy is trained by REINFORCE (reward +1 for a correct prediction, -1
// otherwise) with a learned baseline fitted by MSE, the classifier by cross-entropy; decisions are
// sampled in training and greedy (the most likely jump) in inference.
//
// With max_back_jump = K' > 0 it is LSTM-Shuttle (Fu and Ma 2018) as the survey gives it: the
// softmax also offers jumps back, to the token k = 1 .. K' before the last one read (choices
// K + 1 .. K + K', position 0 at the earliest), so a skipped or read passage can be read again.
// The N-jump limit still ends every sequence.
//
// Batched, every sample moves through its own sequence: at each tick the samples still reading are
// compacted (dynamic/routing.h), each reads the token at its own position, and the cell runs on
// those rows only; a sample that stopped or jumped past its end does no work. The jump head and
// the baseline run only on the rows at a decision point.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dynamic/reinforce.h"
#include "engine/random.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/rnn.h"

namespace dg::dynamic {

struct LSTMJumpOptions {
  int64_t read = 20;       // R: tokens read between decisions
  int64_t max_jump = 40;   // K: the largest jump
  int64_t max_jumps = 5;   // N: jumps allowed before reading stops
  int64_t max_back_jump = 0;  // K': jumps back (LSTM-Shuttle); 0 for LSTM-Jump
};

enum class JumpMode { sample, greedy };

struct LSTMJumpOutput {
  Tensor logits;                     // [B, num_classes], from the final h
  Tensor h;                          // [B, hidden]: the state after the last token read
  // One entry per decision taken, over the whole batch (D entries):
  Tensor decision_log_probs;         // [D]: log pi(jump) of the choice made (differentiable)
  Tensor decision_baselines;         // [D]: the learned baseline at that decision (differentiable)
  Tensor decision_samples;           // i64 [D]: the sample that took it
  Tensor decision_jumps;             // i64 [D]: the choice, in {0, ..., K + K'}
  std::vector<int64_t> tokens_read;  // per sample
  int64_t cell_rows = 0;             // rows the cell ran on, summed over ticks (= sum of tokens_read)
};

// One tick of a reader that moves through its tokens sample by sample (LSTM-Jump, the structural
// jump reader, the policy readers): every sample with reading[b] reads the token at position[b] of
// tokens ([B * T, input], row b * T + t), and the cell runs on those samples' rows only (compacted,
// dynamic/routing.h); h and c [B, hidden] take their new rows, and cell_rows counts them. Returns
// the samples that read, in order (empty when none is reading).
std::vector<int64_t> read_next_tokens(nn::LSTMCell& cell, const Tensor& tokens, int64_t T,
                                      const std::vector<int64_t>& position,
                                      const std::vector<bool>& reading, Tensor& h, Tensor& c,
                                      int64_t& cell_rows);

class LSTMJump : public nn::Module {
 public:
  LSTMJump(int64_t input_size, int64_t hidden_size, int64_t num_classes,
           const LSTMJumpOptions& options = {}, const nn::ParamOptions& param = {});

  // x [B, T, input_size] (embedded tokens, batch first); lengths: optional i64 [B] of valid steps
  // (default T). mode sample draws from `generator` (required then).
  LSTMJumpOutput forward(const Tensor& x, const Tensor& lengths = Tensor(),
                         JumpMode mode = JumpMode::greedy, Generator* generator = nullptr);

  std::string type_name() const override { return "LSTMJump"; }
  std::string extra_repr() const override;

  const int64_t input_size, hidden_size, num_classes;
  const LSTMJumpOptions options;
  std::shared_ptr<nn::LSTMCell> cell;
  std::shared_ptr<nn::Linear> jump;        // hidden -> K + 1 + K'
  std::shared_ptr<nn::Linear> classifier;  // hidden -> num_classes
  std::shared_ptr<LearnedBaseline> baseline;
};

// +1 where argmax(logits) equals the label, -1 elsewhere; f [B] in the logits' dtype.
Tensor jump_reward(const Tensor& logits, const Tensor& labels);

struct JumpLosses {
  Tensor policy;    // -(1/B) sum over decisions of (reward - baseline) * log pi
  Tensor baseline;  // mean over decisions of (baseline - reward)^2 (0 without decisions)
};
// The REINFORCE and baseline losses of a forward pass's decisions, given each sample's reward [B].
JumpLosses lstm_jump_losses(const LSTMJumpOutput& out, const Tensor& reward);

}  // namespace dg::dynamic
