// VCRNN (dynamic/vcrnn.h): the mask by hand (a falling prefix, exact 0 and 1 outside the band);
// the step equals the masked full-width update computed with every unit; a step computes only its
// prefix of units (unit_rows and the FLOP counter); a batch equals each sample alone with its
// gradients; the scheduler learns from the penalty.
#include <catch2/catch.hpp>

#include <cmath>

#include "dynamic/vcrnn.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "tests/dynamic/dynamic_test_util.h"

using namespace dg;
using namespace dg::dynamic;
using dg::dynamic_test::assign;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

namespace {

Generator g_params(31);
const nn::ParamOptions kF64{.generator = &g_params, .dtype = DType::f64};

// The scheduler outputs m = sigmoid(logit) for every input.
void force_schedule(VCRNN& rnn, double logit) {
  assign(rnn.scheduler->weight, zeros_like(rnn.scheduler->weight));
  assign(rnn.scheduler->bias, full_like(rnn.scheduler->bias, logit));
}

// The definition, every unit computed: h = e * tanh(W x + U h + b) + (1 - e) * h.
Tensor reference_h(VCRNN& rnn, const Tensor& x) {
  const int64_t B = x.shape()[0], T = x.shape()[1];
  Tensor h = zeros({B, rnn.hidden_size}, DType::f64);
  for (int64_t t = 0; t < T; ++t) {
    const Tensor x_t = select(x, 1, t);
    const Tensor m = sigmoid(rnn.scheduler->forward(cat({x_t, h}, 1)));
    const Tensor e = vcrnn_mask(m, rnn.hidden_size, rnn.options.sharpness, rnn.options.epsilon);
    const Tensor cand = tanh(linear(x_t, rnn.weight_ih, rnn.bias) + linear(h, rnn.weight_hh));
    h = e * cand + (1.0 - e) * h;
  }
  return h;
}

}  // namespace

TEST_CASE("vcrnn_mask: a falling prefix, exact outside the band", "[dynamic][skim]") {
  const Tensor m = tensor_f64({0.5, 0.0, 1.0}, {3, 1});
  const auto e = vcrnn_mask(m, 10, 5.0, 0.01).to_vector<double>();
  for (int64_t i = 0; i < 10; ++i) {
    const double soft = 1.0 / (1.0 + std::exp(-5.0 * (5.0 - (i + 1))));
    const double expected = soft < 0.01 ? 0.0 : soft > 0.99 ? 1.0 : soft;
    CHECK(e[i] == Approx(expected).epsilon(1e-12));
    if (i > 0) CHECK(e[i] <= e[i - 1]);
    CHECK(e[10 + i] == 0.0);  // m = 0: nothing updates
  }
  CHECK(e[20 + 8] == 1.0);    // m = 1: the units well inside the prefix are 1 exactly
}

TEST_CASE("VCRNN: equals the masked update with every unit computed; a batch equals each sample "
          "alone, with gradients", "[dynamic][skim]") {
  g_params.manual_seed(1);
  const int64_t B = 5, T = 6, I = 3, D = 20;
  VCRNN rnn(I, D, {.sharpness = 2.0, .unit_block = 4, .return_sequence = true}, kF64);
  assign(rnn.scheduler->weight, uniform_f64(rnn.scheduler->weight.shape(), 2, -3.0, 3.0));
  const Tensor x = uniform_f64({B, T, I}, 3, -2.0, 2.0);
  const VCRNNOutput out = rnn.forward(x);
  CHECK(max_abs_diff(out.h, reference_h(rnn, x)) < 1e-12);
  CHECK(out.unit_rows < B * T * D);  // some prefixes were short
  CHECK(out.unit_rows > 0);

  const Tensor v = uniform_f64({B, T, D}, 4);
  const auto params = rnn.parameters();
  sum(out.output * v).backward();
  std::vector<Tensor> batched;
  for (Tensor p : params) {
    batched.push_back(p.grad().clone());
    p.zero_grad();
  }
  int64_t units = 0;
  for (int64_t b = 0; b < B; ++b) {
    const VCRNNOutput one = rnn.forward(narrow(x, 0, b, 1));
    sum(one.output * narrow(v, 0, b, 1)).backward();
    CHECK(max_abs_diff(one.output, narrow(out.output, 0, b, 1)) < 1e-12);
    units += one.unit_rows;
  }
  CHECK(units == out.unit_rows);
  for (size_t i = 0; i < params.size(); ++i) {
    INFO("parameter " << i);
    CHECK(max_abs_diff(batched[i], params[i].grad()) < 1e-10);
  }
  CHECK(amax(abs(rnn.scheduler->weight.grad())).item<double>() > 0.0);
}

TEST_CASE("VCRNN: a step computes only its prefix of units", "[dynamic][skim]") {
  g_params.manual_seed(2);
  const int64_t B = 4, T = 5, I = 6, D = 32;
  VCRNN rnn(I, D, {.unit_block = 8}, kF64);
  const Tensor x = uniform_f64({B, T, I}, 5);
  NoGradGuard no_grad;
  force_schedule(rnn, 30.0);  // m = 1: every unit
  FlopScope all_scope;
  const VCRNNOutput all = rnn.forward(x);
  const int64_t all_flops = all_scope.count();
  CHECK(all.unit_rows == B * T * D);
  force_schedule(rnn, std::log(0.2 / 0.8));  // m = 0.2: units 1 .. 6 or 7 nonzero: a prefix of 8
  FlopScope few_scope;
  const VCRNNOutput few = rnn.forward(x);
  const int64_t few_flops = few_scope.count();
  CHECK(few.unit_rows == B * T * 8);
  // The two products alone differ by (32 - 8) units x (I + D) multiply-adds per row and step.
  CHECK(all_flops - few_flops >= T * B * (D - 8) * (I + D));
  CHECK_THROWS_AS(VCRNN(3, 4, {.epsilon = 0.5}), Error);
  CHECK_THROWS_WITH(rnn.forward(zeros({2, 3, 5}, DType::f64)), Catch::Contains("VCRNN"));
  CHECK(vcrnn_penalty(few.m, 0.5).item<double>() == Approx(0.5 * 0.2).epsilon(1e-9));
}
