// Structural Jump-LSTM (Hansen et al. 2019), as the survey describes it: after each token read, a
// policy chooses where to go next by the text's structure:
//   0  the next word (read on)
//   1  past the next sub-sentence separator: the token after the next ',' or ':' (a sentence end
//      also ends a sub-sentence)
//   2  past the next sentence end: the token after the next '.', '!' or '?'
//   3  the end of the text (stop reading)
// A jump with no such token ahead stops reading. The class comes from the last state; the policy
// is trained like LSTM-Jump's (REINFORCE with reward +-1 and a learned baseline: the output and
// lstm_jump_losses of lstm_jump.h), sampled in training and greedy in inference. The structure is
// an input: each token's kind (word, separator, sentence end), from structure_kind for a token's
// text. Batched as LSTM-Jump: each sample reads at its own position and the cell runs on the
// compacted rows still reading only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "dynamic/lstm_jump.h"

namespace dg::dynamic {

enum class TokenKind : int64_t { word = 0, separator = 1, sentence_end = 2 };

// ',' and ':' are separators; '.', '!' and '?' sentence ends; anything else a word.
TokenKind structure_kind(std::string_view token);

enum class StructuralMove : int64_t { next_word = 0, next_separator = 1, next_sentence = 2, stop = 3 };

class StructuralJumpLSTM : public nn::Module {
 public:
  StructuralJumpLSTM(int64_t input_size, int64_t hidden_size, int64_t num_classes,
                     const nn::ParamOptions& param = {});

  // x [B, T, input_size]; kinds i64 [B, T] of TokenKind values; lengths optional i64 [B].
  // mode sample draws from `generator` (required then). decision_jumps holds StructuralMove values.
  LSTMJumpOutput forward(const Tensor& x, const Tensor& kinds, const Tensor& lengths = Tensor(),
                         JumpMode mode = JumpMode::greedy, Generator* generator = nullptr);

  std::string type_name() const override { return "StructuralJumpLSTM"; }

  const int64_t input_size, hidden_size, num_classes;
  std::shared_ptr<nn::LSTMCell> cell;
  std::shared_ptr<nn::Linear> move;        // hidden -> 4 moves
  std::shared_ptr<nn::Linear> classifier;  // hidden -> num_classes
  std::shared_ptr<LearnedBaseline> baseline;
};

}  // namespace dg::dynamic
