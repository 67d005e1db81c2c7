// The recurrent layers' defining properties, beyond the PyTorch comparisons in
// test_layers_golden.cpp: the cells' equations written out by hand, the zero state equal to an
// explicit zero state, the LSTM equal to a loop over an LSTMCell with the same weights, lengths
// (a padded sequence behaves exactly as the unpadded one: same outputs, final state from its own
// last step, zeros at padded steps, no gradient into padded inputs), a float64 gradient check
// through the masked loop, PyTorch's parameter names and init bounds, and error messages.
#include <catch2/catch.hpp>

#include <cmath>

#include "engine/gradcheck.h"
#include "nn/nn.h"
#include "tests/engine/test_util.h"
#include "tests/nn/layer_test_util.h"

using namespace dg;
using namespace dg::nn;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

namespace {

using dg::nn_test::keys;
using dg::nn_test::kF64;

// Rows [k * H, (k + 1) * H) of a stacked gate matrix or vector.
Tensor gate(const Tensor& t, int64_t k, int64_t H) { return narrow(t, 0, k * H, H); }

}  // namespace

TEST_CASE("LSTMCell: PyTorch's gate order (i, f, g, o) and equations", "[nn][rnn]") {
  const int64_t H = 3;
  LSTMCell cell(2, H, true, kF64);
  const Tensor x = uniform_f64({4, 2}, 1), h = uniform_f64({4, H}, 2), c = uniform_f64({4, H}, 3);
  auto pre = [&](int64_t k) {
    return matmul(x, transpose(gate(cell.weight_ih, k, H), 0, 1)) + gate(cell.bias_ih, k, H) +
           matmul(h, transpose(gate(cell.weight_hh, k, H), 0, 1)) + gate(cell.bias_hh, k, H);
  };
  const Tensor i = sigmoid(pre(0)), f = sigmoid(pre(1)), g = tanh(pre(2)), o = sigmoid(pre(3));
  const Tensor c_next = f * c + i * g;
  const LSTMState next = cell(x, {h, c});
  CHECK(max_abs_diff(next.c, c_next) < 1e-14);
  CHECK(max_abs_diff(next.h, o * tanh(c_next)) < 1e-14);

  // An omitted state is the zero state (and is cheaper, not different).
  const Tensor zero = zeros({4, H}, DType::f64);
  const LSTMState from_nothing = cell(x), from_zeros = cell(x, {zero, zero});
  CHECK(max_abs_diff(from_nothing.h, from_zeros.h) < 1e-15);
  CHECK(max_abs_diff(from_nothing.c, from_zeros.c) < 1e-15);
}

TEST_CASE("GRUCell: PyTorch's gate order (r, z, n) and equations", "[nn][rnn]") {
  const int64_t H = 3;
  GRUCell cell(2, H, true, kF64);
  const Tensor x = uniform_f64({4, 2}, 4), h = uniform_f64({4, H}, 5);
  auto in = [&](int64_t k) { return matmul(x, transpose(gate(cell.weight_ih, k, H), 0, 1)) + gate(cell.bias_ih, k, H); };
  auto hid = [&](int64_t k) { return matmul(h, transpose(gate(cell.weight_hh, k, H), 0, 1)) + gate(cell.bias_hh, k, H); };
  const Tensor r = sigmoid(in(0) + hid(0)), z = sigmoid(in(1) + hid(1));
  const Tensor n = tanh(in(2) + r * hid(2));
  CHECK(max_abs_diff(cell(x, h), (1.0 - z) * n + z * h) < 1e-14);
  CHECK(max_abs_diff(cell(x), cell(x, zeros({4, H}, DType::f64))) < 1e-15);

  GRUCell no_bias(2, H, false, kF64);
  CHECK(keys(no_bias.state_dict()) == std::vector<std::string>{"weight_hh", "weight_ih"});
  CHECK(max_abs_diff(no_bias(x), no_bias(x, zeros({4, H}, DType::f64))) < 1e-15);
}

TEST_CASE("recurrent layers: PyTorch's parameter names, shapes and init bounds", "[nn][rnn]") {
  Generator gen(7);
  LSTMCell cell(10, 16, true, {.generator = &gen});
  CHECK(keys(cell.state_dict()) == std::vector<std::string>{"bias_hh", "bias_ih", "weight_hh", "weight_ih"});
  CHECK(cell.weight_ih.shape() == Shape{64, 10});
  CHECK(cell.weight_hh.shape() == Shape{64, 16});
  for (const Tensor& p : cell.parameters()) {
    CHECK(amax(abs(p)).item<float>() <= 0.25f);  // 1 / sqrt(16)
    CHECK(amax(abs(p)).item<float>() > 0.2f);
  }
  LSTM lstm(10, 16, {.num_layers = 2}, {.generator = &gen});
  CHECK(keys(lstm.state_dict()) ==
        std::vector<std::string>{"bias_hh_l0", "bias_hh_l1", "bias_ih_l0", "bias_ih_l1",
                                 "weight_hh_l0", "weight_hh_l1", "weight_ih_l0", "weight_ih_l1"});
  CHECK(lstm.weight_ih[1].shape() == Shape{64, 16});  // layer 1 reads layer 0's h
  CHECK(amax(abs(lstm.weight_ih[1])).item<float>() <= 0.25f);
  CHECK(GRUCell(3, 5).weight_hh.shape() == Shape{15, 5});
  LSTM no_bias(3, 4, {.bias = false});
  CHECK(keys(no_bias.state_dict()) == std::vector<std::string>{"weight_hh_l0", "weight_ih_l0"});
}

TEST_CASE("LSTM: equals a loop over an LSTMCell with the same weights, layer by layer", "[nn][rnn]") {
  const int64_t B = 3, T = 5, I = 4, H = 3;
  LSTM lstm(I, H, {.num_layers = 2}, kF64);
  LSTMCell cell0(I, H, true, kF64), cell1(H, H, true, kF64);
  auto copy_layer = [&](LSTMCell& cell, int l) {
    cell.load_state_dict({{"weight_ih", lstm.weight_ih[l]}, {"weight_hh", lstm.weight_hh[l]},
                          {"bias_ih", lstm.bias_ih[l]}, {"bias_hh", lstm.bias_hh[l]}});
  };
  copy_layer(cell0, 0);
  copy_layer(cell1, 1);
  const Tensor x = uniform_f64({B, T, I}, 8);
  const Tensor h0 = uniform_f64({2, B, H}, 9), c0 = uniform_f64({2, B, H}, 10);
  const LSTMOutput out = lstm(x, Tensor(), {h0, c0});
  REQUIRE(out.output.shape() == Shape{B, T, H});
  REQUIRE(out.final.h.shape() == Shape{2, B, H});

  LSTMState s0{select(h0, 0, 0), select(c0, 0, 0)}, s1{select(h0, 0, 1), select(c0, 0, 1)};
  for (int64_t t = 0; t < T; ++t) {
    s0 = cell0(select(x, 1, t), s0);
    s1 = cell1(s0.h, s1);
    CHECK(max_abs_diff(select(out.output, 1, t), s1.h) < 1e-14);
  }
  CHECK(max_abs_diff(select(out.final.h, 0, 0), s0.h) < 1e-14);
  CHECK(max_abs_diff(select(out.final.c, 0, 1), s1.c) < 1e-14);
}

TEST_CASE("LSTM: with lengths, each sequence behaves exactly as if run alone, unpadded", "[nn][rnn]") {
  const int64_t B = 3, T = 6, I = 2, H = 4;
  LSTM lstm(I, H, {.num_layers = 2}, kF64);
  const std::vector<int64_t> len{6, 2, 4};
  const Tensor x = uniform_f64({B, T, I}, 12).set_requires_grad(true);
  const LSTMOutput out = lstm(x, tensor_i64({6, 2, 4}));
  for (int64_t b = 0; b < B; ++b) {
    const Tensor alone_x = narrow(narrow(x, 0, b, 1), 1, 0, len[b]);  // [1, len, I]
    const LSTMOutput alone = lstm(alone_x);
    CHECK(max_abs_diff(narrow(narrow(out.output, 0, b, 1), 1, 0, len[b]), alone.output) < 1e-14);
    CHECK(max_abs_diff(narrow(out.final.h, 1, b, 1), alone.final.h) < 1e-14);
    CHECK(max_abs_diff(narrow(out.final.c, 1, b, 1), alone.final.c) < 1e-14);
    // Padded steps output exactly zero.
    if (len[b] < T) {
      const Tensor padded = narrow(narrow(out.output, 0, b, 1), 1, len[b], T - len[b]);
      CHECK(amax(abs(padded)).item<double>() == 0.0);
    }
  }
  // Padded inputs cannot influence anything: their gradient is zero.
  sum(out.output).backward(Tensor(), true);
  sum(out.final.h + out.final.c).backward();
  const Tensor gx = x.grad();
  CHECK(amax(abs(narrow(narrow(gx, 0, 1, 1), 1, 2, 4))).item<double>() == 0.0);
  CHECK(amax(abs(narrow(narrow(gx, 0, 2, 1), 1, 4, 2))).item<double>() == 0.0);
  CHECK(amax(abs(narrow(narrow(gx, 0, 1, 1), 1, 0, 2))).item<double>() > 0.0);
}

TEST_CASE("LSTM: zero lengths keep the initial state; no lengths equals full lengths", "[nn][rnn]") {
  LSTM lstm(2, 3, {}, kF64);
  const Tensor x = uniform_f64({2, 4, 2}, 13);
  const Tensor h0 = uniform_f64({1, 2, 3}, 14), c0 = uniform_f64({1, 2, 3}, 15);
  const LSTMOutput none = lstm(x, tensor_i64({0, 0}), {h0, c0});
  CHECK(max_abs_diff(none.final.h, h0) == 0.0);
  CHECK(max_abs_diff(none.final.c, c0) == 0.0);
  CHECK(none.output.shape() == Shape{2, 4, 3});
  CHECK(amax(abs(none.output)).item<double>() == 0.0);
  const LSTMOutput full = lstm(x, tensor_i64({4, 4})), plain = lstm(x);
  CHECK(max_abs_diff(full.output, plain.output) == 0.0);
  CHECK(max_abs_diff(full.final.c, plain.final.c) == 0.0);
}

TEST_CASE("LSTM: float64 gradient check through the masked loop (inputs and initial state)", "[nn][rnn]") {
  LSTM lstm(2, 3, {.num_layers = 2}, kF64);
  const Tensor lengths = tensor_i64({3, 1});
  auto f = [&](const std::vector<Tensor>& in) {
    const LSTMOutput out = lstm(in[0], lengths, {in[1], in[2]});
    return cat({reshape(out.output, {-1}), reshape(out.final.h, {-1}), reshape(out.final.c, {-1})});
  };
  const std::vector<Tensor> inputs{test::grad_input({2, 3, 2}, 16), test::grad_input({2, 2, 3}, 17),
                                   test::grad_input({2, 2, 3}, 18)};
  const GradcheckResult result = gradcheck(f, inputs);
  INFO(result.message);
  CHECK(result.ok);
}

TEST_CASE("LSTM: dropout between layers only in training, reproducible with a generator", "[nn][rnn]") {
  Generator g1(3), g2(3);
  LSTM a(2, 4, {.num_layers = 2, .dropout = 0.5, .dropout_generator = &g1}, kF64);
  LSTM b(2, 4, {.num_layers = 2, .dropout = 0.5, .dropout_generator = &g2}, kF64);
  b.load_state_dict(a.state_dict());
  const Tensor x = uniform_f64({3, 5, 2}, 19);
  const Tensor train_a = a(x).output, train_b = b(x).output;
  CHECK(max_abs_diff(train_a, train_b) == 0.0);
  a.eval();
  const Tensor eval_a = a(x).output;
  CHECK(max_abs_diff(eval_a, a(x).output) == 0.0);
  CHECK(max_abs_diff(eval_a, train_a) > 1e-3);  // dropout changed the training output
}

TEST_CASE("recurrent layers: error messages name the layer and the shapes", "[nn][rnn]") {
  LSTMCell cell(3, 2);
  CHECK_THROWS_WITH(cell(zeros({4, 5})), Catch::Contains("LSTMCell: expected input [B, 3], got [4,5]"));
  CHECK_THROWS_WITH(cell(zeros({4, 3}), {zeros({4, 3}), Tensor()}),
                    Catch::Contains("LSTMCell: h has shape [4,3], expected [4,2]"));
  CHECK_THROWS_WITH(cell(zeros({4, 3}, DType::f64)),
                    Catch::Contains("LSTMCell: input [4,3] has dtype f64 but the parameters are f32"));
  GRUCell gru(3, 2);
  CHECK_THROWS_WITH(gru(zeros({3})), Catch::Contains("GRUCell: expected input [B, 3], got [3]"));
  LSTM lstm(3, 2, {.num_layers = 2});
  CHECK_THROWS_WITH(lstm(zeros({4, 3})), Catch::Contains("LSTM: expected a batch-first input [B, T, 3], got [4,3]"));
  CHECK_THROWS_WITH(lstm(zeros({2, 5, 3}), tensor({1, 2})),
                    Catch::Contains("LSTM: lengths of shape [2] has dtype f32, expected i64"));
  CHECK_THROWS_WITH(lstm(zeros({2, 5, 3}), tensor_i64({1, 6})),
                    Catch::Contains("LSTM: lengths[1] = 6 is outside [0, T] = [0, 5]"));
  CHECK_THROWS_WITH(lstm(zeros({2, 5, 3}), tensor_i64({1, 2, 3})),
                    Catch::Contains("LSTM: lengths has shape [3], expected [B] = [2]"));
  CHECK_THROWS_WITH(lstm(zeros({2, 5, 3}), Tensor(), {zeros({1, 2, 2}), Tensor()}),
                    Catch::Contains("LSTM: initial h has shape [1,2,2], expected [2,2,2]"));
  CHECK_THROWS_WITH(LSTM(3, 2, {.num_layers = 0}), Catch::Contains("LSTM: num_layers must be at least 1"));
}
