// The "dynamic property" of PAD-Net's Figure 6 (extended version, Figure 5): for every
// convolution of a network, over the same batch of inputs,
//   parameter variance  the variance over the samples of the per-sample computational kernel,
//                       averaged over the kernel's elements: 0 for a static convolution,
//                       mixed_kernels(pi(x)) for DY-Conv / CondConv, computational_kernels(pi(x))
//                       (Eq. 4, scale factors included) for PAD-Net;
//   output variance     the variance over the samples of the convolution's output, averaged over
//                       its elements (channels and positions).
// Both are population variances (divided by N). The paper gives no formula (it cites Li et al.
// 2021b); these are the direct reading of "variance given different input samples".
//
// To see each convolution's output, the model is built with recording_factory around its usual
// factory: every convolution then sits inside an OutputRecorder (child "conv") that keeps its last
// output, detached. The recorder changes parameter names (…conv.weight), nothing else.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/conv.h"
#include "nn/module.h"

namespace dg::partition {

class OutputRecorder : public nn::UnaryModule {
 public:
  explicit OutputRecorder(std::shared_ptr<nn::UnaryModule> conv);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "OutputRecorder"; }

  std::shared_ptr<nn::UnaryModule> conv;
  Tensor last_output;  // detached; undefined before the first forward
};

// Wraps every module `factory` makes in an OutputRecorder.
nn::ConvFactory recording_factory(nn::ConvFactory factory);

struct LayerVariance {
  std::string name;  // the recorder's name in the model
  std::string kind;  // the wrapped layer's type_name()
  double parameter_variance = 0.0;
  double output_variance = 0.0;
};

// Runs `model` on `batch` (eval mode, no graph; the mode is restored) and measures every
// OutputRecorder's layer, in named_modules() order. Wrapped layers must be nn::Conv2d,
// dynamic::KernelMixtureConv2d or PartiallyDynamicConv2d.
std::vector<LayerVariance> dynamic_property(nn::UnaryModule& model, const Tensor& batch);

}  // namespace dg::partition
