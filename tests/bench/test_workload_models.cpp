// The benchmark models that are more than a stack of library layers compute what their PyTorch
// twins compute: the MoE's gather / expert FFN / weighted index_add equals, token by token, the
// renormalised top-2 mixture of its experts written out densely, and its aux loss is
// E * sum_e f_e P_e. (The dyconv workload uses the library's DynamicConv2d, whose defining
// properties are tested in tests/dynamic/.)
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "bench/workload_models.h"
#include "engine/autograd.h"
#include "tests/engine/test_util.h"

using namespace dg;
using dg::test::max_abs_diff;
using dg::test::uniform_f32;

TEST_CASE("bench MoE: each token gets the renormalised top-2 mixture of its experts", "[bench]") {
  manual_seed(3);
  const int64_t N = 12, d = 6, E = 4;
  bench::MoE moe(d, 10, E, 2);
  const Tensor x = uniform_f32({N, d}, 1);
  const Tensor out = moe.forward(x);
  REQUIRE(out.shape() == Shape{N, d});

  NoGradGuard no_grad;
  const std::vector<float> p = softmax(moe.gate->forward(x), -1).to_vector<float>();
  std::vector<double> routed_fraction(E, 0.0), mean_prob(E, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    std::vector<int64_t> order(E);
    for (int64_t e = 0; e < E; ++e) order[e] = e;
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return p[n * E + a] > p[n * E + b]; });
    const int64_t e0 = order[0], e1 = order[1];
    const double total = p[n * E + e0] + p[n * E + e1];
    const Tensor xn = narrow(x, 0, n, 1);
    auto expert = [&](int64_t e) { return moe.w2[e]->forward(relu(moe.w1[e]->forward(xn))); };
    const Tensor expected =
        expert(e0) * (p[n * E + e0] / total) + expert(e1) * (p[n * E + e1] / total);
    CHECK(max_abs_diff(narrow(out.detach(), 0, n, 1), expected) < 1e-5);
    routed_fraction[e0] += 1.0 / (2 * N);
    routed_fraction[e1] += 1.0 / (2 * N);
    for (int64_t e = 0; e < E; ++e) mean_prob[e] += p[n * E + e] / N;
  }
  double aux = 0;
  for (int64_t e = 0; e < E; ++e) aux += E * routed_fraction[e] * mean_prob[e];
  CHECK(moe.aux.item<double>() == Approx(aux).epsilon(1e-5));
}

TEST_CASE("bench MoE: every expert and the gate receive gradient through the routed path",
          "[bench]") {
  manual_seed(4);
  bench::MoE moe(8, 16, 4, 2);
  const Tensor x = uniform_f32({64, 8}, 2);
  const Tensor y = moe.forward(x);
  (mean(y * y) + 0.01 * moe.aux).backward();
  for (const auto& [name, param] : moe.named_parameters()) {
    INFO(name);
    REQUIRE(param.grad().defined());
    CHECK(max(abs(param.grad())).item<double>() > 0);
  }
}
