// Compaction's defining properties: the compacted layer computes what the partitioned layer
// computes (float64 to 1e-12, float32 to 1e-5), for mixed, all-static and all-dynamic masks, with
// and without bias, for a depthwise layer and under every scale-factor option; it stores exactly
// K * m_dyn + (m - m_dyn) kernel values (hand-counted for a small layer) with its mask as a packed
// bitmask, counts its inference caches in bytes, and executes K (m - m_dyn) fewer multiply-adds
// per sample than the DY-Conv it came from, as the fused kernel counts them while it runs; an
// all-static mask is the convolution with lambda_s W_s; a compacted copy of a whole SmallResNet gives the
// original's outputs; the fused inference path equals the recorded one and follows changes of the
// stored values.
#include <catch2/catch.hpp>
#include <cmath>

#include "dynamic/model_builders.h"
#include "engine/autograd.h"
#include "engine/flops.h"
#include "partition/compaction.h"
#include "partition/report.h"
#include "tests/partition/partition_test_util.h"

using namespace dg;
using namespace dg::partition;
using namespace dg::partition_test;
using dg::dynamic_test::varied_input;
using dg::test::max_abs_diff;

namespace {

// A 0/1 mask of `shape` with the entries whose flat index is in [from, to) dynamic.
Tensor range_mask(const Shape& shape, int64_t from, int64_t to) {
  std::vector<double> v(numel(shape), 0.0);
  for (int64_t j = from; j < to; ++j) v[j] = 1.0;
  return from_vector(v, shape);
}

}  // namespace

TEST_CASE("compaction: the compacted layer computes the partitioned layer's outputs", "[partition][padnet]") {
  for (bool bias : {false, true}) {
    auto layer = partial_layer(2, 3, 21, bias);
    const Tensor x = varied_input({4, 2, 6, 6}, 22);
    const std::vector<Tensor> masks{to_dtype(gt(test::uniform_f64({3, 2, 3, 3}, 23), 0.3), DType::f64),
                                    zeros({3, 2, 3, 3}, DType::f64), ones({3, 2, 3, 3}, DType::f64)};
    for (const Tensor& mask : masks) {
      layer->set_mode_mask(mask);
      CompactPartiallyDynamicConv2d compact(*layer);
      CHECK(compact.dynamic_elements() == ones_in(mask));
      CHECK(max_abs_diff(compact(x), layer->forward(x)) < 1e-12);
    }
  }
  // Depthwise, strided.
  auto depthwise = partial_layer(4, 4, 24, true, {.stride = {2, 2}, .padding = {1, 1}, .groups = 4});
  depthwise->set_mode_mask(range_mask({4, 1, 3, 3}, 5, 20));
  const Tensor x = varied_input({3, 4, 7, 7}, 25);
  CHECK(max_abs_diff(CompactPartiallyDynamicConv2d(*depthwise)(x), depthwise->forward(x)) < 1e-12);
  // Every scale-factor option (trainable scalars moved away from 1).
  for (ScaleFactors s : {ScaleFactors::none, ScaleFactors::static_only, ScaleFactors::dynamic_only,
                         ScaleFactors::both_free, ScaleFactors::both_constrained}) {
    auto dyn = std::make_shared<dynamic::DynamicConv2d>(2, 3, 3, Conv2dOptions{.padding = {1, 1}}, false,
                                                        dynamic::DynamicConvOptions{.temperature = 1.0}, dynamic_test::kF64);
    PartiallyDynamicConv2d layer(dyn, {.scale_factors = s}, dynamic_test::kF64);
    for (const auto& [name, p] : layer.named_parameters(false))
      if (name.rfind("scale", 0) == 0) dynamic_test::assign(p, full({}, 0.7, DType::f64));
    layer.set_mode_mask(range_mask({3, 2, 3, 3}, 10, 40));
    const Tensor y = varied_input({2, 2, 5, 5}, 26);
    CHECK(max_abs_diff(CompactPartiallyDynamicConv2d(layer)(y), layer.forward(y)) < 1e-12);
  }
}

TEST_CASE("compaction: inference (the fused kernel) and the recorded path compute the same outputs", "[partition][padnet]") {
  // With gradients enabled the compacted layer composes its kernels from ops (the graph the
  // fine-tuning backward runs on); under NoGradGuard it runs kernel_mixture_conv2d.
  for (bool bias : {false, true}) {
    auto layer = partial_layer(4, 6, 40, bias, {.stride = {2, 2}, .padding = {1, 1}});
    layer->set_mode_mask(to_dtype(gt(test::uniform_f64({6, 4, 3, 3}, 41), 0.6), DType::f64));
    CompactPartiallyDynamicConv2d compact(*layer);
    const Tensor x = varied_input({5, 4, 7, 7}, 42);
    const Tensor recorded = compact(x);
    CHECK(recorded.requires_grad());
    NoGradGuard no_grad;
    const Tensor fused = compact(x);
    CHECK(max_abs_diff(fused, recorded) < 1e-12);
    CHECK(max_abs_diff(fused, layer->forward(x)) < 1e-12);
  }
}

TEST_CASE("compaction: the recorded path trains the stored values; inference follows their changes", "[partition][padnet]") {
  auto layer = partial_layer(2, 3, 43, false);
  layer->set_mode_mask(range_mask({3, 2, 3, 3}, 10, 30));
  CompactPartiallyDynamicConv2d compact(*layer);
  const Tensor x = varied_input({2, 2, 5, 5}, 44);
  sum(compact(x)).backward();
  REQUIRE(compact.static_values.grad().defined());
  REQUIRE(compact.dynamic_factors.grad().defined());
  CHECK(max_abs_diff(compact.static_values.grad(), zeros_like(compact.static_values)) > 0.0);
  // The static kernel used at inference is cached; an in-place change of static_values (what an
  // optimiser step or load_state_dict does) must reach the next forward.
  Tensor before;
  {
    NoGradGuard no_grad;
    before = compact(x);
    compact.static_values.add_(full_like(compact.static_values, 0.5));
    const Tensor after = compact(x);
    const Tensor recorded_after = [&] {
      EnableGradGuard grad;
      return compact(x).detach();
    }();
    CHECK(max_abs_diff(after, before) > 1e-3);
    CHECK(max_abs_diff(after, recorded_after) < 1e-12);
  }
  nn::StateDict state = compact.state_dict();
  state.at("static_values") = zeros_like(compact.static_values);
  compact.load_state_dict(state);
  NoGradGuard no_grad;
  const Tensor reloaded = compact(x);
  EnableGradGuard grad;
  CHECK(max_abs_diff(reloaded, compact(x).detach()) < 1e-12);
}

TEST_CASE("compaction: float32 outputs agree to 1e-5", "[partition][padnet]") {
  auto layer = partial_layer(8, 8, 27, true, {.padding = {1, 1}}, DType::f32);
  layer->set_mode_mask(to_dtype(gt(test::uniform_f64({8, 8, 3, 3}, 28), 0.4), DType::f32));
  const Tensor x = to_dtype(varied_input({5, 8, 9, 9}, 29), DType::f32);
  CompactPartiallyDynamicConv2d compact(*layer);
  CHECK(compact.dynamic_factors.dtype() == DType::f32);
  CHECK(max_abs_diff(compact(x), layer->forward(x)) < 1e-5);
}

TEST_CASE("compaction: stored parameters are K m_dyn + (m - m_dyn) plus bias and attention", "[partition][padnet]") {
  // 2 -> 3, 3x3: m = 54; K = 4; attention 2 -> 4 -> 4: (2*4 + 4) + (4*4 + 4) = 32; bias 4 * 3 = 12.
  auto layer = partial_layer(2, 3, 30, true);
  layer->set_mode_mask(range_mask({3, 2, 3, 3}, 0, 20));  // m_dyn = 20
  CompactPartiallyDynamicConv2d compact(*layer);
  CHECK(compact.dynamic_factors.shape() == Shape{4, 20});
  CHECK(compact.static_values.shape() == Shape{34});
  CHECK(compact.num_parameters() == 4 * 20 + 34 + 12 + 32);          // 158
  CHECK(layer->num_parameters() == 4 * 54 + 54 + 12 + 32 + 1);       // 315: every kernel whole, phi
  CHECK(layer->dynamic->num_parameters() == 4 * 54 + 12 + 32);       // 260: DY-Conv
  CHECK(compact.num_parameters() < layer->dynamic->num_parameters());
  // The stored values are the dynamic kernels' entries at dynamic positions, times lambda_d.
  const double lambda_d = layer->lambda_dynamic().item<double>();
  CHECK(compact.dynamic_factors.to_vector<double>()[21] ==
        Approx(lambda_d * layer->dynamic->weight.to_vector<double>()[54 + 1]).epsilon(1e-14));
  const double lambda_s = layer->lambda_static().item<double>();
  CHECK(compact.static_values.to_vector<double>()[0] ==
        Approx(lambda_s * layer->static_weight.to_vector<double>()[20]).epsilon(1e-14));
}

TEST_CASE("compaction: fewer measured FLOPs than DY-Conv", "[partition][padnet]") {
  auto layer = partial_layer(16, 16, 31, false, {.padding = {1, 1}}, DType::f32);
  layer->set_mode_mask(to_dtype(gt(test::uniform_f64({16, 16, 3, 3}, 32), 0.4), DType::f32));  // ~30% dynamic
  CompactPartiallyDynamicConv2d compact(*layer);
  const Tensor x = to_dtype(varied_input({2, 16, 8, 8}, 33), DType::f32);
  NoGradGuard no_grad;
  int64_t dyconv_flops = 0, compact_flops = 0;
  {
    FlopScope scope;
    layer->dynamic->forward(x);
    dyconv_flops = scope.count();
  }
  {
    FlopScope scope;
    compact(x);
    compact_flops = scope.count();
  }
  // The convolution itself is the same; the mixing shrinks from N K m to N K m_dyn multiply-adds.
  const int64_t m = 16 * 16 * 9, m_dyn = compact.dynamic_elements();
  CHECK(m_dyn < m / 2);
  CHECK(compact_flops < dyconv_flops);
  CHECK(dyconv_flops - compact_flops >= 2 * 4 * (m - m_dyn));
}

TEST_CASE("compaction: the fused kernel's count is the work it executed, by hand", "[partition][padnet]") {
  // 16 -> 16, 3x3, same padding on 8x8, 2 samples, K = 4: the convolution executes
  // 2 * 16 * 8 * 8 * (16 * 9) multiply-adds whatever the mask; the mixing 4 per mixed value, per
  // sample: 4 * m for DY-Conv, 4 * m_dyn for the compacted layer. The counts come from the kernel
  // (engine/cpu/conv_kernels.cpp), so a kernel that mixed every position would show 4 * m.
  auto layer = partial_layer(16, 16, 31, false, {.padding = {1, 1}}, DType::f32);
  layer->set_mode_mask(to_dtype(gt(test::uniform_f64({16, 16, 3, 3}, 32), 0.4), DType::f32));
  CompactPartiallyDynamicConv2d compact(*layer);
  const Tensor x = to_dtype(varied_input({2, 16, 8, 8}, 33), DType::f32);
  NoGradGuard no_grad;
  const Tensor pi = layer->dynamic->attention->forward(x);  // [2, 4]
  const Tensor base = compact.static_kernel();               // built once, outside the counts
  const int64_t m = 16 * 16 * 9, m_dyn = compact.dynamic_elements();
  const int64_t conv = 2 * 16 * 8 * 8 * (16 * 9);
  FlopScope dense_scope;
  kernel_mixture_conv2d(x, pi, reshape(layer->dynamic->weight, {4, 16, 16, 3, 3}), Tensor(),
                        {.padding = {1, 1}});
  CHECK(dense_scope.count() == conv + 2 * 4 * m);
  FlopScope placed_scope;
  kernel_mixture_conv2d(x, pi, compact.dynamic_factors, Tensor(), {.padding = {1, 1}}, base,
                        compact.dynamic_positions());
  CHECK(placed_scope.count() == conv + 2 * 4 * m_dyn);
  // The layers around the op add the same attention to both: their difference is the mixing.
  compact(x);  // builds the inference caches
  FlopScope dyconv_scope;
  layer->dynamic->forward(x);
  const int64_t dyconv_flops = dyconv_scope.count();
  FlopScope compact_scope;
  compact(x);
  CHECK(dyconv_flops - compact_scope.count() == 2 * 4 * (m - m_dyn));
}

TEST_CASE("compaction: bytes stored fall with kappa; the inference caches are counted", "[partition][padnet]") {
  // f64, 2 -> 3, 3x3 (m = 54), K = 4, with bias, 20 dynamic: stored are 4*20 factors, 34 static
  // values, 12 biases and 32 attention parameters at 8 bytes, and one 64-bit bitmask word.
  auto layer = partial_layer(2, 3, 30, true);
  layer->set_mode_mask(range_mask({3, 2, 3, 3}, 0, 20));
  auto compact = std::make_shared<CompactPartiallyDynamicConv2d>(*layer);
  nn::Sequential model({compact});
  model.eval();
  CHECK(parameter_report(model).layers[0].state_bytes == (4 * 20 + 34 + 12 + 32) * 8 + 8);
  CHECK(parameter_report(model).layers[0].cache_bytes == 0);
  // The bitmask is the mask: bits 0..19 set.
  CHECK(compact->mode_bitmask.to_vector<int64_t>() == std::vector<int64_t>{(int64_t{1} << 20) - 1});
  // After a forward: the dense static kernel (54 f64) and the 20 i64 positions are kept.
  const Tensor x = varied_input({2, 2, 5, 5}, 34);
  {
    NoGradGuard no_grad;
    compact->forward(x);
  }
  CHECK(parameter_report(model).layers[0].cache_bytes == 54 * 8 + 20 * 8);
  // Not kept: nothing stays after a forward, and the outputs are the same.
  auto uncached = std::make_shared<CompactPartiallyDynamicConv2d>(*layer);
  uncached->keep_inference_cache = false;
  NoGradGuard no_grad;
  CHECK(max_abs_diff(uncached->forward(x), compact->forward(x)) == 0.0);
  CHECK(uncached->cache_bytes() == 0);
  // DY-Conv stores 4 * 54 kernel values, 12 biases, 32 attention parameters: (216 + 44) * 8 bytes.
  nn::Sequential dyconv({layer->dynamic});
  CHECK(parameter_report(dyconv).layers[0].state_bytes == (4 * 54 + 12 + 32) * 8);
}

TEST_CASE("compaction: an all-static mask with lambda_s != 1 is the convolution with lambda_s W_s", "[partition][padnet]") {
  // partial_layer sets phi = 0.3: lambda_d = 2 sigmoid(0.3), lambda_s = 2 - lambda_d, by hand.
  const double lambda_s = 2.0 - 2.0 / (1.0 + std::exp(-0.3));
  REQUIRE(std::abs(lambda_s - 1.0) > 0.1);
  auto layer = partial_layer(2, 3, 35, false);
  layer->set_mode_mask(zeros({3, 2, 3, 3}, DType::f64));
  const Tensor x = varied_input({3, 2, 6, 6}, 36);
  NoGradGuard no_grad;
  const Tensor expected = conv2d(x, layer->static_weight * lambda_s, Tensor(), {.padding = {1, 1}});
  CHECK(max_abs_diff(layer->forward(x), expected) < 1e-12);
  CompactPartiallyDynamicConv2d compact(*layer);
  CHECK(compact.dynamic_elements() == 0);
  CHECK(max_abs_diff(compact(x), expected) < 1e-12);
  // The free lambda_s (ScaleFactors::static_only) at 0.7, by hand as well.
  auto dyn = std::make_shared<dynamic::DynamicConv2d>(2, 3, 3, Conv2dOptions{.padding = {1, 1}}, false,
                                                      dynamic::DynamicConvOptions{.temperature = 1.0},
                                                      dynamic_test::kF64);
  PartiallyDynamicConv2d free(dyn, {.scale_factors = ScaleFactors::static_only}, dynamic_test::kF64);
  dynamic_test::assign(free.scale_static, full({}, 0.7, DType::f64));
  free.set_mode_mask(zeros({3, 2, 3, 3}, DType::f64));
  const Tensor expected_free = conv2d(x, free.static_weight * 0.7, Tensor(), {.padding = {1, 1}});
  CHECK(max_abs_diff(free.forward(x), expected_free) < 1e-12);
  CHECK(max_abs_diff(CompactPartiallyDynamicConv2d(free)(x), expected_free) < 1e-12);
}

TEST_CASE("compaction: a compacted SmallResNet gives the original's outputs", "[partition][padnet]") {
  const dynamic::SmallResNetOptions options{.width_multiplier = 0.25, .blocks_per_stage = 1};
  const nn::ParamOptions param = dynamic_test::kF64;
  const ModelBuilder build = [&](nn::ConvFactory conv) -> std::shared_ptr<nn::UnaryModule> {
    return std::make_shared<dynamic::SmallResNet>(options, conv, param);
  };
  auto model = build(partially_dynamic_conv2d_factory({.temperature = 1.0}, {}, param));
  random_partition(*model, 0.3, 34);
  // Move the scale factors and batch-norm statistics away from their initial values.
  for (const auto& [name, p] : model->named_parameters())
    if (name.find("scale_logit") != std::string::npos) dynamic_test::assign(p, full({}, -0.4, DType::f64));
  const Tensor x = varied_input({3, 1, 12, 12}, 35);
  model->forward(x);  // training-mode forward: running statistics move
  auto compact = compact_model(*model, build);
  const int64_t layers = dynamic::count_modules(*model, "PartiallyDynamicConv2d");
  CHECK(layers == 8);  // 6 block convolutions and 2 downsample projections
  CHECK(dynamic::count_modules(*compact, "CompactPartiallyDynamicConv2d") == layers);
  CHECK(dynamic::count_modules(*compact, "PartiallyDynamicConv2d") == 0);
  CHECK(max_abs_diff(compact->forward(x), model->forward(x)) < 1e-10);  // training mode
  model->eval();
  compact->eval();
  const Tensor y = varied_input({2, 1, 12, 12}, 36);
  CHECK(max_abs_diff(compact->forward(y), model->forward(y)) < 1e-10);
  // The compacted copy stores what the report counts, less the folded scale factors.
  const ModelReport before = parameter_report(*model), after = parameter_report(*compact);
  CHECK(compact->num_parameters() == after.total.intrinsic());
  CHECK(after.total.intrinsic() == before.total.intrinsic() - layers);  // one phi per layer folded
  CHECK(after.total.dynamic_ratio == Approx(before.total.dynamic_ratio));
  CHECK(before.total.dynamic_ratio == Approx(0.3).margin(1e-4));  // global: round(0.3 m) of all m
  // A builder that does not match is refused.
  const ModelBuilder wrong = [&](nn::ConvFactory conv) -> std::shared_ptr<nn::UnaryModule> {
    return std::make_shared<dynamic::SmallResNet>(dynamic::SmallResNetOptions{.width_multiplier = 0.5, .blocks_per_stage = 1}, conv, param);
  };
  CHECK_THROWS_AS(compact_model(*model, wrong), Error);
}

TEST_CASE("compaction: a partitioned, compacted SmallMobileNetV2 gives the original's outputs", "[partition][padnet]") {
  const dynamic::SmallMobileNetV2Options options{.width_multiplier = 0.25};
  const nn::ParamOptions param = dynamic_test::kF64;
  const ModelBuilder build = [&](nn::ConvFactory conv) -> std::shared_ptr<nn::UnaryModule> {
    return std::make_shared<dynamic::SmallMobileNetV2>(options, conv, param);
  };
  auto model = build(partially_dynamic_conv2d_factory({.temperature = 1.0}, {}, param));
  model->eval();
  // IMP on a classification loss over two seeded batches; depthwise layers included.
  const BatchLoss loss = [&](int64_t b) {
    const Tensor x = varied_input({4, 1, 12, 12}, 60 + static_cast<uint64_t>(b));
    return cross_entropy(model->forward(x), tensor_i64({0, 3, 7, 9}));
  };
  mode_partition(*model, loss, {.dynamic_ratio = 0.3, .rounds = 2, .num_batches = 2});
  auto compact = compact_model(*model, build);
  CHECK_FALSE(compact->is_training());
  const Tensor y = varied_input({3, 1, 12, 12}, 62);
  CHECK(max_abs_diff(compact->forward(y), model->forward(y)) < 1e-10);
  CHECK(parameter_report(*compact).total.dynamic_ratio == Approx(0.3).margin(1e-4));
}
