// The dynamic property (partition/dynamic_property.h): a static convolution has parameter
// variance 0 and the output variance computed directly; a DY-Conv layer's parameter variance is
// that of its kernels mixed by hand from the attention's output (checked to be the kernels its
// output is convolved with); identical samples give zero variance; a PAD-Net layer with an
// all-static mask has parameter variance 0; the recorder changes nothing in the output.
#include <catch2/catch.hpp>

#include "dynamic/dyconv.h"
#include "dynamic/model_builders.h"
#include "engine/ops/ops.h"
#include "nn/basic.h"
#include "partition/dynamic_property.h"
#include "tests/partition/partition_test_util.h"

using namespace dg;
using namespace dg::partition;

namespace {

std::shared_ptr<nn::Sequential> recorded(std::shared_ptr<nn::UnaryModule> conv) {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::UnaryModule>>{
      std::make_shared<OutputRecorder>(std::move(conv))});
}

double direct_sample_variance(const Tensor& t) { return mean(var(t, {0}, 0)).item<double>(); }

}  // namespace

TEST_CASE("dynamic property: static convolution, parameter variance 0, output variance direct", "[partition][padnet]") {
  auto conv = std::make_shared<nn::Conv2d>(2, 3, 3, Conv2dOptions{.padding = {1, 1}}, false, dynamic_test::kF64);
  auto model = recorded(conv);
  const Tensor x = dynamic_test::varied_input({4, 2, 5, 5}, 3);
  const auto layers = dynamic_property(*model, x);
  REQUIRE(layers.size() == 1);
  CHECK(layers[0].kind == "Conv2d");
  CHECK(layers[0].parameter_variance == 0.0);
  CHECK(layers[0].output_variance == Approx(direct_sample_variance(conv->forward(x))).epsilon(1e-12));
  CHECK_THROWS_AS(dynamic_property(*model, narrow(x, 0, 0, 1)), Error);
}

TEST_CASE("dynamic property: DY-Conv's parameter variance is its mixed kernels' variance", "[partition][padnet]") {
  auto partial = partition_test::partial_layer(2, 3, 21);
  auto dyconv = partial->dynamic;  // a DY-Conv whose attention differs clearly between samples
  auto model = recorded(dyconv);
  const int64_t n = 5, k = 4, m = 3 * 2 * 3 * 3;
  const Tensor x = dynamic_test::varied_input({n, 2, 5, 5}, 4);
  const auto layers = dynamic_property(*model, x);
  REQUIRE(layers.size() == 1);
  // Expected by hand from the attention's output pi [N, K] and the K kernels: W_n = sum_k
  // pi[n, k] W_k element by element, then the population variance over n of each element,
  // averaged over the m elements.
  NoGradGuard no_grad;
  const Tensor pi_tensor = dyconv->attention->forward(x);
  const std::vector<double> pi = pi_tensor.to_vector<double>();
  const std::vector<double> w = dyconv->weight.to_vector<double>();
  std::vector<double> kernels(n * m, 0.0);
  for (int64_t s = 0; s < n; ++s)
    for (int64_t e = 0; e < m; ++e)
      for (int64_t j = 0; j < k; ++j) kernels[s * m + e] += pi[s * k + j] * w[j * m + e];
  double expected = 0.0;
  for (int64_t e = 0; e < m; ++e) {
    double mean = 0.0, squares = 0.0;
    for (int64_t s = 0; s < n; ++s) mean += kernels[s * m + e] / n;
    for (int64_t s = 0; s < n; ++s) squares += (kernels[s * m + e] - mean) * (kernels[s * m + e] - mean);
    expected += squares / n / m;
  }
  CHECK(layers[0].parameter_variance == Approx(expected).epsilon(1e-12));
  CHECK(expected > 1e-6);
  // Those hand-mixed kernels are the ones DY-Conv convolves with: sample s through conv2d with
  // W_s gives DY-Conv's output for s (the layer has no bias).
  REQUIRE_FALSE(dyconv->bias.defined());
  const Tensor all_kernels = from_vector(kernels, {n, 3, 2, 3, 3});
  for (int64_t s = 0; s < n; ++s) {
    const Tensor one = narrow(x, 0, s, 1);
    const Tensor by_hand =
        conv2d(one, reshape(narrow(all_kernels, 0, s, 1), {3, 2, 3, 3}), Tensor(), {.padding = {1, 1}});
    CHECK(test::max_abs_diff(by_hand, narrow(dyconv->forward(x), 0, s, 1)) < 1e-12);
  }
  CHECK(layers[0].output_variance == Approx(direct_sample_variance(dyconv->forward(x))).epsilon(1e-12));
  // The same sample three times: nothing varies.
  const Tensor same = cat({narrow(x, 0, 0, 1), narrow(x, 0, 0, 1), narrow(x, 0, 0, 1)}, 0);
  const auto flat = dynamic_property(*model, same);
  CHECK(flat[0].parameter_variance == Approx(0.0).margin(1e-20));
  CHECK(flat[0].output_variance == Approx(0.0).margin(1e-20));
}

TEST_CASE("dynamic property: PAD-Net's variance follows its mask", "[partition][padnet]") {
  auto partial = partition_test::partial_layer(2, 3, 22);
  auto model = recorded(partial);
  const Tensor x = dynamic_test::varied_input({4, 2, 5, 5}, 5);
  const double all_dynamic = dynamic_property(*model, x)[0].parameter_variance;
  CHECK(all_dynamic > 0.0);
  std::vector<double> half(54, 0.0);
  for (int j = 0; j < 27; ++j) half[2 * j] = 1.0;
  partial->set_mode_mask(from_vector(half, {3, 2, 3, 3}));
  const double half_dynamic = dynamic_property(*model, x)[0].parameter_variance;
  CHECK(half_dynamic > 0.0);
  CHECK(half_dynamic < all_dynamic);
  partial->set_mode_mask(zeros({3, 2, 3, 3}, DType::f64));
  const auto static_only = dynamic_property(*model, x);
  CHECK(static_only[0].kind == "PartiallyDynamicConv2d");
  CHECK(static_only[0].parameter_variance == 0.0);
  CHECK(static_only[0].output_variance > 0.0);
}

TEST_CASE("dynamic property: recording_factory wraps every factory convolution, outputs unchanged", "[partition][padnet]") {
  Generator a(9), b(9);
  const dynamic::SmallResNetOptions options{.width_multiplier = 0.25, .blocks_per_stage = 1};
  dynamic::SmallResNet plain(options, nn::conv2d_factory({.generator = &a, .dtype = DType::f64}),
                             {.generator = &a, .dtype = DType::f64});
  dynamic::SmallResNet wrapped(options, recording_factory(nn::conv2d_factory({.generator = &b, .dtype = DType::f64})),
                               {.generator = &b, .dtype = DType::f64});
  CHECK(dynamic::count_modules(wrapped, "OutputRecorder") == 8);
  plain.eval();
  wrapped.eval();
  const Tensor x = dynamic_test::varied_input({3, 1, 12, 12}, 6);
  CHECK(test::max_abs_diff(plain.forward(x), wrapped.forward(x)) == 0.0);
  const auto layers = dynamic_property(wrapped, x);
  CHECK(layers.size() == 8);
  CHECK(layers[0].name == "layer1.0.conv1");
}
