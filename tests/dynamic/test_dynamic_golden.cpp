// Compares the dynamic convolutions with PyTorch: replays every case of
// tests/reference/dynamic_golden.txt (written by dynamic_golden.py from PyTorch versions of
// DynamicConv2d, CondConv2d and PartiallyDynamicConv2d with the same parameter names). Each case
// builds the layer from its attributes, loads PyTorch's state (strict: the names must match), runs
// the input and checks the output and the gradients of sum(out * v) with respect to the input,
// every parameter and, for PAD-Net, the mode mask, to 1e-9 relative.
#include <catch2/catch.hpp>

#include <map>

#include "dynamic/condconv.h"
#include "dynamic/dyconv.h"
#include "partition/partially_dynamic_conv.h"
#include "tests/dynamic/dynamic_test_util.h"
#include "tests/engine/golden.h"

namespace dg::test {

namespace {

using dg::dynamic_test::kF64;

Conv2dOptions geometry_of(const GoldenCase& c) {
  const int64_t stride = c.attr_int("stride"), padding = c.attr_int("padding"),
                dilation = c.attr_int("dilation");
  return {.stride = {stride, stride}, .padding = {padding, padding}, .dilation = {dilation, dilation},
          .groups = c.attr_int("groups")};
}

std::shared_ptr<nn::UnaryModule> build(const GoldenCase& c) {
  const int64_t in = c.attr_int("cin"), out = c.attr_int("cout"), k = c.attr_int("k");
  const bool bias = c.attr_bool("bias");
  if (c.op == "condconv")
    return std::make_shared<dynamic::CondConv2d>(in, out, k, geometry_of(c), bias,
                                                 dynamic::CondConvOptions{.num_experts = c.attr_int("kernels")}, kF64);
  auto dyconv = std::make_shared<dynamic::DynamicConv2d>(
      in, out, k, geometry_of(c), bias,
      dynamic::DynamicConvOptions{.num_kernels = c.attr_int("kernels"), .temperature = c.attr_double("temperature")},
      kF64);
  if (c.op == "dyconv") return dyconv;
  REQUIRE(c.op == "padnet");
  return std::make_shared<partition::PartiallyDynamicConv2d>(dyconv, partition::PartiallyDynamicOptions{}, kF64);
}

void check_close(const Tensor& actual, const GoldenTensor& expected, const std::string& what) {
  INFO(what);
  REQUIRE(actual.shape() == expected.shape);
  const std::vector<double> a = actual.to_vector<double>();
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = std::abs(a[i] - expected.values[i]) / std::max(1.0, std::abs(expected.values[i]));
    if (!(err <= worst)) worst = err;  // NaN counts as the worst
  }
  INFO("max relative error " << worst);
  CHECK(worst <= 1e-9);
}

void replay(const GoldenCase& c) {
  nn::StateDict state;
  Tensor x;
  for (const GoldenTensor& g : c.inputs) {
    if (g.name.rfind("state.", 0) == 0)
      state[g.name.substr(6)] = g.to_tensor();
    else
      x = g.to_tensor().set_requires_grad(true);
  }
  const auto layer = build(c);
  layer->load_state_dict(state);
  std::map<std::string, Tensor> wrt_by_name{{"x", x}};
  for (const auto& [name, p] : layer->named_parameters()) wrt_by_name["state." + name] = p;
  if (auto* padnet = dynamic_cast<partition::PartiallyDynamicConv2d*>(layer.get())) {
    padnet->mode_mask.set_requires_grad(true);
    wrt_by_name["state.mode_mask"] = padnet->mode_mask;
  }

  const Tensor out = layer->forward(x);
  check_close(out, c.outputs.at(0), "output");
  std::vector<Tensor> wrt;
  for (const GoldenTensor& g : c.grads) {
    INFO("gradient of " << g.name);
    REQUIRE(wrt_by_name.count(g.name));
    wrt.push_back(wrt_by_name.at(g.name));
  }
  REQUIRE(wrt.size() == wrt_by_name.size());  // every parameter has a golden gradient
  const std::vector<Tensor> grads = grad({out}, wrt, {c.projections.at(0).to_tensor()});
  for (size_t i = 0; i < grads.size(); ++i) check_close(grads[i], c.grads[i], "gradient of " + c.grads[i].name);
}

}  // namespace

TEST_CASE("dynamic golden: DY-Conv, CondConv and PAD-Net match PyTorch (outputs and gradients)",
          "[reference][dynamic]") {
  static const std::vector<GoldenCase> cases = read_golden("dynamic_golden.txt");
  REQUIRE(cases.size() >= 12);
  for (const GoldenCase& c : cases) {
    SECTION(c.name) { replay(c); }
  }
}

}  // namespace dg::test
