// ReasoNet (dynamic/reasonet.h): a gate that always stops answers from the initial state with no
// reasoning step; a gate that never stops takes T_max - 1 steps, each the attention over the
// memory and a GRU step written out by hand; a batch equals each sample alone (values, steps and
// gradients of the classifier's and the REINFORCE loss); sampled decisions are seeded.
#include <catch2/catch.hpp>

#include "dynamic/reasonet.h"
#include "dynamic/reinforce.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/functional.h"
#include "tests/dynamic/dynamic_test_util.h"

using namespace dg;
using namespace dg::dynamic;
using dg::dynamic_test::assign;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

namespace {

Generator g_params(43);
const nn::ParamOptions kF64{.generator = &g_params, .dtype = DType::f64};

void force_stop(ReasoNet& m, double logit) {
  assign(m.terminate->weight, zeros_like(m.terminate->weight));
  assign(m.terminate->bias, full_like(m.terminate->bias, logit));
}

}  // namespace

TEST_CASE("ReasoNet: always stopping answers at once; never stopping takes T_max - 1 steps",
          "[dynamic][skim]") {
  g_params.manual_seed(1);
  const int64_t B = 3, L = 5, dm = 4, H = 6;
  ReasoNet model(dm, H, 2, 4, kF64);
  const Tensor s0 = uniform_f64({B, H}, 1), memory = uniform_f64({B, L, dm}, 2);
  force_stop(model, 30.0);
  ReasoNetOutput out = model.forward(s0, memory);
  CHECK(out.steps == std::vector<int64_t>{0, 0, 0});
  CHECK(out.step_rows == 0);
  CHECK(max_abs_diff(out.logits, model.classifier->forward(s0)) < 1e-12);

  force_stop(model, -30.0);
  out = model.forward(s0, memory);
  CHECK(out.steps == std::vector<int64_t>{3, 3, 3});
  Tensor s = s0;
  for (int t = 0; t < 3; ++t) {
    const Tensor w = softmax(matmul(unsqueeze(matmul(s, model.attention_weight), 1), transpose(memory, 1, 2)), -1);
    s = model.cell->forward(squeeze(matmul(w, memory), 1), s);
  }
  CHECK(max_abs_diff(out.state, s) < 1e-12);
}

TEST_CASE("ReasoNet: a batch equals each sample alone, with its gradients", "[dynamic][skim]") {
  g_params.manual_seed(2);
  const int64_t B = 5, L = 6, dm = 3, H = 4;
  ReasoNet model(dm, H, 3, 5, kF64);
  assign(model.terminate->weight, uniform_f64(model.terminate->weight.shape(), 3, -4.0, 4.0));
  const Tensor s0 = uniform_f64({B, H}, 4, -2.0, 2.0), memory = uniform_f64({B, L, dm}, 5);
  const Tensor labels = tensor_i64({0, 2, 1, 1, 0});
  const auto params = model.parameters();
  const auto total = [&](const ReasoNetOutput& out, const Tensor& y) {
    const double n = static_cast<double>(out.logits.shape()[0]);
    return (cross_entropy(out.logits, y) + reinforce_loss(out.stop_log_probs, jump_reward(out.logits, y))) * n;
  };
  const ReasoNetOutput batched = model.forward(s0, memory);
  total(batched, labels).backward();
  std::vector<Tensor> grads;
  for (Tensor p : params) {
    grads.push_back(p.grad().clone());
    p.zero_grad();
  }
  std::vector<int64_t> steps;
  int64_t rows = 0;
  for (int64_t b = 0; b < B; ++b) {
    const ReasoNetOutput one = model.forward(narrow(s0, 0, b, 1), narrow(memory, 0, b, 1));
    total(one, narrow(labels, 0, b, 1)).backward();
    CHECK(max_abs_diff(one.logits, narrow(batched.logits, 0, b, 1)) < 1e-12);
    steps.push_back(one.steps[0]);
    rows += one.step_rows;
  }
  CHECK(batched.steps == steps);
  CHECK(batched.step_rows == rows);
  CHECK(rows > 0);
  CHECK(rows < B * 4);  // some samples stopped early
  for (size_t i = 0; i < params.size(); ++i) {
    INFO("parameter " << i);
    CHECK(max_abs_diff(grads[i], params[i].grad()) < 1e-10);
  }
  Generator g1(7), g2(7);
  CHECK(model.forward(s0, memory, JumpMode::sample, &g1).steps ==
        model.forward(s0, memory, JumpMode::sample, &g2).steps);
  CHECK_THROWS_WITH(model.forward(s0, zeros({B, L, dm + 1}, DType::f64)), Catch::Contains("memory"));
  CHECK_THROWS_AS(ReasoNet(3, 4, 2, 0), Error);
}
