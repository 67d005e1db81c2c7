// Skip RNN: see skip_rnn.h.
#include "dynamic/skip_rnn.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "dynamic/routing.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/functional.h"
#include "nn/init.h"

namespace dg::dynamic {

SkipRNN::SkipRNN(int64_t input_size, int64_t hidden_size, const SkipRNNOptions& options,
                 const nn::ParamOptions& param)
    : input_size(input_size), hidden_size(hidden_size), options(options) {
  if (options.cell == SkipCell::lstm)
    lstm = register_module("cell", std::make_shared<nn::LSTMCell>(input_size, hidden_size, true, param));
  else
    gru = register_module("cell", std::make_shared<nn::GRUCell>(input_size, hidden_size, true, param));
  gate = register_module("gate", std::make_shared<nn::Linear>(hidden_size, 1, true, param));
  NoGradGuard no_grad;
  gate->bias.fill_(options.gate_bias);
}

std::string SkipRNN::extra_repr() const {
  return fmt::format("{}, {}, cell={}", input_size, hidden_size,
                     options.cell == SkipCell::lstm ? "lstm" : "gru");
}

namespace {

// straight_through_round for u~ in [0, 1] (which the accumulation rule keeps it in): there the
// nearest integer, halves away from zero, is 1 exactly from 0.5 on, one comparison instead of
// round_half_away's general composition. The gradient is the identity's, as straight_through_round's.
Tensor round_unit(const Tensor& u_tilde) {
  Tensor hard;
  {
    NoGradGuard no_grad;
    hard = to_dtype(ge(u_tilde.detach(), 0.5), u_tilde.dtype());
  }
  return hard + (u_tilde - u_tilde.detach());
}

// The gate's bookkeeping without a graph: u~ and du~ of every row as host numbers of the model's
// dtype (Real), updated with the same operations, in the same order and precision, as the tensor
// form, so both make bit-identical decisions; no op runs for a row that skips.
template <class Real>
struct HostGate {
  std::vector<Real> u_tilde, delta;
  explicit HostGate(int64_t B) : u_tilde(B, Real(1)), delta(B, Real(0)) {}
  // round(u~) with u~ in [0, 1]: 1 from 0.5 on (halves away from zero, as round_half_away).
  bool updates(int64_t b) const { return u_tilde[b] >= Real(0.5); }
  // After the step: the rows that updated take their new du~, then the accumulation rule.
  void advance(const std::vector<int64_t>& rows, const std::vector<double>& new_delta) {
    std::vector<bool> updated(u_tilde.size(), false);
    for (size_t i = 0; i < rows.size(); ++i) {
      delta[rows[i]] = static_cast<Real>(new_delta[i]);
      updated[rows[i]] = true;
    }
    for (size_t b = 0; b < u_tilde.size(); ++b) {
      if (updated[b]) {
        u_tilde[b] = delta[b];
      } else {
        const Real room = Real(1) - u_tilde[b];
        u_tilde[b] = u_tilde[b] + std::min(delta[b], room);
      }
    }
  }
};

}  // namespace

SkipRNNOutput SkipRNN::forward(const Tensor& x) {
  check(x.defined() && x.dim() == 3 && x.shape()[2] == input_size,
        "SkipRNN: expected a batch-first input [B, T, {}], got {}", input_size,
        x.defined() ? x.shape() : Shape{});
  check(x.dtype() == gate->weight.dtype(), "SkipRNN: input {} has dtype {} but the parameters are {}",
        x.shape(), x.dtype(), gate->weight.dtype());
  if (!grad_enabled())
    return x.dtype() == DType::f64 ? forward_without_graph<double>(x) : forward_without_graph<float>(x);
  const int64_t B = x.shape()[0], T = x.shape()[1];
  const bool every_row = options.candidates_at_skipped_steps;

  SkipRNNOutput out;
  Tensor h, c;                                 // undefined until the first step: zeros
  Tensor delta;                                // du~ of the last update, [B, 1]
  Tensor u_tilde = ones({B, 1}, x.dtype(), x.device());
  std::vector<Tensor> updates, outputs;
  updates.reserve(T);
  for (int64_t t = 0; t < T; ++t) {
    const Tensor u = round_unit(u_tilde);  // [B, 1]
    std::vector<int64_t> rows;
    {
      const std::vector<double> u_values = u.to_vector<double>();
      for (int64_t b = 0; b < B; ++b)
        if (every_row || u_values[b] != 0.0) rows.push_back(b);
    }
    const ActiveRows active(std::move(rows), B);
    if (!active.none()) {
      const Tensor x_t = compact(select(x, 1, t), active);
      const Tensor h_old = h.defined() ? compact(h, active) : Tensor();
      const Tensor c_old = c.defined() ? compact(c, active) : Tensor();
      Tensor h_new, c_new;
      step_cell(x_t, h_old, c_old, h_new, c_new);
      // s = u * candidate + (1 - u) * s_old: where u = 1 that is the candidate, and the product
      // carries the straight-through gradient to u.
      const Tensor u_a = compact(u, active);
      const auto mix = [&](const Tensor& candidate, const Tensor& old) {
        return old.defined() ? u_a * candidate + (1.0 - u_a) * old : u_a * candidate;
      };
      h_new = mix(h_new, h_old);
      if (lstm) c_new = mix(c_new, c_old);
      const Tensor delta_new = sigmoid(gate->forward(lstm ? c_new : h_new));
      if (active.all() || !h.defined()) {
        h = h_new;
        c = c_new;
        delta = delta_new;
      } else {
        h = write_back(h, h_new, active);
        if (lstm) c = write_back(c, c_new, active);
        delta = write_back(delta, delta_new, active);
      }
      out.cell_rows += active.count();
    }
    updates.push_back(u);
    if (options.return_sequence) outputs.push_back(h);
    u_tilde = u * delta + (1.0 - u) * (u_tilde + minimum(delta, 1.0 - u_tilde));
  }
  out.h = h;
  out.c = c;
  out.updates = T > 0 ? cat(updates, 1) : zeros({B, 0}, x.dtype(), x.device());
  if (options.return_sequence && T > 0) out.output = stack(outputs, 1);
  return out;
}

void SkipRNN::step_cell(const Tensor& x, const Tensor& h, const Tensor& c, Tensor& h_new,
                        Tensor& c_new) {
  if (lstm) {
    const nn::LSTMState next = lstm->forward(x, {h, c});
    h_new = next.h;
    c_new = next.c;
  } else {
    h_new = gru->forward(x, h);
  }
}

template <class Real>
SkipRNNOutput SkipRNN::forward_without_graph(const Tensor& x) {
  const int64_t B = x.shape()[0], T = x.shape()[1];
  HostGate<Real> gate_state(B);
  SkipRNNOutput out;
  Tensor h, c;
  std::vector<Real> decisions(B * T, Real(0));  // [B, T]
  std::vector<Tensor> outputs;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int64_t> rows;
    for (int64_t b = 0; b < B; ++b)
      if (gate_state.updates(b)) {
        rows.push_back(b);
        decisions[b * T + t] = Real(1);
      }
    std::vector<double> new_delta;
    if (!rows.empty()) {
      const ActiveRows active(rows, B);
      Tensor h_new, c_new;
      step_cell(compact(select(x, 1, t), active), h.defined() ? compact(h, active) : Tensor(),
                c.defined() ? compact(c, active) : Tensor(), h_new, c_new);
      new_delta = sigmoid(gate->forward(lstm ? c_new : h_new)).to_vector<double>();
      if (active.all() || !h.defined()) {
        h = h_new;
        c = c_new;
      } else {
        h = write_back(h, h_new, active);
        if (lstm) c = write_back(c, c_new, active);
      }
      out.cell_rows += active.count();
    }
    gate_state.advance(rows, new_delta);
    if (options.return_sequence) outputs.push_back(h);
  }
  out.h = h;
  out.c = c;
  out.updates = to_dtype(from_vector(std::vector<double>(decisions.begin(), decisions.end()), {B, T}),
                         x.dtype());
  if (options.return_sequence && T > 0) out.output = stack(outputs, 1);
  return out;
}

Tensor skip_budget_loss(const Tensor& updates, double cost_per_sample) {
  check(updates.defined() && updates.dim() == 2 && updates.shape()[0] > 0,
        "skip_budget_loss: updates must be [B, T] with B > 0, got {}",
        updates.defined() ? updates.shape() : Shape{});
  check(cost_per_sample >= 0.0, "skip_budget_loss: cost_per_sample must be >= 0, got {}",
        cost_per_sample);
  return sum(updates) * (cost_per_sample / static_cast<double>(updates.shape()[0]));
}

}  // namespace dg::dynamic
