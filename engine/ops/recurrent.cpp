// The fused LSTM cell: the pointwise part of one LSTM step (gate activations, the new cell state
// and the new hidden state) as two graph nodes instead of about a dozen. A recurrent loop runs
// this part once per time step on small tensors, where per-op bookkeeping (a node, an allocation
// and a pass over memory for every sigmoid, tanh, product and sum, plus the chunk of the gates)
// cost more than the arithmetic; this is what makes an explicit loop over a cell (the skimming
// RNNs' pattern) about as cheap as a whole-sequence LSTM.
//
// Two nodes, because a node has one output: c_next = sigmoid(f) c + sigmoid(i) tanh(g) is node
// lstm_cell_state(gates, c), and h = sigmoid(o) tanh(c_next) is node lstm_cell_output(o, c_next),
// o being the last quarter of the gates (a narrow, whose gradient the engine adds straight into
// that quarter of the gates' gradient). Each backward is one kernel pass when the backward is not
// itself being recorded, and the same formula written with engine ops under create_graph, so
// second derivatives work.
#include "engine/backend.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "engine/ops/op_helpers.h"

namespace dg {

namespace {

// `t` as a matrix the kernels can walk: unit column stride (rows may be strided); a copy, not
// recorded, otherwise. Undefined stays undefined.
Tensor unit_columns(const Tensor& t) {
  if (!t.defined() || t.strides()[1] == 1) return t;
  NoGradGuard no_grad;
  return t.contiguous();
}

Tensor empty_like_matrix(int64_t rows, int64_t cols, const Tensor& like) {
  return Tensor::empty({rows, cols}, like.dtype(), like.device());
}

// lstm_cell_state's backward: dL/d(gates) and dL/dc from dL/dc_next.
Grads state_backward(const BackwardArgs& a, bool has_c) {
  const Tensor& gates = a.saved[0];
  const Tensor c = has_c ? a.saved[1] : Tensor();
  const int64_t B = gates.shape()[0], H = gates.shape()[1] / 4;
  Tensor grad_gates, grad_c;
  if (!grad_enabled()) {
    grad_gates = empty_like_matrix(B, 4 * H, gates);
    if (has_c && a.needs(1)) grad_c = empty_like_matrix(B, H, gates);
    backend(gates.device())
        .lstm_cell_state_backward(grad_gates, grad_c, unit_columns(a.grad), unit_columns(gates),
                                  unit_columns(c));
    flops::add(12 * B * H);
  } else {
    const Tensor i = sigmoid(narrow(gates, 1, 0, H)), f = sigmoid(narrow(gates, 1, H, H));
    const Tensor g = tanh(narrow(gates, 1, 2 * H, H));
    const Tensor& d = a.grad;
    const Tensor d_f = has_c ? d * c * f * (1.0 - f) : zeros_like(d);
    grad_gates = cat({d * g * i * (1.0 - i), d_f, d * i * (1.0 - g * g), zeros_like(d)}, 1);
    if (has_c && a.needs(1)) grad_c = d * f;
  }
  if (!has_c) return {a.needs(0) ? grad_gates : Tensor()};
  return {a.needs(0) ? grad_gates : Tensor(), grad_c};
}

// lstm_cell_output's backward: dL/do and dL/dc_next from dL/dh.
Grads output_backward(const BackwardArgs& a) {
  const Tensor& o = a.saved[0];
  const Tensor& c_next = a.saved[1];
  Tensor grad_o, grad_c_next;
  if (!grad_enabled()) {
    const int64_t B = o.shape()[0], H = o.shape()[1];
    if (a.needs(0)) grad_o = empty_like_matrix(B, H, o);
    if (a.needs(1)) grad_c_next = empty_like_matrix(B, H, o);
    backend(o.device())
        .lstm_cell_output_backward(grad_o, grad_c_next, unit_columns(a.grad), unit_columns(o),
                                   unit_columns(c_next));
    flops::add(8 * B * H);
  } else {
    const Tensor og = sigmoid(o), t = tanh(c_next);
    if (a.needs(0)) grad_o = a.grad * t * og * (1.0 - og);
    if (a.needs(1)) grad_c_next = a.grad * og * (1.0 - t * t);
  }
  return {grad_o, grad_c_next};
}

}  // namespace

LSTMCellOutput lstm_cell(const Tensor& gates, const Tensor& c) {
  constexpr std::string_view op = "lstm_cell";
  detail::check_floating(gates, op);
  check(gates.dim() == 2 && gates.shape()[1] % 4 == 0,
        "{}: gates must be [B, 4 * hidden] (i, f, g, o), got {}", op, gates.shape());
  const int64_t B = gates.shape()[0], H = gates.shape()[1] / 4;
  if (c.defined()) {
    detail::check_same(gates, c, op);
    check(c.shape() == Shape{B, H}, "{}: c must be [B, hidden] = [{}, {}] for gates {}, got {}",
          op, B, H, gates.shape(), c.shape());
  }
  LSTMCellOutput out{empty_like_matrix(B, H, gates), empty_like_matrix(B, H, gates)};
  backend(gates.device()).lstm_cell(out.h, out.c, unit_columns(gates), unit_columns(c));
  flops::add(9 * B * H);
  if (!needs_grad(gates, c)) return out;

  const bool has_c = c.defined();
  std::vector<Tensor> state_inputs{gates};
  if (has_c) state_inputs.push_back(c);
  record(OpId::lstm_cell_state, out.c, state_inputs, state_inputs,
         [has_c](const BackwardArgs& a) { return state_backward(a, has_c); });
  const Tensor o = narrow(gates, 1, 3 * H, H);
  record(OpId::lstm_cell_output, out.h, {o, out.c}, {o, out.c}, output_backward);
  return out;
}

}  // namespace dg
