// Skip RNN (Campos et al. 2018): an RNN that learns to skip state updates. Per step t, with a
// cumulative update probability u~_t (u~_1 = 1, so the first step always updates):
//
//   u_t        = round(u~_t)                                  straight-through: d u_t / d u~_t = 1
//   s_t        = u_t * cell(x_t, s_{t-1}) + (1 - u_t) * s_{t-1}
//   du~_t      = sigmoid(W s_t + b)     (s_t's c for an LSTM, h for a GRU; b starts at 1)
//   u~_{t+1}   = u_t * du~_t + (1 - u_t) * (u~_t + min(du~_t, 1 - u~_t))
//
// (a skipped step leaves s, hence du~, unchanged: du~_t = du~_{t-1}). The budget loss
// cost_per_sample * sum_t u_t, averaged over the batch, pushes towards fewer updates.
//
// A skipped step does not execute the cell. At every step the rows with u_t = 1 are compacted
// (dynamic/routing.h), the cell and the gate run on those rows only and the result is written back;
// the others keep their state, so a batch where 20% of the samples update runs the cell on 20% of
// the rows. The public reference runs the cell on every row and masks the result; its straight-
// through gradient dL/du_t = dL/ds_t . (cell(x_t, s_{t-1}) - s_{t-1}) therefore has a value at
// skipped steps too. Here, by default, a skipped step has no candidate, so that term is 0 there
// (the budget loss and the path through u~ still reach the gate); `candidates_at_skipped_steps`
// restores the reference's estimator in training, at the reference's cost (the cell then runs on
// every row while gradients are recorded, and still only on updating rows in inference).
//
// Without a graph (inference), u~ and du~ are B numbers kept on the host, updated with the same
// operations in the model's dtype (so the decisions are the same bit for bit): a skipped step then
// runs no op at all, not even the gate's bookkeeping.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nn/linear.h"
#include "nn/module.h"
#include "nn/rnn.h"

namespace dg::dynamic {

enum class SkipCell { lstm, gru };

struct SkipRNNOptions {
  SkipCell cell = SkipCell::lstm;
  double gate_bias = 1.0;            // b's initial value (the paper's)
  bool return_sequence = false;      // keep h at every step (SkipRNNOutput::output)
  bool candidates_at_skipped_steps = false;  // the reference's gradient, at its cost (see above)
};

struct SkipRNNOutput {
  Tensor output;        // [B, T, H]: h after every step (a copy at skipped steps); if requested
  Tensor h, c;          // the final state [B, H] (c undefined for a GRU)
  Tensor updates;       // [B, T]: u_t, 0 or 1, straight-through differentiable (the budget loss's input)
  int64_t cell_rows = 0;  // rows the cell ran on, summed over the steps
};

class SkipRNN : public nn::Module {
 public:
  SkipRNN(int64_t input_size, int64_t hidden_size, const SkipRNNOptions& options = {},
          const nn::ParamOptions& param = {});

  // x [B, T, input_size], batch first.
  SkipRNNOutput forward(const Tensor& x);
  SkipRNNOutput operator()(const Tensor& x) { return forward(x); }

  std::string type_name() const override { return "SkipRNN"; }
  std::string extra_repr() const override;

  const int64_t input_size, hidden_size;
  const SkipRNNOptions options;
  std::shared_ptr<nn::LSTMCell> lstm;  // one of the two cells, by options.cell
  std::shared_ptr<nn::GRUCell> gru;
  std::shared_ptr<nn::Linear> gate;    // H -> 1: the update probability's logit

 private:
  // One step of the cell on the given rows (h, c undefined: zeros); c_new is left undefined for a GRU.
  void step_cell(const Tensor& x, const Tensor& h, const Tensor& c, Tensor& h_new, Tensor& c_new);
  // Inference: the gate's bookkeeping on the host (see skip_rnn.cpp), the cell on updating rows.
  template <class Real>
  SkipRNNOutput forward_without_graph(const Tensor& x);
};

// cost_per_sample * sum_t u_t, averaged over the batch; updates [B, T] as SkipRNNOutput::updates.
Tensor skip_budget_loss(const Tensor& updates, double cost_per_sample);

}  // namespace dg::dynamic
