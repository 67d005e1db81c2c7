// Helpers shared by the mode-partition, compaction and report tests: small float64 partially
// dynamic layers whose attention differs clearly between samples and whose scale factors are not
// at their initial value (so folding them is exercised), a two-layer model of them, and a batch
// loss over fixed, seeded mini-batches.
#pragma once

#include <memory>

#include "dynamic/dyconv.h"
#include "nn/basic.h"
#include "partition/mode_partition.h"
#include "partition/partially_dynamic_conv.h"
#include "tests/dynamic/dynamic_test_util.h"

namespace dg::partition_test {

inline nn::ParamOptions options_for(DType dtype) { return {.generator = nullptr, .dtype = dtype}; }

// A partially dynamic DY-Conv layer (K = 4, attention hidden width 4, temperature 1), kernel 3.
inline std::shared_ptr<partition::PartiallyDynamicConv2d> partial_layer(
    int64_t in, int64_t out, uint64_t seed, bool bias = false, const Conv2dOptions& geometry = {.padding = {1, 1}},
    DType dtype = DType::f64) {
  const nn::ParamOptions param = options_for(dtype);
  auto dynamic_layer = std::make_shared<dynamic::DynamicConv2d>(
      in, out, 3, geometry, bias, dynamic::DynamicConvOptions{.temperature = 1.0, .attention_hidden = 4}, param);
  dynamic_test::assign(dynamic_layer->attention->fc1->bias, full(dynamic_layer->attention->fc1->bias.shape(), 2.0, dtype));
  dynamic_test::assign(dynamic_layer->attention->fc2->weight,
                       to_dtype(test::uniform_f64(dynamic_layer->attention->fc2->weight.shape(), seed, -0.5, 0.5), dtype));
  auto layer = std::make_shared<partition::PartiallyDynamicConv2d>(dynamic_layer, partition::PartiallyDynamicOptions{}, param);
  dynamic_test::assign(layer->scale_logit, full({}, 0.3, dtype));  // lambda_d = 2 sigmoid(0.3) != 1
  return layer;
}

// conv 2 -> 3, tanh, conv 3 -> 2 (both partially dynamic, 3x3, "same" padding).
inline std::shared_ptr<nn::Sequential> two_layer_model(DType dtype = DType::f64) {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::UnaryModule>>{
      partial_layer(2, 3, 11, false, {.padding = {1, 1}}, dtype), std::make_shared<nn::Tanh>(),
      partial_layer(3, 2, 12, true, {.padding = {1, 1}}, dtype)});
}

// Mean squared error to a fixed target on seeded mini-batches of 3 samples of 2 x 5 x 5.
inline partition::BatchLoss regression_loss(nn::UnaryModule& model) {
  return [&model](int64_t b) {
    const Tensor x = dynamic_test::varied_input({3, 2, 5, 5}, 100 + static_cast<uint64_t>(b));
    const Tensor target = test::uniform_f64({3, 2, 5, 5}, 200 + static_cast<uint64_t>(b));
    return mean(pow(model.forward(x) - target, 2.0));
  };
}

// The sum of the batch losses, without gradients.
inline double total_loss(const partition::BatchLoss& loss, int64_t batches) {
  NoGradGuard no_grad;
  double total = 0.0;
  for (int64_t b = 0; b < batches; ++b) total += loss(b).item<double>();
  return total;
}

inline int64_t ones_in(const Tensor& mask) { return sum(to_dtype(ne(mask, 0.0), DType::i64)).item<int64_t>(); }

}  // namespace dg::partition_test
