// Each gate of dynamic/moe against its paper's formula on small examples computed by hand (or by
// a plain loop here), and a float64 gradient check of the routers whose weights are learned.
// Routers are set to the identity (d = E), so a token's values are its logits.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "dynamic/moe/base_gate.h"
#include "dynamic/moe/expert_choice_gate.h"
#include "dynamic/moe/gshard_gate.h"
#include "dynamic/moe/hash_gate.h"
#include "dynamic/moe/loss_free_gate.h"
#include "dynamic/moe/noisy_topk_gate.h"
#include "dynamic/moe/softmax_topk_gate.h"
#include "dynamic/moe/switch_gate.h"
#include "engine/gradcheck.h"
#include "tests/dynamic/moe/moe_test_util.h"

using namespace dg;
using namespace dg::dynamic;
using dg::moe_test::assign;
using dg::moe_test::ints;
using dg::moe_test::kF64;
using dg::moe_test::reals;

namespace {

double loss_value(const GateDecision& d, const std::string& name) {
  for (const AuxLoss& l : d.losses)
    if (l.name == name) return l.value.item<double>();
  FAIL("no loss named " << name);
  return 0;
}

std::vector<double> softmax_row(const std::vector<double>& v) {
  double m = *std::max_element(v.begin(), v.end()), s = 0;
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) s += out[i] = std::exp(v[i] - m);
  for (double& o : out) o /= s;
  return out;
}

double phi(double z) { return 0.5 * (1.0 + std::erf(z / std::sqrt(2.0))); }

double cv2(const std::vector<double>& v) {
  double m = 0, var = 0;
  for (double x : v) m += x;
  m /= v.size();
  for (double x : v) var += (x - m) * (x - m);
  var /= v.size();
  return var / (m * m + 1e-10);
}

// Three tokens, three experts: the token rows are the logits.
Tensor logits3() { return tensor_f64({1.0, 2.0, 0.5, /**/ 0.2, -1.0, 0.3, /**/ 3.0, 0.0, 2.9}, {3, 3}); }

}  // namespace

TEST_CASE("SoftmaxTopKGate: renormalised and plain top-k of the softmax", "[moe][gate]") {
  SoftmaxTopKGate renorm(3, 3, 2, {}, kF64), plain(3, 3, 2, {.renormalize = false}, kF64);
  assign(renorm.router->weight, eye(3, DType::f64));
  assign(plain.router->weight, eye(3, DType::f64));
  const GateDecision a = renorm.route(logits3(), Tensor()), b = plain.route(logits3(), Tensor());
  CHECK(ints(a.experts) == std::vector<int64_t>{1, 0, 2, 0, 0, 2});
  CHECK(ints(b.experts) == ints(a.experts));
  // Token 0: logits 2 and 1 kept -> softmax([2, 1]); plain: the full softmax's values of the two.
  const std::vector<double> p0 = softmax_row({1.0, 2.0, 0.5});
  const std::vector<double> wa = reals(a.weights), wb = reals(b.weights);
  CHECK(wa[0] == Approx(1.0 / (1.0 + std::exp(-1.0))));
  CHECK(wa[1] == Approx(1.0 / (1.0 + std::exp(1.0))));
  CHECK(wb[0] == Approx(p0[1]));
  CHECK(wb[1] == Approx(p0[0]));
  CHECK(wa[0] + wa[1] == Approx(1.0));
  CHECK(wb[0] + wb[1] < 1.0);
}

TEST_CASE("SwitchGate: top-1, aux loss N sum f_i P_i and z-loss by hand", "[moe][gate]") {
  SwitchGate gate(3, 3, {}, kF64);
  assign(gate.router->weight, eye(3, DType::f64));
  const GateDecision d = gate.route(logits3(), Tensor());
  CHECK(ints(d.experts) == std::vector<int64_t>{1, 2, 0});
  const std::vector<std::vector<double>> p = {softmax_row({1.0, 2.0, 0.5}), softmax_row({0.2, -1.0, 0.3}),
                                              softmax_row({3.0, 0.0, 2.9})};
  CHECK(reals(d.weights)[0] == Approx(p[0][1]));
  CHECK(reals(d.weights)[1] == Approx(p[1][2]));
  CHECK(reals(d.weights)[2] == Approx(p[2][0]));
  // f = (1/3, 1/3, 1/3): each expert is one token's first choice.
  double aux = 0;
  for (int e = 0; e < 3; ++e) aux += (1.0 / 3.0) * (p[0][e] + p[1][e] + p[2][e]) / 3.0;
  aux *= 3;
  CHECK(loss_value(d, "load_balancing") == Approx(aux));
  CHECK(aux == Approx(1.0));  // with uniform f, N sum f_i P_i = sum_i P_i = 1
  double z = 0;
  for (auto row : {std::vector<double>{1.0, 2.0, 0.5}, {0.2, -1.0, 0.3}, {3.0, 0.0, 2.9}}) {
    double s = 0;
    for (double v : row) s += std::exp(v);
    z += std::log(s) * std::log(s) / 3.0;
  }
  CHECK(loss_value(d, "z_loss") == Approx(z));

  // A skewed batch: every token prefers expert 0; f = (1, 0, 0), aux = 3 P_0.
  const Tensor skewed = tensor_f64({2.0, 0.0, 0.0, /**/ 1.0, 0.5, 0.0}, {2, 3});
  const GateDecision s = gate.route(skewed, Tensor());
  const double P0 = (softmax_row({2.0, 0.0, 0.0})[0] + softmax_row({1.0, 0.5, 0.0})[0]) / 2;
  CHECK(loss_value(s, "load_balancing") == Approx(3 * P0));
}

TEST_CASE("GShardGate: normalised top-2, aux loss, random routing of the second expert", "[moe][gate]") {
  GShardGate gate(3, 3, {.random_routing = false}, kF64);
  assign(gate.router->weight, eye(3, DType::f64));
  const GateDecision d = gate.route(logits3(), Tensor());
  CHECK(ints(d.experts) == std::vector<int64_t>{1, 0, 2, 0, 0, 2});
  const std::vector<double> p0 = softmax_row({1.0, 2.0, 0.5});
  CHECK(reals(d.weights)[0] == Approx(p0[1] / (p0[1] + p0[0])));
  CHECK(reals(d.weights)[1] == Approx(p0[0] / (p0[1] + p0[0])));
  // c = (1, 1, 1) first choices of 3 tokens: l_aux = E sum (c_e / S) m_e = sum m_e = 1.
  CHECK(loss_value(d, "load_balancing") == Approx(1.0));

  // Random routing: the second expert stays with probability min(1, 2 g2). Logits (log 7, log 3, -inf-ish):
  // g1 = 0.7, g2 = 0.3 -> kept 60% of the time.
  Generator gen(5);
  GShardGate random(3, 3, {}, {.generator = &gen, .dtype = DType::f64});
  assign(random.router->weight, eye(3, DType::f64));
  const int64_t T = 4000;
  const Tensor x = expand(tensor_f64({std::log(7.0), std::log(3.0), -30.0}, {1, 3}), {T, 3});
  random.train();
  const std::vector<int64_t> e = ints(random.route(contiguous(x), Tensor()).experts);
  int64_t kept = 0;
  for (int64_t t = 0; t < T; ++t) {
    CHECK(e[2 * t] == 0);
    kept += e[2 * t + 1] == 1;
  }
  CHECK(static_cast<double>(kept) / T == Approx(0.6).margin(0.04));
  random.eval();  // no random routing at inference
  const std::vector<int64_t> e_eval = ints(random.route(contiguous(x), Tensor()).experts);
  CHECK(std::count(e_eval.begin(), e_eval.end(), 1) == T);
}

TEST_CASE("NoisyTopKGate: importance and load losses by hand (normal CDF)", "[moe][gate]") {
  Generator gen(11);
  NoisyTopKGate gate(3, 3, 1, {}, {.generator = &gen, .dtype = DType::f64});
  assign(gate.w_gate, eye(3, DType::f64));
  assign(gate.w_noise, eye(3, DType::f64) * 0.5);
  gate.train();
  const Tensor x = logits3();
  const GateDecision d = gate.route(x, Tensor());
  const std::vector<double> clean = reals(x), noise = reals(gate.last_noise());
  std::vector<double> importance(3, 0.0), load(3, 0.0);
  for (int t = 0; t < 3; ++t) {
    std::vector<double> noisy(3), sd(3);
    for (int e = 0; e < 3; ++e) {
      sd[e] = std::log1p(std::exp(0.5 * clean[t * 3 + e]));  // softplus(x W_noise)
      noisy[e] = clean[t * 3 + e] + noise[t * 3 + e] * sd[e];
    }
    const int best = std::max_element(noisy.begin(), noisy.end()) - noisy.begin();
    CHECK(ints(d.experts)[t] == best);
    importance[best] += 1.0;  // softmax over one kept logit = 1
    std::vector<double> sorted = noisy;
    std::sort(sorted.rbegin(), sorted.rend());
    for (int e = 0; e < 3; ++e) {
      // k = 1: the threshold is the best noisy logit of the others.
      const double threshold = e == best ? sorted[1] : sorted[0];
      load[e] += phi((clean[t * 3 + e] - threshold) / sd[e]);
    }
  }
  CHECK(loss_value(d, "importance") == Approx(cv2(importance)));
  CHECK(loss_value(d, "load") == Approx(cv2(load)));
  CHECK(loss_value(d, "load") > 0.0);

  // Zero-initialised, no noise (eval): every logit 0, ties to expert 0; importance (T, 0, 0).
  NoisyTopKGate fresh(3, 3, 1, {}, kF64);
  fresh.eval();
  const GateDecision z = fresh.route(x, Tensor());
  CHECK(ints(z.experts) == std::vector<int64_t>{0, 0, 0});
  CHECK(loss_value(z, "importance") == Approx(cv2({3, 0, 0})));
  CHECK(loss_value(z, "load") == Approx(cv2({3, 0, 0})));
}

TEST_CASE("Gates: gradients reach the routers (float64 gradient check)", "[moe][gate]") {
  const Tensor x = test::uniform_f64({5, 3}, 3);
  SECTION("softmax top-k weights and the load-balancing loss") {
    SoftmaxTopKGate gate(3, 4, 2, {.load_balancing_coefficient = 1.0}, kF64);
    auto f = [&](const std::vector<Tensor>& in) {
      gate.router->weight = in[0];
      const GateDecision d = gate.route(x, Tensor());
      return sum(d.weights * d.weights) + d.losses[0].value;
    };
    const GradcheckResult r = gradcheck(f, {test::grad_input({4, 3}, 4)});
    INFO(r.message);
    CHECK(r.ok);
  }
  SECTION("Switch: weight, load-balancing loss and z-loss") {
    SwitchGate gate(3, 4, {}, kF64);
    auto f = [&](const std::vector<Tensor>& in) {
      gate.router->weight = in[0];
      const GateDecision d = gate.route(x, Tensor());
      return sum(d.weights) + d.losses[0].value + d.losses[1].value;
    };
    const GradcheckResult r = gradcheck(f, {test::grad_input({4, 3}, 5)});
    INFO(r.message);
    CHECK(r.ok);
  }
  SECTION("noisy top-k: importance and the smooth load estimate, in both weight matrices") {
    Generator gen(3);
    NoisyTopKGate gate(3, 4, 2, {}, {.generator = &gen, .dtype = DType::f64});
    gate.train();
    auto f = [&](const std::vector<Tensor>& in) {
      gen.manual_seed(3);  // the same noise on every evaluation
      gate.w_gate = in[0];
      gate.w_noise = in[1];
      const GateDecision d = gate.route(x, Tensor());
      return sum(d.weights * d.weights) + d.losses[0].value + d.losses[1].value;
    };
    const GradcheckResult r = gradcheck(f, {test::grad_input({3, 4}, 6), test::grad_input({3, 4}, 7)});
    INFO(r.message);
    CHECK(r.ok);
  }
}

TEST_CASE("HashGate: deterministic, balanced over a vocabulary, needs token ids", "[moe][gate]") {
  HashGate gate(8, 1), same(8, 1), other(8, 2);
  std::vector<int64_t> ids(4000);
  for (int64_t i = 0; i < 4000; ++i) ids[i] = i * 7 + 3;
  const Tensor x = zeros({4000, 4});
  const std::vector<int64_t> a = ints(gate.route(x, from_vector(ids)).experts);
  CHECK(a == ints(gate.route(x, from_vector(ids)).experts));
  CHECK(a == ints(same.route(x, from_vector(ids)).experts));
  CHECK(a != ints(other.route(x, from_vector(ids)).experts));
  std::vector<int64_t> count(8, 0);
  for (int64_t e : a) ++count[e];
  for (int64_t c : count) CHECK(std::abs(c - 500) < 100);
  CHECK(gate.expert_of(3) == a[0]);
  CHECK_THROWS_WITH(gate.route(x, Tensor()), Catch::Contains("HashGate: routes on token ids"));
}

TEST_CASE("BaseGate: a balanced assignment in training, greedy top-1 at inference", "[moe][gate]") {
  BaseGate gate(4, 4, {}, kF64);
  // 12 tokens that all prefer expert 0 (and rank the others differently).
  const Tensor x = test::uniform_f64({12, 4}, 9, 0.0, 1.0) + tensor_f64({3.0, 0.0, 0.0, 0.0}, {1, 4});
  assign(gate.router->weight, eye(4, DType::f64));
  gate.train();
  const GateDecision d = gate.route(x, Tensor());
  std::vector<int64_t> count(4, 0);
  for (int64_t e : ints(d.experts)) ++count[e];
  CHECK(count == std::vector<int64_t>{3, 3, 3, 3});
  // The weight is sigmoid of the chosen affinity.
  const std::vector<double> xs = reals(x), w = reals(d.weights);
  for (int t = 0; t < 12; ++t)
    CHECK(w[t] == Approx(1.0 / (1.0 + std::exp(-xs[t * 4 + ints(d.experts)[t]]))));
  gate.eval();
  const std::vector<int64_t> greedy = ints(gate.route(x, Tensor()).experts);
  CHECK(std::count(greedy.begin(), greedy.end(), 0) == 12);
  // A clear case: the balanced optimum puts each token on its own best expert.
  const std::vector<int64_t> clear = balanced_assignment({5, 0, 0, /**/ 0, 5, 0, /**/ 0, 0, 5,
                                                          /**/ 4, 1, 0, /**/ 1, 4, 0, /**/ 0, 1, 4}, 6, 3, 8);
  CHECK(clear == std::vector<int64_t>{0, 1, 2, 0, 1, 2});
  // Uneven T: the first T mod E experts take one more.
  const std::vector<int64_t> uneven = balanced_assignment(std::vector<double>(7 * 3, 0.0), 7, 3, 8);
  CHECK(std::count(uneven.begin(), uneven.end(), 0) == 3);
  CHECK(std::count(uneven.begin(), uneven.end(), 1) == 2);
  CHECK(std::count(uneven.begin(), uneven.end(), 2) == 2);
}

TEST_CASE("ExpertChoiceGate: each expert takes exactly its top-c tokens by score", "[moe][gate]") {
  ExpertChoiceGate gate(4, 4, 1.0, kF64);
  assign(gate.router->weight, eye(4, DType::f64));
  const Tensor x = test::uniform_f64({10, 4}, 12, -2.0, 2.0) + tensor_f64({2.0, 0.0, 0.0, 0.0}, {1, 4});
  const GateDecision d = gate.route(x, Tensor());
  const int64_t c = gate.tokens_per_expert(10);
  CHECK(c == 3);  // ceil(10 * 1.0 / 4)
  const std::vector<int64_t> e = ints(d.experts);
  const std::vector<double> s = reals(d.weights);
  for (int64_t expert = 0; expert < 4; ++expert) {
    std::vector<std::pair<double, int64_t>> column;
    std::set<int64_t> chosen;
    for (int64_t t = 0; t < 10; ++t) {
      column.push_back({s[t * 4 + expert], t});
      if (e[t * 4 + expert] == expert) chosen.insert(t);
      else CHECK(e[t * 4 + expert] == -1);
    }
    CHECK(static_cast<int64_t>(chosen.size()) == c);
    std::sort(column.rbegin(), column.rend());
    for (int64_t j = 0; j < c; ++j) CHECK(chosen.count(column[j].second) == 1);
  }
  // The weights are the softmax scores.
  for (double row_sum : reals(sum(d.weights, {1}))) CHECK(row_sum == Approx(1.0));
}

TEST_CASE("LossFreeGate: bias selects but does not weight, and moves toward balance", "[moe][gate]") {
  LossFreeGate gate(4, 4, 1, {.bias_update_rate = 0.05}, kF64);
  assign(gate.router->weight, eye(4, DType::f64));
  // Skewed: most tokens prefer expert 0 by a small margin.
  const Tensor x = test::uniform_f64({64, 4}, 13, -0.5, 0.5) + tensor_f64({0.4, 0.0, 0.0, 0.0}, {1, 4});
  gate.train();
  auto load_cv = [&](const std::vector<int64_t>& experts) {
    std::vector<double> count(4, 0.0);
    for (int64_t e : experts) count[e] += 1;
    return std::sqrt(cv2(count));
  };
  const GateDecision first = gate.route(x, Tensor());
  const double cv_start = load_cv(ints(first.experts));
  std::vector<int64_t> start_count(4, 0);
  for (int64_t e : ints(first.experts)) ++start_count[e];
  gate.observe_load(start_count);
  // The overloaded expert's bias went down, the underloaded ones' up, by gamma.
  const std::vector<double> b = reals(gate.expert_bias);
  CHECK(b[0] == Approx(-0.05));
  for (int e = 1; e < 4; ++e) CHECK(b[e] == Approx(start_count[e] < 16 ? 0.05 : start_count[e] > 16 ? -0.05 : 0.0));
  double cv_end = cv_start;
  for (int step = 0; step < 40; ++step) {
    const GateDecision d = gate.route(x, Tensor());
    std::vector<int64_t> count(4, 0);
    for (int64_t e : ints(d.experts)) ++count[e];
    gate.observe_load(count);
    cv_end = load_cv(ints(d.experts));
  }
  CHECK(cv_start > 0.5);
  CHECK(cv_end < 0.5 * cv_start);
  // Weights come from the unbiased affinities: top-1 normalised over itself is 1.
  for (double w : reals(first.weights)) CHECK(w == Approx(1.0));
  // Eval: no update.
  gate.eval();
  const std::vector<double> before = reals(gate.expert_bias);
  gate.observe_load({64, 0, 0, 0});
  CHECK(reals(gate.expert_bias) == before);
}

TEST_CASE("Gates: k outside [1, E] is refused", "[moe][gate]") {
  CHECK_THROWS_WITH(SoftmaxTopKGate(4, 4, 5), Catch::Contains("SoftmaxTopKGate: k = 5 exceeds the number of experts E = 4"));
  CHECK_THROWS_WITH(SoftmaxTopKGate(4, 4, 0), Catch::Contains("SoftmaxTopKGate: k = 0"));
  CHECK_THROWS_WITH(NoisyTopKGate(4, 2, 3), Catch::Contains("k = 3 exceeds"));
  CHECK_THROWS_WITH(GShardGate(4, 1), Catch::Contains("GShardGate: k = 2 exceeds the number of experts E = 1"));
  CHECK_THROWS_WITH(ExpertChoiceGate(4, 4, 0.0), Catch::Contains("capacity factor must be positive"));
}
