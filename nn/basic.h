// The small layers: Embedding (a lookup table with PyTorch's N(0, 1) init and padding row),
// Dropout, Sequential (a chain of UnaryModules named "0", "1", ... as in PyTorch), and the
// parameter-free activation and shape modules: ReLU, ReLU6, LeakyReLU, GELU, SiLU, Tanh, Sigmoid,
// Flatten, Identity.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/ops/ops.h"
#include "nn/layer_options.h"
#include "nn/module.h"

namespace dg::nn {

// ---------------------------------------------------------------- Embedding

// Not a UnaryModule: its input is an i64 index tensor, not features.
class Embedding : public Module {
 public:
  // padding_idx may be negative (counted from the end, as in PyTorch); that row starts at zero
  // and never receives a gradient.
  Embedding(int64_t num_embeddings, int64_t embedding_dim,
            std::optional<int64_t> padding_idx = std::nullopt, const ParamOptions& param = {});

  // indices: i64 of any shape -> [..., embedding_dim].
  Tensor forward(const Tensor& indices);
  Tensor operator()(const Tensor& indices) { return forward(indices); }

  std::string type_name() const override { return "Embedding"; }
  std::string extra_repr() const override;

  const int64_t num_embeddings, embedding_dim;
  const std::optional<int64_t> padding_idx;  // non-negative once constructed
  Tensor weight;                             // [num_embeddings, embedding_dim]
};

// ---------------------------------------------------------------- Dropout

class Dropout : public UnaryModule {
 public:
  // Zeroes each element with probability p in training mode (scaling the rest by 1 / (1 - p));
  // the identity in eval mode. Draws from `generator` (the default one when null), which must
  // outlive the layer.
  explicit Dropout(double p = 0.5, Generator* generator = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override;

  const double p;
  Generator* const generator;
};

// ---------------------------------------------------------------- Sequential

class Sequential : public UnaryModule {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<UnaryModule>> modules);
  explicit Sequential(const std::vector<std::shared_ptr<UnaryModule>>& modules);

  // Appends a module under the next index as its name.
  void push_back(std::shared_ptr<UnaryModule> module);
  // Each module's output is the next one's input.
  Tensor forward(const Tensor& x) override;

  size_t size() const { return modules_.size(); }
  const std::shared_ptr<UnaryModule>& operator[](size_t i) const { return modules_.at(i); }
  std::string type_name() const override { return "Sequential"; }

 private:
  std::vector<std::shared_ptr<UnaryModule>> modules_;
};

// ---------------------------------------------------------------- activations and reshaping

class ReLU : public UnaryModule {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
  std::string type_name() const override { return "ReLU"; }
};

// min(max(x, 0), 6), MobileNetV2's activation.
class ReLU6 : public UnaryModule {
 public:
  Tensor forward(const Tensor& x) override { return clamp(x, 0.0, 6.0); }
  std::string type_name() const override { return "ReLU6"; }
};

class LeakyReLU : public UnaryModule {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : negative_slope(negative_slope) {}
  Tensor forward(const Tensor& x) override { return leaky_relu(x, negative_slope); }
  std::string type_name() const override { return "LeakyReLU"; }
  std::string extra_repr() const override;
  const double negative_slope;
};

class GELU : public UnaryModule {
 public:
  explicit GELU(GeluApprox approximate = GeluApprox::none) : approximate(approximate) {}
  Tensor forward(const Tensor& x) override { return gelu(x, approximate); }
  std::string type_name() const override { return "GELU"; }
  std::string extra_repr() const override;
  const GeluApprox approximate;
};

class SiLU : public UnaryModule {
 public:
  Tensor forward(const Tensor& x) override { return silu(x); }
  std::string type_name() const override { return "SiLU"; }
};

class Tanh : public UnaryModule {
 public:
  Tensor forward(const Tensor& x) override { return tanh(x); }
  std::string type_name() const override { return "Tanh"; }
};

class Sigmoid : public UnaryModule {
 public:
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
  std::string type_name() const override { return "Sigmoid"; }
};

// Merges dims start_dim..end_dim; the default keeps the batch dim: [N, C, H, W] -> [N, C*H*W].
class Flatten : public UnaryModule {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& x) override { return flatten(x, start_dim, end_dim); }
  std::string type_name() const override { return "Flatten"; }
  std::string extra_repr() const override;
  const int64_t start_dim, end_dim;
};

class Identity : public UnaryModule {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Identity"; }
};

}  // namespace dg::nn
