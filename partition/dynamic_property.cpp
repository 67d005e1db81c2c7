// Parameter and output variance per convolution (see dynamic_property.h).
#include "partition/dynamic_property.h"

#include "dynamic/kernel_mixture_conv.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/ops.h"
#include "partition/partially_dynamic_conv.h"

namespace dg::partition {

OutputRecorder::OutputRecorder(std::shared_ptr<nn::UnaryModule> wrapped)
    : conv(register_module("conv", std::move(wrapped))) {}

Tensor OutputRecorder::forward(const Tensor& x) {
  Tensor y = (*conv)(x);
  last_output = y.detach();
  return y;
}

nn::ConvFactory recording_factory(nn::ConvFactory factory) {
  return [factory = std::move(factory)](const nn::ConvSpec& spec) -> std::shared_ptr<nn::UnaryModule> {
    return std::make_shared<OutputRecorder>(factory(spec));
  };
}

namespace {

// The variance over dim 0 (the samples), averaged over every other element.
double mean_sample_variance(const Tensor& per_sample) {
  return mean(var(to_dtype(per_sample, DType::f64), {0}, /*correction=*/0)).item<double>();
}

// The per-sample kernels of the last forward [N, ...], or undefined for a static convolution.
Tensor per_sample_kernels(nn::Module& layer) {
  if (auto* partial = dynamic_cast<PartiallyDynamicConv2d*>(&layer))
    return partial->computational_kernels(partial->dynamic->last_mixing_weights());
  if (auto* mixture = dynamic_cast<dynamic::KernelMixtureConv2d*>(&layer))
    return mixture->mixed_kernels(mixture->last_mixing_weights());
  check(dynamic_cast<nn::Conv2d*>(&layer) != nullptr, "dynamic_property: cannot read the kernels of a ",
        layer.type_name());
  return {};
}

}  // namespace

std::vector<LayerVariance> dynamic_property(nn::UnaryModule& model, const Tensor& batch) {
  const int64_t samples = batch.shape().size() >= 1 ? batch.shape()[0] : 0;
  check(samples >= 2, "dynamic_property: needs a batch of 2 or more samples, got ", samples);
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  model(batch);
  std::vector<LayerVariance> layers;
  for (const auto& [name, module] : model.named_modules()) {
    auto* recorder = dynamic_cast<OutputRecorder*>(module);
    if (recorder == nullptr) continue;
    const Tensor kernels = per_sample_kernels(*recorder->conv);
    layers.push_back({name, recorder->conv->type_name(),
                      kernels.defined() ? mean_sample_variance(kernels) : 0.0,
                      mean_sample_variance(recorder->last_output)});
  }
  if (was_training) model.train();
  return layers;
}

}  // namespace dg::partition
