// Focused Hierarchical RNN (dynamic/focused_hierarchical_rnn.h): gate forced open, the upper LSTM
// reads every lower state (equal to a plain LSTM over them); forced shut, the upper cell never
// runs; a batch equals each sample alone (values and gradients of all losses); sampled gates are
// seeded; the losses by hand.
#include <catch2/catch.hpp>

#include "dynamic/focused_hierarchical_rnn.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "nn/rnn.h"
#include "tests/dynamic/dynamic_test_util.h"

using namespace dg;
using namespace dg::dynamic;
using dg::dynamic_test::assign;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

namespace {

Generator g_params(41);
const nn::ParamOptions kF64{.generator = &g_params, .dtype = DType::f64};

void force_gate(FocusedHierarchicalRNN& m, double logit) {
  assign(m.gate->weight, zeros_like(m.gate->weight));
  assign(m.gate->bias, full_like(m.gate->bias, logit));
}

std::shared_ptr<nn::LSTM> copy_of(const nn::LSTMCell& cell) {
  auto plain = std::make_shared<nn::LSTM>(cell.input_size, cell.hidden_size, nn::LSTMOptions{}, kF64);
  assign(plain->weight_ih[0], cell.weight_ih);
  assign(plain->weight_hh[0], cell.weight_hh);
  assign(plain->bias_ih[0], cell.bias_ih);
  assign(plain->bias_hh[0], cell.bias_hh);
  return plain;
}

}  // namespace

TEST_CASE("FocusedHierarchicalRNN: gate open is a two-level LSTM; gate shut never runs the upper cell",
          "[dynamic][skim]") {
  g_params.manual_seed(1);
  const int64_t B = 3, T = 7, I = 4, Q = 2;
  FocusedHierarchicalRNN model(I, Q, 5, 6, 3, kF64);
  const Tensor x = uniform_f64({B, T, I}, 1), q = uniform_f64({B, Q}, 2);
  force_gate(model, 30.0);
  const FocusedOutput open = model.forward(x, q);
  const auto lower = copy_of(*model.lower), upper = copy_of(*model.upper);
  const Tensor expected = select((*upper)((*lower)(x).output).final.h, 0, 0);
  CHECK(max_abs_diff(open.h_upper, expected) < 1e-12);
  CHECK(open.upper_rows == B * T);

  force_gate(model, -30.0);
  NoGradGuard no_grad;
  FlopScope shut_scope;
  const FocusedOutput shut = model.forward(x, q);
  const int64_t shut_flops = shut_scope.count();
  CHECK(shut.upper_rows == 0);
  CHECK(max_abs_diff(shut.h_upper, zeros({B, 6}, DType::f64)) == 0.0);
  force_gate(model, 30.0);
  FlopScope open_scope;
  model.forward(x, q);
  CHECK(open_scope.count() > shut_flops);  // the upper cell's work is what the shut gate saved
}

TEST_CASE("FocusedHierarchicalRNN: a batch equals each sample alone, with its gradients; losses",
          "[dynamic][skim]") {
  g_params.manual_seed(2);
  const int64_t B = 5, T = 8, I = 3, Q = 2;
  FocusedHierarchicalRNN model(I, Q, 4, 5, 3, kF64);
  assign(model.gate->weight, uniform_f64(model.gate->weight.shape(), 3, -4.0, 4.0));
  const Tensor x = uniform_f64({B, T, I}, 4, -2.0, 2.0), q = uniform_f64({B, Q}, 5);
  const Tensor labels = tensor_i64({0, 2, 1, 1, 0});
  const auto params = model.parameters();
  const auto total = [&](const FocusedOutput& out, const Tensor& y) {
    const JumpLosses l = focused_losses(out, jump_reward(out.logits, y));
    // Each loss is a mean over the samples (the baseline's over samples and tokens), so n times it
    // is a sum over samples: the batch's gradients are the sum of the samples'.
    const double n = static_cast<double>(out.logits.shape()[0]);
    return (cross_entropy(out.logits, y) + l.policy + l.baseline) * n;
  };
  const FocusedOutput batched = model.forward(x, q);
  total(batched, labels).backward();
  std::vector<Tensor> grads;
  for (Tensor p : params) {
    grads.push_back(p.grad().clone());
    p.zero_grad();
  }
  int64_t rows = 0;
  for (int64_t b = 0; b < B; ++b) {
    const FocusedOutput one = model.forward(narrow(x, 0, b, 1), narrow(q, 0, b, 1));
    total(one, narrow(labels, 0, b, 1)).backward();
    CHECK(max_abs_diff(one.logits, narrow(batched.logits, 0, b, 1)) < 1e-12);
    CHECK(max_abs_diff(one.gates, narrow(batched.gates, 0, b, 1)) == 0.0);
    rows += one.upper_rows;
  }
  CHECK(rows == batched.upper_rows);
  CHECK(batched.upper_rows > 0);
  CHECK(batched.upper_rows < B * T);
  for (size_t i = 0; i < params.size(); ++i) {
    INFO("parameter " << i);
    CHECK(max_abs_diff(grads[i], params[i].grad()) < 1e-10);
  }
  Generator g1(3), g2(3);
  CHECK(max_abs_diff(model.forward(x, q, JumpMode::sample, &g1).gates,
                     model.forward(x, q, JumpMode::sample, &g2).gates) == 0.0);
  CHECK_THROWS_WITH(model.forward(x, zeros({B, 3}, DType::f64)), Catch::Contains("question"));
}
