// Module: hierarchical names, state dicts (round trip; missing, unexpected and mis-shaped entries
// rejected with nothing modified), train/eval propagation, apply, removing a child, parameter
// counts, printing; and the init helpers' distributions.
#include <catch2/catch.hpp>

#include <cmath>

#include "engine/ops/ops.h"
#include "nn/init.h"
#include "nn/module.h"

using namespace dg;
using namespace dg::nn;

namespace {

class Affine : public Module {
 public:
  Affine(int64_t in, int64_t out) {
    weight = register_parameter("weight", zeros({out, in}));
    bias = register_parameter("bias", zeros({out}));
  }
  std::string type_name() const override { return "Affine"; }
  Tensor weight, bias;
};

class Block : public Module {
 public:
  Block() {
    first = register_module("first", std::make_shared<Affine>(2, 3));
    second = register_module("second", std::make_shared<Affine>(3, 1));
    steps = register_buffer("steps", zeros({}, DType::i64));
  }
  std::string type_name() const override { return "Block"; }
  std::shared_ptr<Affine> first, second;
  Tensor steps;
};

class Net : public Module {
 public:
  Net() {
    layer = register_module("layer", std::make_shared<Block>());
    scale = register_parameter("scale", ones({1}));
  }
  std::shared_ptr<Block> layer;
  Tensor scale;
};

std::vector<std::string> names(const Module::NamedTensors& entries) {
  std::vector<std::string> out;
  for (const auto& [n, _] : entries) out.push_back(n);
  return out;
}

}  // namespace

TEST_CASE("module: hierarchical parameter and buffer names in registration order") {
  Net net;
  CHECK(names(net.named_parameters()) == std::vector<std::string>{
      "scale", "layer.first.weight", "layer.first.bias", "layer.second.weight", "layer.second.bias"});
  CHECK(names(net.named_parameters(false)) == std::vector<std::string>{"scale"});
  CHECK(names(net.named_buffers()) == std::vector<std::string>{"layer.steps"});
  CHECK(net.num_parameters() == 1 + 6 + 3 + 3 + 1);
  for (const Tensor& p : net.parameters()) CHECK(p.requires_grad());
  std::vector<std::string> module_names;
  for (auto& [n, _] : net.named_modules()) module_names.push_back(n);
  CHECK(module_names == std::vector<std::string>{"", "layer", "layer.first", "layer.second"});
}

TEST_CASE("module: the registered tensor and the member are the same tensor") {
  Net net;
  net.load_state_dict([&] {
    StateDict s = net.state_dict();
    s["layer.first.bias"] = tensor({1, 2, 3});
    return s;
  }());
  CHECK(net.layer->first->bias.to_vector<float>() == std::vector<float>{1, 2, 3});
  CHECK(net.layer->first->bias.requires_grad());
}

TEST_CASE("module: state_dict round trip between two instances") {
  Net a, b;
  {
    NoGradGuard no_grad;
    a.layer->first->weight.copy_(arange(0.0, 6.0, 1.0, DType::f32).reshape({3, 2}));
    a.layer->steps.fill_(7);
  }
  b.load_state_dict(a.state_dict());
  CHECK(b.layer->first->weight.to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4, 5});
  CHECK(b.layer->steps.item<int64_t>() == 7);
  // The state dict holds detached handles, not copies; loading copies values.
  CHECK(a.state_dict().at("scale").storage() == a.scale.storage());
  CHECK(b.scale.storage() != a.scale.storage());
}

TEST_CASE("module: load_state_dict rejects bad input and modifies nothing") {
  Net net;
  const auto before = net.layer->first->weight.to_vector<float>();

  StateDict missing = net.state_dict();
  missing.erase("layer.second.bias");
  missing["scale"] = full({1}, 5.0);
  CHECK_THROWS_WITH(net.load_state_dict(missing), Catch::Contains("missing keys: layer.second.bias"));
  CHECK(net.scale.item<float>() == 1.0f);  // nothing was loaded

  StateDict unexpected = net.state_dict();
  unexpected["layer.third.weight"] = zeros({1});
  CHECK_THROWS_WITH(net.load_state_dict(unexpected), Catch::Contains("unexpected keys: layer.third.weight"));
  CHECK_NOTHROW(net.load_state_dict(unexpected, /*strict=*/false));

  StateDict misshaped = net.state_dict();
  misshaped["layer.first.weight"] = ones({2, 3});
  CHECK_THROWS_WITH(net.load_state_dict(misshaped),
                    Catch::Contains("'layer.first.weight': checkpoint has f32 [2,3], module has f32 [3,2]"));
  StateDict wrong_dtype = net.state_dict();
  wrong_dtype["scale"] = ones({1}, DType::f64);
  CHECK_THROWS_WITH(net.load_state_dict(wrong_dtype), Catch::Contains("'scale': checkpoint has f64 [1]"));
  CHECK(net.layer->first->weight.to_vector<float>() == before);
}

TEST_CASE("module: train/eval propagate to every descendant; apply visits children first") {
  Net net;
  net.eval();
  CHECK_FALSE(net.is_training());
  CHECK_FALSE(net.layer->second->is_training());
  net.train();
  CHECK(net.layer->first->is_training());
  std::vector<std::string> order;
  net.apply([&](Module& m) { order.push_back(m.type_name()); });
  CHECK(order == std::vector<std::string>{"Affine", "Affine", "Block", "Module"});
}

TEST_CASE("module: registration errors and printing") {
  class Bad : public Module {
   public:
    void twice() {
      register_parameter("w", zeros({1}));
      register_parameter("w", zeros({1}));
    }
    void dotted() { register_buffer("a.b", zeros({1})); }
  };
  Bad bad;
  CHECK_THROWS_WITH(bad.twice(), Catch::Contains("the name 'w' is already registered"));
  CHECK_THROWS_WITH(bad.dotted(), Catch::Contains("invalid name 'a.b'"));
  Net net;
  CHECK(net.to_string() == "Module(\n  (layer): Block(\n    (first): Affine()\n    (second): Affine()\n  )\n)\n");
}

TEST_CASE("module: unregister_module removes a child and its parameters; the name can be reused") {
  class Swappable : public Block {
   public:
    void swap_second() {
      unregister_module("second");
      second = register_module("second", std::make_shared<Affine>(3, 4));
    }
    void remove_missing() { unregister_module("third"); }
  };
  Swappable block;
  CHECK(names(block.named_parameters()) ==
        std::vector<std::string>{"first.weight", "first.bias", "second.weight", "second.bias"});
  block.swap_second();
  CHECK(names(block.named_parameters()) ==
        std::vector<std::string>{"first.weight", "first.bias", "second.weight", "second.bias"});
  CHECK(block.state_dict().at("second.weight").shape() == Shape{4, 3});
  CHECK(block.named_children().size() == 2);
  CHECK_THROWS_WITH(block.remove_missing(), Catch::Contains("no child module named 'third'"));
}

TEST_CASE("module: zero_grad clears every parameter's gradient") {
  Net net;
  sum(net.layer->first->weight * 2.0 + net.scale).backward();
  CHECK(net.layer->first->weight.grad().defined());
  net.zero_grad();
  for (const Tensor& p : net.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("init: kaiming and xavier bounds and spreads follow PyTorch's formulas") {
  Generator gen(3);
  Tensor w = zeros({256, 512});
  init::kaiming_uniform_(w, std::sqrt(5.0), init::FanMode::fan_in, init::Nonlinearity::leaky_relu, &gen);
  const double bound = 1.0 / std::sqrt(512.0);  // PyTorch's Linear default
  CHECK(amax(abs(w)).item<float>() <= bound);
  CHECK(amax(abs(w)).item<float>() > 0.99 * bound);
  CHECK(dg::std(w).item<float>() == Approx(bound / std::sqrt(3.0)).epsilon(0.02));

  Tensor c = zeros({64, 32, 3, 3});
  CHECK(init::fans(c) == std::pair<int64_t, int64_t>{32 * 9, 64 * 9});
  init::kaiming_normal_(c, 0.0, init::FanMode::fan_out, init::Nonlinearity::relu, &gen);
  CHECK(dg::std(c).item<float>() == Approx(std::sqrt(2.0 / (64 * 9))).epsilon(0.03));
  CHECK(mean(c).item<float>() == Approx(0.0).margin(0.01));

  Tensor x = zeros({100, 300});
  init::xavier_uniform_(x, 1.0, &gen);
  CHECK(amax(abs(x)).item<float>() <= std::sqrt(6.0 / 400));
  init::xavier_normal_(x, 2.0, &gen);
  CHECK(dg::std(x).item<float>() == Approx(2.0 * std::sqrt(2.0 / 400)).epsilon(0.03));
  CHECK(init::gain(init::Nonlinearity::tanh) == Approx(5.0 / 3.0));
}
