// The mixture-of-experts layer's defining properties (dynamic/moe/moe_layer.h):
//   - each token's output is the gate-weighted sum of exactly its top-k experts, computed here one
//     token and one expert at a time with plain matmuls;
//   - capacity mode drops overflowing slots (by position or by probability), a token that lost
//     every slot outputs 0 (its residual passes through x + MoE(x)), and the drops are counted;
//     with capacity large enough nothing is dropped and the output equals dropless mode;
//   - the FLOP counter measures k/E of the dense equivalent's expert work, and nothing for an
//     expert that received no token;
//   - upcycling reproduces the dense FFN; shared experts add a dense FFN to every token;
//   - float64 gradients through router, experts and auxiliary losses;
//   - statistics and error messages.
#include <catch2/catch.hpp>

#include <cmath>

#include "dynamic/moe/expert_choice_gate.h"
#include "dynamic/moe/moe_layer.h"
#include "dynamic/moe/softmax_topk_gate.h"
#include "dynamic/moe/switch_gate.h"
#include "engine/flops.h"
#include "engine/gradcheck.h"
#include "tests/dynamic/moe/moe_test_util.h"

using namespace dg;
using namespace dg::dynamic;
using dg::moe_test::assign;
using dg::moe_test::ints;
using dg::moe_test::kF64;
using dg::moe_test::reals;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

namespace {

// A gate that returns a fixed decision, to test the layer apart from any router.
class FixedGate : public Gate {
 public:
  FixedGate(int64_t E, int64_t k, std::vector<int64_t> experts, std::vector<double> weights)
      : Gate(E, k), experts_(std::move(experts)), weights_(std::move(weights)) {}
  GateDecision route(const Tensor& x, const Tensor&) override {
    const int64_t T = x.shape()[0], s = static_cast<int64_t>(experts_.size()) / T;
    GateDecision d;
    d.experts = from_vector(experts_, {T, s});
    d.weights = to_dtype(from_vector(weights_, {T, s}), x.dtype());
    return d;
  }

 private:
  std::vector<int64_t> experts_;
  std::vector<double> weights_;
};

// Expert e on one token row [1, d], with plain matmuls.
Tensor expert_on_row(const MoE& layer, int64_t e, const Tensor& row) {
  const Tensor h = gelu(matmul(row, select(layer.w1, 0, e)) + select(layer.b1, 0, e));
  return matmul(h, select(layer.w2, 0, e)) + select(layer.b2, 0, e);
}

// sum over t's slots of weight * expert(x_t), one token at a time, from a decision's host values.
Tensor reference_output(const MoE& layer, const Tensor& x, const std::vector<int64_t>& experts,
                        const std::vector<double>& weights, int64_t slots) {
  const int64_t T = x.shape()[0];
  std::vector<Tensor> rows;
  for (int64_t t = 0; t < T; ++t) {
    Tensor acc = zeros({1, layer.d_model}, x.dtype());
    for (int64_t j = 0; j < slots; ++j) {
      const int64_t e = experts[t * slots + j];
      if (e >= 0) acc = acc + expert_on_row(layer, e, narrow(x, 0, t, 1)) * weights[t * slots + j];
    }
    rows.push_back(acc);
  }
  return cat(rows, 0);
}

}  // namespace

TEST_CASE("MoE: each token is the gate-weighted sum of exactly its top-k experts", "[moe][layer]") {
  for (int64_t k : {1, 2, 3}) {
    auto gate = std::make_shared<SoftmaxTopKGate>(6, 5, k, SoftmaxTopKOptions{}, kF64);
    MoE layer(6, 8, gate, {}, kF64);
    const Tensor x = uniform_f64({11, 6}, 20 + k);
    const Tensor out = layer(x);
    const GateDecision d = gate->route(x, Tensor());
    INFO("k = " << k);
    CHECK(max_abs_diff(out, reference_output(layer, x, ints(d.experts), reals(d.weights), k)) < 1e-12);
    CHECK(layer.stats().routed_slots == 11 * k);
    CHECK(layer.stats().dropped_slots == 0);
  }
  // [B, L, d] input keeps its shape; expert choice (several or no experts per token) as well.
  auto ec = std::make_shared<ExpertChoiceGate>(6, 4, 1.0, kF64);
  MoE layer(6, 8, ec, {}, kF64);
  const Tensor x = uniform_f64({2, 5, 6}, 30);
  const Tensor out = layer(x);
  CHECK(out.shape() == Shape{2, 5, 6});
  const Tensor flat = reshape(x, {10, 6});
  const GateDecision d = ec->route(flat, Tensor());
  CHECK(max_abs_diff(reshape(out, {10, 6}), reference_output(layer, flat, ints(d.experts), reals(d.weights), 4)) < 1e-12);
  CHECK(layer.stats().tokens_per_expert == std::vector<int64_t>(4, 3));
}

TEST_CASE("apply_capacity: drop by position and by probability", "[moe][layer]") {
  // 4 tokens, 2 slots; expert 0 is asked 4 times, capacity 2.
  const std::vector<int64_t> experts{0, 1, 0, 1, 1, 0, 0, 2};
  const std::vector<double> weights{0.6, 0.4, 0.7, 0.3, 0.9, 0.1, 0.8, 0.2};
  // By position: first choices in token order (t0, t1, t3 want 0; t2 wants 1), then second ones.
  CHECK(apply_capacity(experts, weights, 4, 2, 3, 2, DropPolicy::by_position) ==
        std::vector<int64_t>{0, 1, 0, 1, 1, -1, -1, 2});
  // By probability: expert 0 keeps its two highest weights (0.8 of t3, 0.7 of t1).
  CHECK(apply_capacity(experts, weights, 4, 2, 3, 2, DropPolicy::by_probability) ==
        std::vector<int64_t>{-1, 1, 0, 1, 1, -1, 0, 2});
}

TEST_CASE("MoE capacity mode: dropped tokens pass through the residual and are counted", "[moe][layer]") {
  // Switch-like top-1: 6 tokens, 3 experts, capacity factor 1 -> C = 2; expert 0 asked by 4.
  auto gate = std::make_shared<FixedGate>(3, 1, std::vector<int64_t>{0, 0, 1, 0, 2, 0},
                                          std::vector<double>{0.9, 0.8, 0.7, 0.95, 0.6, 0.5});
  MoE by_position(4, 6, gate, {.mode = MoEMode::capacity, .capacity_factor = 1.0}, kF64);
  CHECK(by_position.capacity(6) == 2);
  const Tensor x = uniform_f64({6, 4}, 40);
  const Tensor block = x + by_position(x);
  CHECK(by_position.stats().dropped_slots == 2);
  CHECK(by_position.stats().dropped_tokens == 2);
  CHECK(by_position.stats().tokens_per_expert == std::vector<int64_t>{2, 1, 1});
  CHECK(max_abs_diff(select(block, 0, 3), select(x, 0, 3)) == 0.0);  // tokens 3 and 5 dropped
  CHECK(max_abs_diff(select(block, 0, 5), select(x, 0, 5)) == 0.0);
  CHECK(max_abs_diff(select(block, 0, 0), select(x, 0, 0)) > 1e-3);
  // By probability: expert 0 keeps tokens 3 (0.95) and 0 (0.9).
  MoE by_probability(4, 6, gate, {.mode = MoEMode::capacity, .capacity_factor = 1.0,
                                  .drop_policy = DropPolicy::by_probability}, kF64);
  assign(by_probability.w1, by_position.w1);
  assign(by_probability.w2, by_position.w2);
  assign(by_probability.b1, by_position.b1);
  assign(by_probability.b2, by_position.b2);
  const Tensor y = by_probability(x);
  CHECK(max_abs_diff(select(y, 0, 1), zeros({4}, DType::f64)) == 0.0);
  CHECK(max_abs_diff(select(y, 0, 5), zeros({4}, DType::f64)) == 0.0);
  const Tensor kept = reference_output(by_probability, x, {0, -1, 1, 0, 2, -1}, {0.9, 0.8, 0.7, 0.95, 0.6, 0.5}, 1);
  CHECK(max_abs_diff(y, kept) < 1e-12);
  CHECK(by_probability.stats().dropped_tokens == 2);
}

TEST_CASE("MoE: with capacity large enough, capacity mode equals dropless", "[moe][layer]") {
  Generator gen(7);
  auto gate = std::make_shared<SoftmaxTopKGate>(6, 4, 2, SoftmaxTopKOptions{},
                                                nn::ParamOptions{.generator = &gen, .dtype = DType::f64});
  MoE dropless(6, 8, gate, {}, {.generator = &gen, .dtype = DType::f64});
  MoE ample(6, 8, gate, {.mode = MoEMode::capacity, .capacity_factor = 2.0}, kF64);
  assign(ample.w1, dropless.w1);
  assign(ample.w2, dropless.w2);
  assign(ample.b1, dropless.b1);
  assign(ample.b2, dropless.b2);
  const Tensor x = uniform_f64({13, 6}, 41);
  // capacity_factor = E / k makes C = T: no expert can overflow.
  CHECK(ample.capacity(13) == 13);
  CHECK(max_abs_diff(ample(x), dropless(x)) == 0.0);
  CHECK(ample.stats().dropped_slots == 0);
}

TEST_CASE("MoE: measured FLOPs are k/E of the dense equivalent, zero for an empty expert", "[moe][layer]") {
  const int64_t T = 32, d = 8, d_ff = 16, E = 4;
  const Tensor x = uniform_f64({T, d}, 42);
  auto measured = [&](int64_t k) {
    auto gate = std::make_shared<SoftmaxTopKGate>(d, E, k, SoftmaxTopKOptions{}, kF64);
    MoE layer(d, d_ff, gate, {.activation = ExpertActivation::relu}, kF64);
    FlopScope gate_scope;
    gate->route(x, Tensor());
    const int64_t router = gate_scope.count();
    FlopScope layer_scope;
    layer(x);
    return std::pair<int64_t, int64_t>{layer_scope.count(), router};
  };
  const auto [dense, dense_router] = measured(E);  // every expert on every token
  const int64_t dense_experts = dense - dense_router;
  // Per slot: two products, bias adds, activation, the weighting and the add back.
  CHECK(dense_experts == T * E * (2 * d * d_ff + 2 * d_ff + 3 * d));
  for (int64_t k : {1, 2, 3}) {
    const auto [total, router] = measured(k);
    INFO("k = " << k);
    CHECK(static_cast<double>(total - router) / static_cast<double>(dense_experts) == Approx(double(k) / E));
    CHECK(total - router == dense_experts * k / E);
  }
  // An expert that receives no token costs nothing: 4 experts with all tokens on expert 2 cost
  // what one expert costs.
  std::vector<int64_t> all_to_two(T, 2);
  MoE four(d, d_ff, std::make_shared<FixedGate>(4, 1, all_to_two, std::vector<double>(T, 1.0)),
           {.activation = ExpertActivation::relu}, kF64);
  MoE one(d, d_ff, std::make_shared<FixedGate>(1, 1, std::vector<int64_t>(T, 0), std::vector<double>(T, 1.0)),
          {.activation = ExpertActivation::relu}, kF64);
  FlopScope a;
  four(x);
  const int64_t four_cost = a.count();
  FlopScope b;
  one(x);
  CHECK(four_cost == b.count());
  CHECK(four.stats().tokens_per_expert == std::vector<int64_t>{0, 0, T, 0});
}

TEST_CASE("MoE: gradients through router, experts and auxiliary loss (float64)", "[moe][layer]") {
  const Tensor x = uniform_f64({7, 4}, 43);
  auto gate = std::make_shared<SwitchGate>(4, 3, SwitchOptions{}, kF64);
  MoE layer(4, 5, gate, {.activation = ExpertActivation::tanh}, kF64);
  auto f = [&](const std::vector<Tensor>& in) {
    gate->router->weight = in[0];
    layer.w1 = in[1];
    layer.b2 = in[2];
    const Tensor out = layer(in[3]);
    return sum(out * out) + layer.aux_loss() * 10.0;
  };
  const GradcheckResult r = gradcheck(f, {test::grad_input({3, 4}, 44), test::grad_input({3, 4, 5}, 45),
                                          test::grad_input({3, 4}, 46), test::grad_input({7, 4}, 47)});
  INFO(r.message);
  CHECK(r.ok);
}

TEST_CASE("MoE::upcycle: every expert a copy of the dense FFN", "[moe][layer]") {
  nn::Linear fc1(6, 10, true, kF64), fc2(10, 6, true, kF64);
  auto gate = std::make_shared<SoftmaxTopKGate>(6, 4, 2, SoftmaxTopKOptions{}, kF64);
  auto layer = MoE::upcycle(fc1, fc2, gate, {});
  const Tensor x = uniform_f64({9, 6}, 48);
  // The renormalised weights sum to 1, so the mixture of identical experts is the dense FFN.
  CHECK(max_abs_diff(layer->forward(x), fc2.forward(gelu(fc1.forward(x)))) < 1e-12);
  auto noisy = MoE::upcycle(fc1, fc2, gate, {}, 0.01);
  const double spread = max_abs_diff(select(noisy->w1, 0, 0), select(noisy->w1, 0, 1));
  CHECK(spread > 0.0);
  CHECK(spread < 0.2);
}

TEST_CASE("MoE: shared experts are added to every token", "[moe][layer]") {
  auto gate = std::make_shared<SoftmaxTopKGate>(4, 8, 2, SoftmaxTopKOptions{}, kF64);
  MoE layer(4, 3, gate, {.shared_experts = 2, .shared_d_ff = 5}, kF64);
  CHECK(layer.shared_fc1->weight.shape() == Shape{10, 4});
  const Tensor x = uniform_f64({6, 4}, 49);
  const Tensor out = layer(x);
  const GateDecision d = gate->route(x, Tensor());
  const Tensor shared = layer.shared_fc2->forward(gelu(layer.shared_fc1->forward(x)));
  CHECK(max_abs_diff(out, reference_output(layer, x, ints(d.experts), reals(d.weights), 2) + shared) < 1e-12);
}

TEST_CASE("MoE: statistics after a forward", "[moe][layer]") {
  auto gate = std::make_shared<SwitchGate>(3, 3, SwitchOptions{}, kF64);
  MoE layer(3, 4, gate, {}, kF64);
  assign(gate->router->weight, eye(3, DType::f64));
  const Tensor x = tensor_f64({2.0, 0.0, 0.0, /**/ 1.0, 0.0, 0.0, /**/ 0.0, 1.0, 0.0, /**/ 0.0, 0.0, 0.0}, {4, 3});
  layer(x);
  const MoEStats& s = layer.stats();
  CHECK(s.tokens == 4);
  CHECK(s.tokens_per_expert == std::vector<int64_t>{3, 1, 0});  // the tied last token goes to 0
  // Loads (3, 1, 0): mean 4/3, population std sqrt(((5/3)^2 + (1/3)^2 + (4/3)^2) / 3).
  const double mean = 4.0 / 3.0;
  const double sd = std::sqrt((25.0 / 9 + 1.0 / 9 + 16.0 / 9) / 3);
  CHECK(s.load_cv == Approx(sd / mean));
  double entropy = 0;
  for (auto row : {std::vector<double>{2, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 0}}) {
    double z = 0;
    for (double v : row) z += std::exp(v);
    for (double v : row) entropy -= std::exp(v) / z * std::log(std::exp(v) / z);
  }
  CHECK(s.router_entropy == Approx(entropy / 4));
  REQUIRE(s.aux_losses.size() == 2);
  CHECK(s.aux_losses[0].first == "load_balancing");
  CHECK(layer.aux_loss().item<double>() ==
        Approx(1e-2 * s.aux_losses[0].second + 1e-3 * s.aux_losses[1].second));
}

TEST_CASE("MoE: bad configuration and input are clear errors", "[moe][layer]") {
  auto gate = std::make_shared<SoftmaxTopKGate>(4, 4, 2);
  CHECK_THROWS_WITH(MoE(4, 8, gate, {.mode = MoEMode::capacity, .capacity_factor = 0.0, .name = "block3.moe"}),
                    Catch::Contains("MoE 'block3.moe': capacity factor must be positive, got 0"));
  CHECK_THROWS_WITH(MoE(4, 8, std::make_shared<FixedGate>(2, 3, std::vector<int64_t>{}, std::vector<double>{})),
                    Catch::Contains("k = 3 exceeds the number of experts E = 2"));
  CHECK_THROWS_WITH(MoE(4, 8, std::make_shared<FixedGate>(2, 0, std::vector<int64_t>{}, std::vector<double>{})),
                    Catch::Contains("k = 0 (k >= 1)"));
  MoE layer(4, 8, gate, {.name = "block3.moe"});
  CHECK_THROWS_WITH(layer(zeros({10})),
                    Catch::Contains("MoE 'block3.moe': input of shape [10] is not a whole number of tokens of d_model = 4"));
  CHECK_THROWS_WITH(layer(zeros({3, 5})), Catch::Contains("not a whole number of tokens"));
  Tensor bad = zeros({3, 4});
  bad.data<float>()[5] = std::nanf("");
  CHECK_THROWS_WITH(layer(bad), Catch::Contains("MoE 'block3.moe': the gate (SoftmaxTopKGate) returned NaN"));
}
