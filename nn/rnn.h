// Recurrent layers with PyTorch's equations, gate order, parameter names and initialisation
// (every parameter U(-1/sqrt(hidden), 1/sqrt(hidden))):
//
//   LSTMCell  gates = x W_ih^T + b_ih + h W_hh^T + b_hh, split as (i, f, g, o);
//             c' = sigmoid(f) * c + sigmoid(i) * tanh(g),  h' = sigmoid(o) * tanh(c')
//   GRUCell   (r, z) = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr, ...),
//             n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)),  h' = (1 - z) * n + z * h
//   LSTM      batch-first [B, T, I], one or more stacked layers, optional per-sequence lengths.
//
// Each step is a handful of engine ops (the gates of all four kinds come from one matmul per
// operand, then chunk and the pointwise activations), so the same cells serve a hand-written loop
// such as a skimming RNN's, which decides step by step what to run.
//
// The LSTM does not hoist the input projection of all steps into one GEMM before its loop: reading
// step t back out of that product would be a slice of a tensor that requires grad, whose backward
// materialises a gradient of the whole product at every step (quadratic in T). Each step projects
// its own input instead, and layer l + 1 reads layer l's per-step outputs directly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/layer_options.h"
#include "nn/module.h"

namespace dg::nn {

// An LSTM state. For the cell: h and c are [B, hidden]; for the LSTM: [num_layers, B, hidden].
// Undefined tensors mean zeros (and let the first step skip the work they would cost).
struct LSTMState {
  Tensor h{};
  Tensor c{};
};

class LSTMCell : public Module {
 public:
  LSTMCell(int64_t input_size, int64_t hidden_size, bool bias = true,
           const ParamOptions& param = {});

  // x [B, input_size] and the previous state -> the next state.
  LSTMState forward(const Tensor& x, const LSTMState& state = {});
  LSTMState operator()(const Tensor& x, const LSTMState& state = {}) { return forward(x, state); }

  std::string type_name() const override { return "LSTMCell"; }
  std::string extra_repr() const override;

  const int64_t input_size, hidden_size;
  Tensor weight_ih, weight_hh;  // [4 hidden, input_size], [4 hidden, hidden]
  Tensor bias_ih, bias_hh;      // [4 hidden] (undefined without bias)
};

class GRUCell : public Module {
 public:
  GRUCell(int64_t input_size, int64_t hidden_size, bool bias = true,
          const ParamOptions& param = {});

  // x [B, input_size] and the previous h [B, hidden] (undefined: zeros) -> the next h.
  Tensor forward(const Tensor& x, const Tensor& h = Tensor());
  Tensor operator()(const Tensor& x, const Tensor& h = Tensor()) { return forward(x, h); }

  std::string type_name() const override { return "GRUCell"; }
  std::string extra_repr() const override;

  const int64_t input_size, hidden_size;
  Tensor weight_ih, weight_hh;  // [3 hidden, input_size], [3 hidden, hidden]
  Tensor bias_ih, bias_hh;      // [3 hidden] (undefined without bias)
};

struct LSTMOptions {
  int64_t num_layers = 1;
  bool bias = true;
  // Dropout on the outputs of every layer but the last, in training mode (PyTorch's `dropout`).
  double dropout = 0.0;
  Generator* dropout_generator = nullptr;  // null: the default generator; must outlive the layer
};

struct LSTMOutput {
  Tensor output;  // [B, T, hidden]: the last layer's h at every step (zero at padded steps)
  LSTMState final;  // h and c [num_layers, B, hidden], each sequence's state after its last step
};

class LSTM : public Module {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, const LSTMOptions& options = {},
       const ParamOptions& param = {});

  // x [B, T, input_size] (batch first). lengths: optional i64 [B], the number of valid steps of
  // each sequence (0..T); steps past a sequence's length leave its state unchanged and output
  // zeros, as PyTorch's pack_padded_sequence does. initial: optional h0/c0 [num_layers, B, hidden].
  LSTMOutput forward(const Tensor& x, const Tensor& lengths = Tensor(),
                     const LSTMState& initial = {});
  LSTMOutput operator()(const Tensor& x, const Tensor& lengths = Tensor(),
                        const LSTMState& initial = {}) {
    return forward(x, lengths, initial);
  }

  std::string type_name() const override { return "LSTM"; }
  std::string extra_repr() const override;

  const int64_t input_size, hidden_size;
  const LSTMOptions options;
  // Per layer, registered as weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, weight_ih_l1, ...
  std::vector<Tensor> weight_ih, weight_hh, bias_ih, bias_hh;
};

}  // namespace dg::nn
