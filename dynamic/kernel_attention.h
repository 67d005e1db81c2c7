// KernelAttention: the per-sample weights that mix K kernels in dynamic convolution, shared by
// DY-Conv (Chen et al. 2020), CondConv (Yang et al. 2019) and PAD-Net's partially dynamic layers.
// From an input x [N, C_in, H, W] it computes
//
//   z  = fc2(relu(fc1(GAP(x))))        with a hidden layer (DY-Conv: C_in -> hidden -> K)
//   z  = fc(GAP(x))                    without one (CondConv's routing: C_in -> K)
//   pi = softmax(z / T) over the K kernels        (DY-Conv; T the temperature)
//   r  = sigmoid(z)                                (CondConv; each weight in (0, 1), no temperature)
//
// and returns the [N, K] weights. The layers that own the kernels keep it as their child named
// "attention", so its Linear layers appear in state dicts as attention.fc1 / attention.fc2 (or
// attention.fc).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nn/layer_options.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace dg::dynamic {

// How the logits z become mixing weights.
enum class AttentionNormalization { softmax, sigmoid };

struct KernelAttentionOptions {
  int64_t num_kernels = 4;
  // Width of the hidden layer; 0 means none (one Linear from the pooled input to the logits).
  int64_t hidden = 0;
  AttentionNormalization normalization = AttentionNormalization::softmax;
  // Softmax temperature; must be positive. Ignored by the sigmoid.
  double temperature = 1.0;
};

class KernelAttention : public nn::UnaryModule {
 public:
  KernelAttention(int64_t in_channels, const KernelAttentionOptions& options,
                  const nn::ParamOptions& param = {});

  // x [N, in_channels, H, W] -> mixing weights [N, num_kernels].
  Tensor forward(const Tensor& x) override;
  // The pre-normalisation scores z [N, num_kernels] (softmax(z / T) or sigmoid(z) gives forward's
  // result).
  Tensor logits(const Tensor& x);

  void set_temperature(double temperature);
  double temperature() const { return temperature_; }
  // PyTorch's default Linear initialisation of fc1/fc2 (or fc), drawn again.
  void reset_parameters(Generator* generator = nullptr);

  std::string type_name() const override { return "KernelAttention"; }
  std::string extra_repr() const override;

  const int64_t in_channels, num_kernels, hidden;
  const AttentionNormalization normalization;
  // With a hidden layer: fc1 (in -> hidden) and fc2 (hidden -> K); without: fc (in -> K).
  std::shared_ptr<nn::Linear> fc1, fc2, fc;

 private:
  double temperature_;
};

// DY-Conv's hidden width for the attention: max(in_channels / reduction, 4). The DY-Conv paper and
// the benchmark's reference use reduction 4; PAD-Net's code uses 16.
int64_t dyconv_attention_hidden(int64_t in_channels, int64_t reduction = 4);

}  // namespace dg::dynamic
