// Compares dyngrad's layers with PyTorch's: replays every case of tests/reference/layers_golden.txt
// (written by layers_golden.py, committed so no Python is needed here). Each case builds the layer
// in float64, loads PyTorch's state dict into it with a strict load_state_dict (so the parameter and
// buffer names must be exactly PyTorch's), runs it on the stored inputs and checks the outputs,
// the buffers a training-mode forward updates, and the gradients of sum(output * v) with respect
// to the inputs and to every parameter, to 1e-9 (relative above 1, absolute below).
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <map>
#include <sstream>

#include "nn/nn.h"
#include "tests/engine/golden.h"

namespace dg::test {
namespace {

using Named = std::map<std::string, Tensor>;

// A layer built from a case's attributes, and how to run it on the case's named inputs.
struct BuiltLayer {
  std::shared_ptr<nn::Module> module;
  std::function<Named(const Named&)> run;
};

const nn::ParamOptions kF64{.generator = nullptr, .dtype = DType::f64};

Named one(Tensor out) { return {{"out", std::move(out)}}; }

// The input of that name, or an undefined tensor.
Tensor optional_input(const Named& in, const std::string& name) {
  auto it = in.find(name);
  return it == in.end() ? Tensor() : it->second;
}

// A layer that takes one tensor: run it on input "x".
template <class M>
BuiltLayer unary(std::shared_ptr<M> m) {
  return {m, [m](const Named& in) { return one(m->forward(in.at("x"))); }};
}

std::array<int64_t, 2> pair(const GoldenCase& c, const std::string& key) {
  const auto v = c.attr_ints(key);
  REQUIRE(v.size() == 2);
  return {v[0], v[1]};
}

nn::TransformerLayerOptions transformer_options(const GoldenCase& c) {
  return {.dim_feedforward = c.attr_int("dim_ff"),
          .dropout = 0.1,  // as in PyTorch's case; the layers run in eval mode
          .activation = c.attr("activation") == "gelu" ? nn::Activation::gelu : nn::Activation::relu,
          .layer_norm_eps = 1e-5,
          .norm_first = c.attr_bool("norm_first")};
}

// Every layer kind the golden file uses, by the op name layers_golden.py writes.
BuiltLayer build(const GoldenCase& c) {
  const std::string& op = c.op;
  if (op == "linear")
    return unary(std::make_shared<nn::Linear>(c.attr_int("in"), c.attr_int("out"), c.attr_bool("bias"), kF64));
  if (op == "conv2d") {
    Conv2dOptions geometry;
    geometry.stride = pair(c, "stride");
    geometry.padding = pair(c, "padding");
    geometry.dilation = pair(c, "dilation");
    geometry.groups = c.attr_int("groups");
    return unary(std::make_shared<nn::Conv2d>(c.attr_int("in"), c.attr_int("out"), pair(c, "kernel"),
                                              geometry, c.attr_bool("bias"), kF64));
  }
  if (op == "batchnorm2d") {
    nn::BatchNormOptions options;
    if (c.attr("momentum") == "none") options.momentum = std::nullopt;
    else options.momentum = c.attr_double("momentum");
    return unary(std::make_shared<nn::BatchNorm2d>(c.attr_int("features"), options, kF64));
  }
  if (op == "layernorm")
    return unary(std::make_shared<nn::LayerNorm>(Shape(c.attr_ints("shape")), 1e-5, true, kF64));
  if (op == "embedding") {
    auto m = std::make_shared<nn::Embedding>(c.attr_int("num"), c.attr_int("dim"), c.attr_int("padding_idx"), kF64);
    return {m, [m](const Named& in) { return one(m->forward(in.at("indices"))); }};
  }
  if (op == "lstmcell") {
    auto m = std::make_shared<nn::LSTMCell>(c.attr_int("input"), c.attr_int("hidden"), true, kF64);
    return {m, [m](const Named& in) {
              auto [h, cell] = m->forward(in.at("x"), {optional_input(in, "h"), optional_input(in, "c")});
              return Named{{"h", h}, {"c", cell}};
            }};
  }
  if (op == "grucell") {
    auto m = std::make_shared<nn::GRUCell>(c.attr_int("input"), c.attr_int("hidden"), true, kF64);
    return {m, [m](const Named& in) { return one(m->forward(in.at("x"), optional_input(in, "h"))); }};
  }
  if (op == "lstm") {
    auto m = std::make_shared<nn::LSTM>(c.attr_int("input"), c.attr_int("hidden"),
                                        nn::LSTMOptions{.num_layers = c.attr_int("layers")}, kF64);
    return {m, [m](const Named& in) {
              nn::LSTMOutput r = m->forward(in.at("x"), optional_input(in, "lengths"),
                                            {optional_input(in, "h0"), optional_input(in, "c0")});
              return Named{{"out", r.output}, {"h", r.final.h}, {"c", r.final.c}};
            }};
  }
  if (op == "mha") {
    auto m = std::make_shared<nn::MultiheadAttention>(c.attr_int("embed"), c.attr_int("heads"),
                                                      nn::MultiheadAttentionOptions{}, kF64);
    const std::string mode = c.attr("mode");
    const bool causal = c.attr_bool("causal");
    return {m, [m, mode, causal](const Named& in) {
              const nn::AttentionMasks masks{.key_padding_mask = optional_input(in, "key_padding_mask"),
                                             .attn_mask = optional_input(in, "attn_mask"),
                                             .causal = causal};
              const Tensor& x = in.at("x");
              // The same tensor passed more than once selects the fused projections.
              if (mode == "self") return one(m->forward(x, x, x, masks));
              if (mode == "kv") return one(m->forward(x, in.at("memory"), in.at("memory"), masks));
              return one(m->forward(x, in.at("key"), in.at("value"), masks));
            }};
  }
  if (op == "encoder") {
    auto m = std::make_shared<nn::TransformerEncoderLayer>(c.attr_int("d_model"), c.attr_int("nhead"),
                                                           transformer_options(c), kF64);
    const bool causal = c.attr_bool("causal");
    return {m, [m, causal](const Named& in) {
              return one(m->forward(in.at("x"), {.key_padding_mask = optional_input(in, "key_padding_mask"),
                                                 .causal = causal}));
            }};
  }
  if (op == "decoder") {
    auto m = std::make_shared<nn::TransformerDecoderLayer>(c.attr_int("d_model"), c.attr_int("nhead"),
                                                           transformer_options(c), kF64);
    const bool causal = c.attr_bool("causal");
    return {m, [m, causal](const Named& in) {
              return one(m->forward(in.at("x"), in.at("memory"), {.causal = causal},
                                    {.key_padding_mask = optional_input(in, "memory_key_padding_mask")}));
            }};
  }
  if (op == "basic_block")
    return unary(std::make_shared<nn::BasicBlock>(c.attr_int("in"), c.attr_int("planes"), c.attr_int("stride"),
                                                  nn::ConvFactory{}, kF64));
  if (op == "bottleneck")
    return unary(std::make_shared<nn::Bottleneck>(c.attr_int("in"), c.attr_int("planes"), c.attr_int("stride"),
                                                  nn::ConvFactory{}, kF64));
  if (op == "inverted_residual")
    return unary(std::make_shared<nn::InvertedResidual>(c.attr_int("in"), c.attr_int("out"), c.attr_int("stride"),
                                                        c.attr_double("expand"), nn::ConvFactory{}, kF64));
  FAIL("no runner for layer '" << op << "' (case '" << c.name << "')");
  return {};
}

// Max |actual - expected| / max(1, |expected|), with where it occurs, for the failure message.
void check_close(const Tensor& actual, const GoldenTensor& expected, const std::string& what) {
  INFO(what << ": shape " << fmt::format("{}", actual.shape()) << " vs golden "
            << fmt::format("{}", expected.shape));
  REQUIRE(actual.shape() == expected.shape);
  const std::vector<double> a = actual.to_vector<double>();
  double worst = 0.0;
  size_t at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double e = expected.values[i];
    const double err = std::abs(a[i] - e) / std::max(1.0, std::abs(e));
    if (!(err <= worst)) worst = err, at = i;  // NaN counts as the worst
  }
  INFO(what << ": max relative error " << worst << " at flat index " << at);
  CHECK(worst <= 1e-9);
}

void replay(const GoldenCase& c) {
  // Inputs; bool masks are stored as 0/1 integers.
  Named inputs;
  nn::StateDict state;
  for (const GoldenTensor& g : c.inputs) {
    Tensor t = g.to_tensor();
    if (g.name.rfind("state.", 0) == 0) {
      state[g.name.substr(6)] = t;
      continue;
    }
    if (g.dtype == DType::i64 && g.name.ends_with("mask")) t = ne(t, 0.0);
    if (GoldenCase::find(c.grads, g.name)) t.set_requires_grad(true);
    inputs[g.name] = t;
  }
  BuiltLayer layer = build(c);
  layer.module->load_state_dict(state);  // strict: the names are PyTorch's
  layer.module->train(c.attr_bool("train"));
  Named outputs = layer.run(inputs);
  for (const auto& [name, t] : layer.module->state_dict()) outputs["state." + name] = t;

  for (const GoldenTensor& expected : c.outputs) {
    REQUIRE(outputs.count(expected.name));
    check_close(outputs.at(expected.name), expected, "output " + expected.name);
  }
  std::vector<Tensor> projected, projections;
  for (const GoldenTensor& v : c.projections) {
    projected.push_back(outputs.at(v.name));
    projections.push_back(v.to_tensor());
  }
  std::vector<Tensor> wrt;
  std::vector<const GoldenTensor*> expected_grads;
  const nn::Module::NamedTensors named_params = layer.module->named_parameters();
  const Named params(named_params.begin(), named_params.end());
  for (const GoldenTensor& g : c.grads) {
    const bool is_param = g.name.rfind("state.", 0) == 0;
    REQUIRE((is_param ? params.count(g.name.substr(6)) : inputs.count(g.name)));
    wrt.push_back(is_param ? params.at(g.name.substr(6)) : inputs.at(g.name));
    expected_grads.push_back(&g);
  }
  REQUIRE(wrt.size() == c.grads.size());
  const std::vector<Tensor> grads = grad(projected, wrt, projections, false, false, /*allow_unused=*/true);
  for (size_t i = 0; i < grads.size(); ++i) {
    const Tensor g = grads[i].defined() ? grads[i] : zeros_like(wrt[i]);
    check_close(g, *expected_grads[i], "gradient of " + expected_grads[i]->name);
  }
}

}  // namespace

TEST_CASE("layers golden: dyngrad's layers match PyTorch's outputs, buffers and gradients",
          "[reference][nn]") {
  static const std::vector<GoldenCase> cases = read_golden("layers_golden.txt");  // parsed once
  REQUIRE(cases.size() >= 30);
  for (const GoldenCase& c : cases) {
    SECTION(c.name) { replay(c); }
  }
}

}  // namespace dg::test
