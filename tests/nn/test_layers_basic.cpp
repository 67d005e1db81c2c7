// The feed-forward layers' defining properties, beyond the PyTorch comparisons in
// test_layers_golden.cpp: default initialisation bounds and reproducibility, parameter names and
// shapes, Linear/Conv2d against their defining formulas, batch norm's train/eval behaviour and
// counters, Embedding's padding row, Dropout (identity in eval, seeded in training), Sequential's
// chaining and child names, the activations, and the error messages for common mistakes.
#include <catch2/catch.hpp>

#include <cmath>

#include "nn/nn.h"
#include "tests/engine/test_util.h"
#include "tests/nn/layer_test_util.h"

using namespace dg;
using namespace dg::nn;
using dg::test::max_abs_diff;

using dg::nn_test::keys;
using dg::nn_test::kF64;

TEST_CASE("Linear: PyTorch's names, shapes and init bounds; forward is x W^T + b", "[nn]") {
  Generator gen(1);
  Linear layer(64, 32, true, {.generator = &gen});
  CHECK(keys(layer.state_dict()) == std::vector<std::string>{"bias", "weight"});
  CHECK(layer.weight.shape() == Shape{32, 64});
  CHECK(layer.bias.shape() == Shape{32});
  CHECK(layer.weight.requires_grad());
  const double bound = 1.0 / std::sqrt(64.0);
  CHECK(amax(abs(layer.weight)).item<float>() <= bound);
  CHECK(amax(abs(layer.weight)).item<float>() > 0.9 * bound);  // spread over the whole range
  CHECK(amax(abs(layer.bias)).item<float>() <= bound);
  CHECK(amax(abs(layer.bias)).item<float>() > 0.5 * bound);

  // The same seed gives the same parameters; another seed does not.
  Generator same(1), other(2);
  Linear twin(64, 32, true, {.generator = &same}), different(64, 32, true, {.generator = &other});
  CHECK(max_abs_diff(twin.weight, layer.weight) == 0.0);
  CHECK(max_abs_diff(different.weight, layer.weight) > 0.0);

  Linear small(3, 2, true, kF64);
  const Tensor x = test::uniform_f64({4, 3}, 5);
  const Tensor expected = matmul(x, transpose(small.weight, 0, 1)) + small.bias;
  CHECK(max_abs_diff(small(x), expected) < 1e-14);
  // Leading dims are kept: [2, 4, 3] -> [2, 4, 2].
  CHECK(small(test::uniform_f64({2, 4, 3}, 6)).shape() == Shape{2, 4, 2});

  Linear no_bias(3, 2, false);
  CHECK(keys(no_bias.state_dict()) == std::vector<std::string>{"weight"});
  CHECK_FALSE(no_bias.bias.defined());
  CHECK(no_bias.to_string() == "Linear(in_features=3, out_features=2, bias=False)\n");
  CHECK_THROWS_WITH(Linear(0, 2), Catch::Contains("Linear: in_features and out_features must be positive"));
}

TEST_CASE("Conv2d: PyTorch's names, shapes and init bounds; groups and geometry", "[nn]") {
  Generator gen(3);
  Conv2d conv(8, 16, 3, {.stride = {2, 2}, .padding = {1, 1}, .groups = 2}, true, {.generator = &gen});
  CHECK(keys(conv.state_dict()) == std::vector<std::string>{"bias", "weight"});
  CHECK(conv.weight.shape() == Shape{16, 4, 3, 3});  // in_channels / groups
  const double bound = 1.0 / std::sqrt(4.0 * 9.0);   // fan_in = (8 / 2) * 3 * 3
  CHECK(amax(abs(conv.weight)).item<float>() <= bound);
  CHECK(amax(abs(conv.weight)).item<float>() > 0.9 * bound);
  CHECK(amax(abs(conv.bias)).item<float>() <= bound);
  CHECK(conv(zeros({2, 8, 9, 9})).shape() == Shape{2, 16, 5, 5});
  CHECK(conv.to_string() ==
        "Conv2d(8, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), groups=2)\n");

  Conv2d rect(2, 3, {3, 1}, {}, false);
  CHECK(rect.weight.shape() == Shape{3, 2, 3, 1});
  CHECK(keys(rect.state_dict()) == std::vector<std::string>{"weight"});
  CHECK_THROWS_WITH(Conv2d(6, 4, 3, {.groups = 4}),
                    Catch::Contains("Conv2d: groups=4 must divide both in_channels=6 and out_channels=4"));
}

TEST_CASE("Conv2d: a 1x1 convolution is a Linear over the channels", "[nn]") {
  Conv2d conv(3, 4, 1, {}, true, kF64);
  const Tensor x = test::uniform_f64({2, 3, 5, 5}, 11);
  // out[n, o, h, w] = sum_c W[o, c] x[n, c, h, w] + b[o]
  const Tensor w = reshape(conv.weight, {4, 3});
  const Tensor expected = permute(matmul(permute(x, {0, 2, 3, 1}), transpose(w, 0, 1)) + conv.bias,
                                  {0, 3, 1, 2});
  CHECK(max_abs_diff(conv(x), expected) < 1e-13);
}

TEST_CASE("ConvFactory: the default makes bias-free Conv2d layers from a spec", "[nn]") {
  ConvFactory factory = conv2d_factory();
  auto made = factory({.in_channels = 4, .out_channels = 8, .kernel_size = 3, .stride = 2, .padding = 1, .groups = 2});
  auto* conv = dynamic_cast<Conv2d*>(made.get());
  REQUIRE(conv != nullptr);
  CHECK(conv->weight.shape() == Shape{8, 2, 3, 3});
  CHECK_FALSE(conv->bias.defined());
  CHECK(conv->geometry.stride == std::array<int64_t, 2>{2, 2});
  CHECK(conv->geometry.padding == std::array<int64_t, 2>{1, 1});
}

TEST_CASE("BatchNorm2d: buffers, train/eval statistics and num_batches_tracked", "[nn]") {
  BatchNorm2d bn(3, {}, kF64);
  CHECK(keys(bn.state_dict()) == std::vector<std::string>{"bias", "num_batches_tracked", "running_mean",
                                                          "running_var", "weight"});
  CHECK(bn.num_parameters() == 6);
  CHECK(bn.num_batches_tracked.dtype() == DType::i64);
  CHECK(bn.num_batches_tracked.shape() == Shape{});
  CHECK(bn.weight.to_vector<double>() == std::vector<double>{1, 1, 1});
  CHECK(bn.running_var.to_vector<double>() == std::vector<double>{1, 1, 1});

  const Tensor x = test::uniform_f64({4, 3, 2, 2}, 21, -2.0, 3.0);
  const Tensor y = bn(x);
  // Training: each channel of the output has mean 0 and (population) variance 1.
  const auto channel_mean = mean(y, {0, 2, 3}).to_vector<double>();
  const auto channel_var = var(y, {0, 2, 3}, /*correction=*/0).to_vector<double>();
  for (int c = 0; c < 3; ++c) {
    CHECK(channel_mean[c] == Approx(0.0).margin(1e-12));
    CHECK(channel_var[c] == Approx(1.0).epsilon(1e-4));  // eps = 1e-5 in the denominator
  }
  CHECK(bn.num_batches_tracked.item<int64_t>() == 1);
  // running = 0.9 * running + 0.1 * batch statistic (unbiased variance).
  const Tensor batch_mean = mean(x, {0, 2, 3});
  const Tensor batch_var = var(x, {0, 2, 3}, /*correction=*/1);
  CHECK(max_abs_diff(bn.running_mean, batch_mean * 0.1) < 1e-14);
  CHECK(max_abs_diff(bn.running_var, batch_var * 0.1 + 0.9) < 1e-14);

  // Eval: the running statistics are used and nothing is updated.
  bn.eval();
  const Tensor expected = (x - reshape(bn.running_mean, {1, 3, 1, 1})) /
                          sqrt(reshape(bn.running_var, {1, 3, 1, 1}) + 1e-5);
  CHECK(max_abs_diff(bn(x), expected) < 1e-13);
  CHECK(bn.num_batches_tracked.item<int64_t>() == 1);

  bn.reset_running_stats();
  CHECK(bn.running_mean.to_vector<double>() == std::vector<double>{0, 0, 0});
  CHECK(bn.num_batches_tracked.item<int64_t>() == 0);
}

TEST_CASE("BatchNorm2d: momentum None averages all batches; no running stats means batch stats", "[nn]") {
  BatchNorm2d cumulative(2, {.momentum = std::nullopt}, kF64);
  const Tensor a = test::uniform_f64({3, 2, 2, 2}, 31), b = test::uniform_f64({3, 2, 2, 2}, 32, 1.0, 4.0);
  cumulative(a);
  cumulative(b);
  // The running mean is the plain average of the two batch means.
  CHECK(max_abs_diff(cumulative.running_mean, (mean(a, {0, 2, 3}) + mean(b, {0, 2, 3})) * 0.5) < 1e-14);
  CHECK(cumulative.num_batches_tracked.item<int64_t>() == 2);

  BatchNorm2d stateless(2, {.affine = false, .track_running_stats = false}, kF64);
  CHECK(stateless.state_dict().empty());
  stateless.eval();
  CHECK(std::abs(mean(stateless(b)).item<double>()) < 1e-12);  // still normalised by its own batch

  CHECK_THROWS_WITH(cumulative(zeros({2, 2, 3}, DType::f64)),
                    Catch::Contains("BatchNorm2d: expected a 4-D input [N, C, H, W], got [2,2,3]"));
  CHECK_THROWS_WITH(cumulative(zeros({2, 5, 3, 3}, DType::f64)),
                    Catch::Contains("BatchNorm2d: input [2,5,3,3] has 5 channels but the layer was built for 2"));
}

TEST_CASE("LayerNorm: identity init; normalises each sample over the trailing dims", "[nn]") {
  LayerNorm ln(Shape{2, 3}, 1e-5, true, kF64);
  CHECK(keys(ln.state_dict()) == std::vector<std::string>{"bias", "weight"});
  CHECK(ln.weight.shape() == Shape{2, 3});
  const Tensor y = ln(test::uniform_f64({4, 2, 3}, 41, -3.0, 5.0));
  for (double m : mean(y, {1, 2}).to_vector<double>()) CHECK(m == Approx(0.0).margin(1e-12));
  for (double v : var(y, {1, 2}, 0).to_vector<double>()) CHECK(v == Approx(1.0).epsilon(1e-4));
  LayerNorm plain(5, 1e-5, false);
  CHECK(plain.state_dict().empty());
}

TEST_CASE("Embedding: N(0, 1) init, zero padding row without gradient, lookups", "[nn]") {
  Generator gen(5);
  Embedding big(1000, 64, std::nullopt, {.generator = &gen});
  CHECK(mean(big.weight).item<float>() == Approx(0.0).margin(0.01));
  CHECK(dg::std(big.weight).item<float>() == Approx(1.0).epsilon(0.02));

  Embedding emb(6, 3, -1, kF64);  // -1 is the last row, as in PyTorch
  REQUIRE(emb.padding_idx == 5);
  CHECK(select(emb.weight, 0, 5).to_vector<double>() == std::vector<double>{0, 0, 0});
  const Tensor idx = tensor_i64({1, 5, 1, 2}, {2, 2});
  const Tensor out = emb(idx);
  CHECK(out.shape() == Shape{2, 2, 3});
  CHECK(max_abs_diff(select(select(out, 0, 1), 0, 0), select(emb.weight, 0, 1)) == 0.0);
  sum(out).backward();
  const Tensor g = emb.weight.grad();
  CHECK(select(g, 0, 1).to_vector<double>() == std::vector<double>{2, 2, 2});  // used twice
  CHECK(select(g, 0, 5).to_vector<double>() == std::vector<double>{0, 0, 0});  // padding
  CHECK(select(g, 0, 0).to_vector<double>() == std::vector<double>{0, 0, 0});  // unused
  CHECK_THROWS_WITH(Embedding(4, 2, 4), Catch::Contains("padding_idx 4 is out of range for 4 embeddings"));
  CHECK_THROWS_WITH(emb(tensor_i64({0, 6})), Catch::Contains("out of range"));
}

TEST_CASE("Dropout: identity in eval; zeroes about p and rescales in training; seeded", "[nn]") {
  Generator gen(9);
  Dropout drop(0.25, &gen);
  const Tensor x = ones({200, 50});
  drop.eval();
  CHECK(drop(x).same(x));  // no copy, no mask
  drop.train();
  const Tensor y = drop(x);
  const auto v = y.to_vector<float>();
  int64_t zeros_seen = 0;
  for (float e : v) {
    CHECK((e == 0.0f || e == Approx(1.0f / 0.75f)));
    zeros_seen += e == 0.0f;
  }
  CHECK(static_cast<double>(zeros_seen) / v.size() == Approx(0.25).margin(0.02));
  Generator again(9);
  Dropout twin(0.25, &again);
  CHECK(max_abs_diff(twin(x), y) == 0.0);
  CHECK_THROWS_WITH(Dropout(1.5), Catch::Contains("Dropout: probability p must be in [0, 1], got 1.5"));
}

TEST_CASE("Sequential: chains its modules and names them 0, 1, ...", "[nn]") {
  Generator gen(4);
  auto first = std::make_shared<Linear>(4, 8, true, ParamOptions{.generator = &gen, .dtype = DType::f64});
  auto second = std::make_shared<Linear>(8, 2, true, ParamOptions{.generator = &gen, .dtype = DType::f64});
  Sequential net{first, std::make_shared<ReLU>(), second};
  CHECK(net.size() == 3);
  CHECK(keys(net.state_dict()) == std::vector<std::string>{"0.bias", "0.weight", "2.bias", "2.weight"});
  const Tensor x = test::uniform_f64({5, 4}, 51);
  CHECK(max_abs_diff(net(x), (*second)(relu((*first)(x)))) == 0.0);
  net.push_back(std::make_shared<Tanh>());
  CHECK(net.named_children().back().first == "3");
  CHECK(net[3]->type_name() == "Tanh");
  CHECK(net.to_string() ==
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Linear(in_features=8, out_features=2, bias=True)\n"
        "  (3): Tanh()\n"
        ")\n");
  // Children follow the container's mode.
  net.eval();
  CHECK_FALSE(net[0]->is_training());
  CHECK_THROWS_WITH(net.push_back(nullptr), Catch::Contains("child module '4' is null"));
}

TEST_CASE("activation modules compute their functions", "[nn]") {
  const Tensor x = tensor_f64({-7.0, -1.0, -0.25, 0.0, 0.5, 3.0, 8.0});
  CHECK(ReLU()(x).to_vector<double>() == std::vector<double>{0, 0, 0, 0, 0.5, 3, 8});
  CHECK(ReLU6()(x).to_vector<double>() == std::vector<double>{0, 0, 0, 0, 0.5, 3, 6});
  CHECK(LeakyReLU(0.1)(x).to_vector<double>()[0] == Approx(-0.7));
  CHECK(max_abs_diff(GELU()(x), gelu(x)) == 0.0);
  CHECK(max_abs_diff(GELU(GeluApprox::tanh)(x), gelu(x, GeluApprox::tanh)) == 0.0);
  CHECK(max_abs_diff(SiLU()(x), x * sigmoid(x)) < 1e-15);
  CHECK(max_abs_diff(Tanh()(x), tanh(x)) == 0.0);
  CHECK(max_abs_diff(Sigmoid()(x), sigmoid(x)) == 0.0);
  CHECK(Identity()(x).same(x));
  CHECK(Flatten()(zeros({2, 3, 4, 5})).shape() == Shape{2, 60});
  CHECK(Flatten(0, 1)(zeros({2, 3, 4})).shape() == Shape{6, 4});
  CHECK(GELU(GeluApprox::tanh).to_string() == "GELU(approximate='tanh')\n");
}
