// The rest of the survey's Table 2, each against its defining rule: M6-T's k top-1 (one expert
// per prototype), the Dense-to-Sparse gate (dense at high temperature, sparse after annealing),
// THOR (uniform random experts, the symmetric-KL consistency loss by hand) and MoEfication (the
// split FFN equals the dense one with every expert on; co-activating neurons grouped together;
// the router learns the oracle's groups).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "dynamic/moe/dense_to_sparse_gate.h"
#include "dynamic/moe/k_top1_gate.h"
#include "dynamic/moe/moefication.h"
#include "dynamic/moe/thor_gate.h"
#include "tests/dynamic/moe/moe_test_util.h"

using namespace dg;
using namespace dg::dynamic;
using dg::moe_test::assign;
using dg::moe_test::ints;
using dg::moe_test::kF64;
using dg::moe_test::reals;
using dg::test::max_abs_diff;

TEST_CASE("KTop1Gate: the top-1 expert inside each of the k prototypes", "[moe][gate]") {
  KTop1Gate gate(6, 6, 2, 1e-2, kF64);
  assign(gate.router->weight, eye(6, DType::f64));
  // Prototype 0 = experts 0-2, prototype 1 = experts 3-5.
  const Tensor x = tensor_f64({1.0, 3.0, 0.0, /**/ 0.0, 0.5, 2.0,
                               4.0, 0.0, 0.0, /**/ 1.0, 0.0, 0.0}, {2, 6});
  const GateDecision d = gate.route(x, Tensor());
  CHECK(ints(d.experts) == std::vector<int64_t>{1, 5, 0, 3});
  const double w0 = std::exp(3.0) / (std::exp(1.0) + std::exp(3.0) + 1.0);
  const double w1 = std::exp(2.0) / (1.0 + std::exp(0.5) + std::exp(2.0));
  CHECK(reals(d.weights)[0] == Approx(w0));
  CHECK(reals(d.weights)[1] == Approx(w1));
  CHECK_THROWS_WITH(KTop1Gate(6, 6, 4), Catch::Contains("do not split into k = 4 prototypes"));
}

TEST_CASE("DenseToSparseGate: dense at high temperature, sparse once annealed", "[moe][gate]") {
  Generator gen(2);
  DenseToSparseGate gate(4, 8, {.initial_temperature = 50.0, .threshold = 0.05},
                         {.generator = &gen, .dtype = DType::f64});
  const Tensor x = test::uniform_f64({32, 4}, 3, -2.0, 2.0);
  gate.train();
  auto used = [&]() {
    const std::vector<int64_t> e = ints(gate.route(x, Tensor()).experts);
    return std::count_if(e.begin(), e.end(), [](int64_t v) { return v >= 0; });
  };
  CHECK(used() == 32 * 8);  // tau = 50: every expert above the threshold
  gate.set_temperature(0.05);
  const int64_t sparse = used();
  CHECK(sparse < 32 * 3);
  CHECK(sparse >= 32);  // the largest weight of a token is always >= 1/E > threshold
  // The weights of the used experts are the tempered softmax.
  gate.eval();
  gate.set_temperature(1.0);
  const GateDecision d = gate.route(x, Tensor());
  CHECK(max_abs_diff(d.weights, softmax(gate.router->forward(x), -1)) < 1e-14);
}

TEST_CASE("ThorGate: uniform random experts; consistency loss is the symmetric KL", "[moe][gate]") {
  Generator gen(4);
  ThorGate gate(4, &gen);
  const Tensor x = zeros({4000, 2});
  const std::vector<int64_t> a = ints(gate.route(x, Tensor()).experts);
  const std::vector<int64_t> b = ints(gate.route(x, Tensor()).experts);
  std::vector<int64_t> count(4, 0);
  int64_t same = 0;
  for (size_t t = 0; t < a.size(); ++t) {
    ++count[a[t]];
    same += a[t] == b[t];
  }
  for (int64_t c : count) CHECK(std::abs(c - 1000) < 120);
  CHECK(static_cast<double>(same) / 4000 == Approx(0.25).margin(0.04));  // independent draws
  const Tensor la = tensor_f64({1.0, 0.0, -1.0}, {1, 3}), lb = tensor_f64({0.0, 0.5, 0.0}, {1, 3});
  auto probs = [](std::vector<double> v) {
    double z = 0;
    for (double& x : v) z += (x = std::exp(x));
    for (double& x : v) x /= z;
    return v;
  };
  const std::vector<double> p = probs({1.0, 0.0, -1.0}), q = probs({0.0, 0.5, 0.0});
  double kl_pq = 0, kl_qp = 0;
  for (int i = 0; i < 3; ++i) {
    kl_pq += p[i] * std::log(p[i] / q[i]);
    kl_qp += q[i] * std::log(q[i] / p[i]);
  }
  CHECK(thor_consistency_loss(la, lb).item<double>() == Approx(0.5 * (kl_pq + kl_qp)));
}

TEST_CASE("MoEfication: split FFN equals the dense one, groups follow co-activation", "[moe][moefication]") {
  // A dense FFN whose 8 hidden neurons come in two families: neurons 0, 2, 4, 6 fire for inputs
  // with a positive first feature, 1, 3, 5, 7 for a positive second feature.
  nn::Linear fc1(2, 8, true, kF64), fc2(8, 3, true, kF64);
  std::vector<double> w1(16);
  for (int i = 0; i < 8; ++i) {
    w1[i * 2 + (i % 2)] = 1.0 + 0.1 * i;
    w1[i * 2 + 1 - (i % 2)] = 0.0;
  }
  assign(fc1.weight, from_vector(w1, {8, 2}));
  assign(fc1.bias, zeros({8}, DType::f64));
  // Inputs: half with only feature 0 positive, half with only feature 1.
  std::vector<double> xs;
  for (int n = 0; n < 40; ++n) {
    xs.push_back(n % 2 == 0 ? 1.0 + 0.01 * n : -1.0);
    xs.push_back(n % 2 == 0 ? -1.0 : 1.0 + 0.01 * n);
  }
  const Tensor inputs = from_vector(xs, {40, 2});
  const auto groups = coactivation_groups(fc1, inputs, 2);
  REQUIRE(groups.size() == 2);
  std::set<std::vector<int64_t>> found(groups.begin(), groups.end());
  CHECK(found == std::set<std::vector<int64_t>>{{0, 2, 4, 6}, {1, 3, 5, 7}});

  // Every expert on (k = E): exactly the dense FFN.
  auto all = moefy(fc1, fc2, inputs, {.num_experts = 2, .top_k = 2, .router_steps = 0});
  const Tensor dense = fc2.forward(relu(fc1.forward(inputs)));
  CHECK(max_abs_diff(all->forward(inputs), dense) < 1e-12);
  // k = 1 with a trained router: each input's active family is its oracle group, and the output
  // is still the dense FFN (the other family is silent for that input).
  auto sparse = moefy(fc1, fc2, inputs, {.num_experts = 2, .top_k = 1, .router_steps = 300});
  CHECK(max_abs_diff(sparse->forward(inputs), dense) < 1e-12);
  CHECK(sparse->stats().routed_slots == 40);
}
