// The model report against hand counts on a tiny model: a static convolution, a partially dynamic
// one with 20 of 54 kernel elements dynamic, a fully dynamic DY-Conv and a classifier; the
// measured FLOPs per sample of a single convolution equal its multiply-adds, and the report's FLOPs
// are the engine's count of a batch-1 forward.
#include <catch2/catch.hpp>

#include "engine/flops.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "partition/report.h"
#include "tests/partition/partition_test_util.h"

using namespace dg;
using namespace dg::partition;
using namespace dg::partition_test;

namespace {

std::shared_ptr<nn::Sequential> tiny_model() {
  auto partial = partial_layer(2, 3, 41);  // bias-free
  std::vector<double> mask(54, 0.0);
  for (int j = 0; j < 20; ++j) mask[2 * j + 1] = 1.0;  // 20 distinct positions
  partial->set_mode_mask(from_vector(mask, {3, 2, 3, 3}));
  auto dyconv = std::make_shared<dynamic::DynamicConv2d>(
      3, 2, 3, Conv2dOptions{.padding = {1, 1}}, true,
      dynamic::DynamicConvOptions{.temperature = 1.0, .attention_hidden = 4}, dynamic_test::kF64);
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::UnaryModule>>{
      std::make_shared<nn::Conv2d>(1, 2, 3, Conv2dOptions{.padding = {1, 1}}, true, dynamic_test::kF64),
      partial, std::make_shared<nn::Tanh>(), dyconv, std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(2 * 5 * 5, 3, true, dynamic_test::kF64)});
}

}  // namespace

TEST_CASE("report: parameters per layer and in total match hand counts", "[partition][padnet]") {
  auto model = tiny_model();
  const ModelReport r = parameter_report(*model);
  REQUIRE(r.layers.size() == 3);
  // Static 1 -> 2, 3x3 with bias: 18 kernel values, 2 biases.
  CHECK(r.layers[0].name == "0");
  CHECK(r.layers[0].static_parameters == 18);
  CHECK(r.layers[0].other == 2);
  CHECK(r.layers[0].dynamic_ratio == 0.0);
  // Partially dynamic 2 -> 3: K m_dyn = 4 * 20, m - m_dyn = 34, attention (2*4+4) + (4*4+4) = 32,
  // one scale logit.
  CHECK(r.layers[1].kind == "PartiallyDynamicConv2d");
  CHECK(r.layers[1].dynamic_factors == 80);
  CHECK(r.layers[1].static_parameters == 34);
  CHECK(r.layers[1].attention_parameters == 32);
  CHECK(r.layers[1].other == 1);
  CHECK(r.layers[1].dynamic_ratio == Approx(20.0 / 54.0));
  // DY-Conv 3 -> 2 with bias: 4 * 54 kernel values, attention (3*4+4) + (4*4+4) = 36, 4 * 2 biases.
  CHECK(r.layers[2].dynamic_factors == 216);
  CHECK(r.layers[2].static_parameters == 0);
  CHECK(r.layers[2].attention_parameters == 36);
  CHECK(r.layers[2].other == 8);
  CHECK(r.layers[2].dynamic_ratio == 1.0);
  // The classifier 50 -> 3.
  CHECK(r.rest.other == 153);
  CHECK(r.total.dynamic_factors == 296);
  CHECK(r.total.static_parameters == 52);
  CHECK(r.total.attention_parameters == 68);
  CHECK(r.total.other == 164);
  CHECK(r.total.intrinsic() == 580);
  // The partially dynamic layer's redundant kernel entries are not counted: the raw count is larger
  // by the 4 * 34 static positions of the dynamic kernels and the 20 dynamic positions of the
  // static kernel.
  CHECK(model->num_parameters() - r.total.intrinsic() == 4 * 34 + 20);
  // Over the dynamic layers (the partially dynamic one and the DY-Conv), not the static one.
  CHECK(r.total.dynamic_ratio == Approx((20.0 + 54.0) / (54.0 + 54.0)));
  CHECK(r.layers[0].kernel_elements == 18);
  CHECK(r.layers[1].dynamic_elements == 20);
  const std::string table = r.to_markdown();
  CHECK(table.find("| 1 | PartiallyDynamicConv2d | 80 | 34 | 32 | 1 | 147 | 0.3704 |") != std::string::npos);
  // Bytes as stored, f64: the partially dynamic layer keeps all K kernels, the static kernel, the
  // f64 mode mask, the attention and phi: (4*54 + 54 + 54 + 32 + 1) * 8; DY-Conv (4*54 + 36 + 8) * 8.
  CHECK(r.layers[1].state_bytes == (4 * 54 + 54 + 54 + 32 + 1) * 8);
  CHECK(r.layers[2].state_bytes == (4 * 54 + 36 + 8) * 8);
  CHECK(r.rest.state_bytes == 153 * 8);
  CHECK(r.total.cache_bytes == 0);
  CHECK(table.find("| total |  | 296 | 52 | 68 | 164 | 580 |") != std::string::npos);
}

TEST_CASE("report: FLOPs per sample are measured at batch 1", "[partition][padnet]") {
  // One bias-free static convolution 3 -> 4, 3x3, on 6x6 with same padding: 4*6*6 * 3*3*3 MACs.
  nn::Sequential single({std::make_shared<nn::Conv2d>(3, 4, 3, Conv2dOptions{.padding = {1, 1}}, false)});
  const ModelReport r = model_report(single, {.sample_shape = {3, 6, 6}, .timing_runs = 1});
  CHECK(r.flops_per_sample == 4 * 6 * 6 * 27);
  CHECK(r.seconds_per_sample_batch1 > 0.0);
  CHECK(r.seconds_per_sample_batch64 > 0.0);
  // The tiny model: the report's count is a batch-1 forward's, and the model's mode is restored.
  auto model = tiny_model();
  model->train();
  const ModelReport t = model_report(*model, {.sample_shape = {1, 5, 5}, .dtype = DType::f64, .timing_runs = 0});
  CHECK(model->is_training());
  CHECK(t.seconds_per_sample_batch1 == 0.0);
  // A chain counted by hand: the convolution's 4*6*6 * 27 multiply-adds, a flatten (a view, no
  // work), and a bias-free linear layer 144 -> 5, 144 * 5 multiply-adds.
  nn::Sequential chain({std::make_shared<nn::Conv2d>(3, 4, 3, Conv2dOptions{.padding = {1, 1}}, false),
                        std::make_shared<nn::Flatten>(),
                        std::make_shared<nn::Linear>(4 * 6 * 6, 5, false)});
  const ModelReport c = model_report(chain, {.sample_shape = {3, 6, 6}, .timing_runs = 0});
  CHECK(c.flops_per_sample == 4 * 6 * 6 * 27 + 144 * 5);
}
