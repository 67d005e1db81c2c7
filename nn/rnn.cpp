// LSTMCell, GRUCell and LSTM: see rnn.h. The step functions are plain compositions of engine ops,
// so their gradients (and gradients of those) come from the ops they use.
#include "nn/rnn.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "engine/ops/functional.h"
#include "nn/init.h"

namespace dg::nn {

namespace {

// PyTorch's RNN initialisation: every parameter U(-1/sqrt(hidden), 1/sqrt(hidden)), drawn in
// registration order.
void init_recurrent(std::vector<Tensor> params, int64_t hidden_size, Generator* generator) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (Tensor& p : params)
    if (p.defined()) init::uniform_(p, -bound, bound, generator);
}

void check_sizes(std::string_view layer, int64_t input_size, int64_t hidden_size) {
  check(input_size > 0 && hidden_size > 0,
        "{}: input_size and hidden_size must be positive, got {} and {}", layer, input_size,
        hidden_size);
}

// x must be [B, input_size] (cells) with the parameters' dtype.
void check_step_input(std::string_view layer, const Tensor& x, int64_t input_size, DType dtype) {
  check(x.defined(), "{}: undefined input", layer);
  check(x.dim() == 2 && x.shape()[1] == input_size, "{}: expected input [B, {}], got {}", layer,
        input_size, x.shape());
  check(x.dtype() == dtype, "{}: input {} has dtype {} but the parameters are {}", layer,
        x.shape(), x.dtype(), dtype);
}

// An optional state tensor must have exactly `expected` shape and the input's dtype.
void check_state(std::string_view layer, std::string_view name, const Tensor& t,
                 const Shape& expected, DType dtype) {
  if (!t.defined()) return;
  check(t.shape() == expected, "{}: {} has shape {}, expected {}", layer, name, t.shape(),
        expected);
  check(t.dtype() == dtype, "{}: {} {} has dtype {}, expected {}", layer, name, t.shape(),
        t.dtype(), dtype);
}

// The pointwise half of an LSTM step: the gate pre-activations [B, 4H] in PyTorch's order
// (i, f, g, o), biases included, and the previous c (undefined: zeros) -> the next (h, c).
LSTMState lstm_pointwise(const Tensor& gates, const Tensor& c) {
  const LSTMCellOutput next = lstm_cell(gates, c);  // fused: engine/ops/recurrent.cpp
  return {next.h, next.c};
}

}  // namespace

// ---------------------------------------------------------------- LSTMCell

LSTMCell::LSTMCell(int64_t input_size, int64_t hidden_size, bool bias, const ParamOptions& param)
    : input_size(input_size), hidden_size(hidden_size) {
  check_sizes("LSTMCell", input_size, hidden_size);
  weight_ih = register_parameter("weight_ih", Tensor::empty({4 * hidden_size, input_size}, param.dtype));
  weight_hh = register_parameter("weight_hh", Tensor::empty({4 * hidden_size, hidden_size}, param.dtype));
  if (bias) {
    bias_ih = register_parameter("bias_ih", Tensor::empty({4 * hidden_size}, param.dtype));
    bias_hh = register_parameter("bias_hh", Tensor::empty({4 * hidden_size}, param.dtype));
  }
  init_recurrent({weight_ih, weight_hh, bias_ih, bias_hh}, hidden_size, param.generator);
}

LSTMState LSTMCell::forward(const Tensor& x, const LSTMState& state) {
  check_step_input("LSTMCell", x, input_size, weight_ih.dtype());
  const Shape state_shape{x.shape()[0], hidden_size};
  check_state("LSTMCell", "h", state.h, state_shape, x.dtype());
  check_state("LSTMCell", "c", state.c, state_shape, x.dtype());
  // All four gates from one product per operand.
  Tensor gates = linear(x, weight_ih, bias_ih);
  if (state.h.defined()) gates = gates + linear(state.h, weight_hh, bias_hh);
  else if (bias_hh.defined()) gates = gates + bias_hh;
  return lstm_pointwise(gates, state.c);
}

std::string LSTMCell::extra_repr() const {
  return fmt::format("{}, {}, bias={}", input_size, hidden_size, bias_ih.defined() ? "True" : "False");
}

// ---------------------------------------------------------------- GRUCell

GRUCell::GRUCell(int64_t input_size, int64_t hidden_size, bool bias, const ParamOptions& param)
    : input_size(input_size), hidden_size(hidden_size) {
  check_sizes("GRUCell", input_size, hidden_size);
  weight_ih = register_parameter("weight_ih", Tensor::empty({3 * hidden_size, input_size}, param.dtype));
  weight_hh = register_parameter("weight_hh", Tensor::empty({3 * hidden_size, hidden_size}, param.dtype));
  if (bias) {
    bias_ih = register_parameter("bias_ih", Tensor::empty({3 * hidden_size}, param.dtype));
    bias_hh = register_parameter("bias_hh", Tensor::empty({3 * hidden_size}, param.dtype));
  }
  init_recurrent({weight_ih, weight_hh, bias_ih, bias_hh}, hidden_size, param.generator);
}

Tensor GRUCell::forward(const Tensor& x, const Tensor& h) {
  check_step_input("GRUCell", x, input_size, weight_ih.dtype());
  check_state("GRUCell", "h", h, {x.shape()[0], hidden_size}, x.dtype());
  const int64_t H = hidden_size;
  // The input's and the hidden state's contributions to (r, z, n); with h = 0 the latter is just
  // b_hh (or nothing).
  const Tensor gi = linear(x, weight_ih, bias_ih);
  Tensor gh = h.defined() ? linear(h, weight_hh, bias_hh) : bias_hh;
  Tensor rz_pre = narrow(gi, -1, 0, 2 * H);
  if (gh.defined()) rz_pre = rz_pre + narrow(gh, -1, 0, 2 * H);
  const Tensor rz = sigmoid(rz_pre);
  const Tensor r = narrow(rz, -1, 0, H), z = narrow(rz, -1, H, H);
  const Tensor n_in = narrow(gi, -1, 2 * H, H);
  const Tensor n = gh.defined() ? tanh(n_in + r * narrow(gh, -1, 2 * H, H)) : tanh(n_in);
  // (1 - z) * n + z * h, written with one product fewer.
  return h.defined() ? n + z * (h - n) : n - z * n;
}

std::string GRUCell::extra_repr() const {
  return fmt::format("{}, {}, bias={}", input_size, hidden_size, bias_ih.defined() ? "True" : "False");
}

// ---------------------------------------------------------------- LSTM

LSTM::LSTM(int64_t input_size, int64_t hidden_size, const LSTMOptions& options,
           const ParamOptions& param)
    : input_size(input_size), hidden_size(hidden_size), options(options) {
  check_sizes("LSTM", input_size, hidden_size);
  check(options.num_layers >= 1, "LSTM: num_layers must be at least 1, got {}", options.num_layers);
  check(options.dropout >= 0.0 && options.dropout <= 1.0, "LSTM: dropout must be in [0, 1], got {}",
        options.dropout);
  const int64_t H = hidden_size;
  std::vector<Tensor> all;
  for (int64_t l = 0; l < options.num_layers; ++l) {
    const int64_t in = l == 0 ? input_size : H;
    const std::string suffix = "_l" + std::to_string(l);
    weight_ih.push_back(register_parameter("weight_ih" + suffix, Tensor::empty({4 * H, in}, param.dtype)));
    weight_hh.push_back(register_parameter("weight_hh" + suffix, Tensor::empty({4 * H, H}, param.dtype)));
    all.push_back(weight_ih.back());
    all.push_back(weight_hh.back());
    if (options.bias) {
      bias_ih.push_back(register_parameter("bias_ih" + suffix, Tensor::empty({4 * H}, param.dtype)));
      bias_hh.push_back(register_parameter("bias_hh" + suffix, Tensor::empty({4 * H}, param.dtype)));
      all.push_back(bias_ih.back());
      all.push_back(bias_hh.back());
    } else {
      bias_ih.emplace_back();
      bias_hh.emplace_back();
    }
  }
  init_recurrent(all, H, param.generator);
}

LSTMOutput LSTM::forward(const Tensor& x, const Tensor& lengths, const LSTMState& initial) {
  check(x.defined(), "LSTM: undefined input");
  check(x.dim() == 3 && x.shape()[2] == input_size,
        "LSTM: expected a batch-first input [B, T, {}], got {}", input_size, x.shape());
  const DType dtype = weight_ih[0].dtype();
  check(x.dtype() == dtype, "LSTM: input {} has dtype {} but the parameters are {}", x.shape(),
        x.dtype(), dtype);
  const int64_t B = x.shape()[0], T = x.shape()[1], H = hidden_size, L = options.num_layers;
  check_state("LSTM", "initial h", initial.h, {L, B, H}, dtype);
  check_state("LSTM", "initial c", initial.c, {L, B, H}, dtype);

  // Steps [0, full_steps) advance every sequence, steps [full_steps, steps) only those still
  // running (masked with `running`), and steps [steps, T) none, so they are not computed at all.
  int64_t full_steps = T, steps = T;
  Tensor running;  // bool [B, T]: step t lies within sequence b
  if (lengths.defined()) {
    check(lengths.dtype() == DType::i64, "LSTM: lengths of shape {} has dtype {}, expected i64",
          lengths.shape(), lengths.dtype());
    check(lengths.shape() == Shape{B}, "LSTM: lengths has shape {}, expected [B] = [{}]",
          lengths.shape(), B);
    const std::vector<int64_t> len = lengths.to_vector<int64_t>();
    for (int64_t b = 0; b < B; ++b)
      check(len[b] >= 0 && len[b] <= T, "LSTM: lengths[{}] = {} is outside [0, T] = [0, {}]", b,
            len[b], T);
    if (B > 0) {
      full_steps = *std::min_element(len.begin(), len.end());
      steps = *std::max_element(len.begin(), len.end());
    }
    running = lt(reshape(arange(T), {1, T}), reshape(lengths, {B, 1}));
  }

  // Layer 0 reads its steps from x (a slice of x costs nothing in backward unless x requires
  // grad); every later layer reads the previous layer's per-step outputs, never a slice.
  std::vector<Tensor> inputs;
  inputs.reserve(steps);
  for (int64_t t = 0; t < steps; ++t) inputs.push_back(select(x, 1, t));
  std::vector<Tensor> final_h, final_c;
  Tensor output;
  for (int64_t l = 0; l < L; ++l) {
    const Tensor bias = bias_ih[l].defined() ? bias_ih[l] + bias_hh[l] : Tensor();
    const Tensor w_ih_t = transpose(weight_ih[l], 0, 1), w_hh_t = transpose(weight_hh[l], 0, 1);
    Tensor h = initial.h.defined() ? select(initial.h, 0, l) : Tensor();
    Tensor c = initial.c.defined() ? select(initial.c, 0, l) : Tensor();
    std::vector<Tensor> outputs;
    outputs.reserve(steps);
    for (int64_t t = 0; t < steps; ++t) {
      Tensor gates = matmul(inputs[t], w_ih_t);
      if (h.defined()) gates = gates + matmul(h, w_hh_t);
      if (bias.defined()) gates = gates + bias;
      const LSTMState next = lstm_pointwise(gates, c);
      if (t < full_steps) {
        h = next.h;
        c = next.c;
        outputs.push_back(h);
        continue;
      }
      // Some sequences have ended: they keep their state and output zeros.
      const Tensor step_running = unsqueeze(select(running, 1, t), 1);  // [B, 1]
      h = h.defined() ? where(step_running, next.h, h) : where(step_running, next.h, 0.0);
      c = c.defined() ? where(step_running, next.c, c) : where(step_running, next.c, 0.0);
      outputs.push_back(where(step_running, next.h, 0.0));
    }
    final_h.push_back(h.defined() ? h : zeros({B, H}, dtype));
    final_c.push_back(c.defined() ? c : zeros({B, H}, dtype));
    if (l + 1 < L) {
      for (int64_t t = 0; t < steps; ++t)
        inputs[t] = dropout(outputs[t], options.dropout, is_training(), options.dropout_generator);
    } else {
      output = steps > 0 ? stack(outputs, 1) : zeros({B, T, H}, dtype);
      if (steps > 0 && steps < T) output = pad(output, {0, 0, 0, T - steps});
    }
  }
  return {output, {stack(final_h, 0), stack(final_c, 0)}};
}

std::string LSTM::extra_repr() const {
  std::string out = fmt::format("{}, {}, batch_first=True", input_size, hidden_size);
  if (options.num_layers != 1) out += fmt::format(", num_layers={}", options.num_layers);
  if (!options.bias) out += ", bias=False";
  if (options.dropout != 0.0) out += fmt::format(", dropout={}", options.dropout);
  return out;
}

}  // namespace dg::nn
