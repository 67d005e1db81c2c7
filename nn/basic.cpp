// Embedding, Dropout, Sequential and the activations' printing: see basic.h.
#include "nn/basic.h"

#include <fmt/format.h>

#include "engine/autograd.h"
#include "engine/ops/functional.h"
#include "nn/init.h"

namespace dg::nn {

// ---------------------------------------------------------------- Embedding

namespace {
std::optional<int64_t> wrap_padding_idx(std::optional<int64_t> padding_idx, int64_t num_embeddings) {
  if (!padding_idx) return std::nullopt;
  check(*padding_idx >= -num_embeddings && *padding_idx < num_embeddings,
        "Embedding: padding_idx {} is out of range for {} embeddings", *padding_idx, num_embeddings);
  return *padding_idx < 0 ? *padding_idx + num_embeddings : *padding_idx;
}
}  // namespace

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim,
                     std::optional<int64_t> padding_idx, const ParamOptions& param)
    : num_embeddings(num_embeddings),
      embedding_dim(embedding_dim),
      padding_idx(wrap_padding_idx(padding_idx, num_embeddings)) {
  check(num_embeddings > 0 && embedding_dim > 0,
        "Embedding: num_embeddings and embedding_dim must be positive, got {} and {}",
        num_embeddings, embedding_dim);
  weight = register_parameter("weight", Tensor::empty({num_embeddings, embedding_dim}, param.dtype));
  init::normal_(weight, 0.0, 1.0, param.generator);
  if (this->padding_idx) {
    NoGradGuard no_grad;
    narrow(weight, 0, *this->padding_idx, 1).zero_();
  }
}

Tensor Embedding::forward(const Tensor& indices) { return embedding(indices, weight, padding_idx); }

std::string Embedding::extra_repr() const {
  std::string out = fmt::format("{}, {}", num_embeddings, embedding_dim);
  if (padding_idx) out += fmt::format(", padding_idx={}", *padding_idx);
  return out;
}

// ---------------------------------------------------------------- Dropout

Dropout::Dropout(double p, Generator* generator) : p(p), generator(generator) {
  check(p >= 0.0 && p <= 1.0, "Dropout: probability p must be in [0, 1], got {}", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), generator); }

std::string Dropout::extra_repr() const { return fmt::format("p={}", p); }

// ---------------------------------------------------------------- Sequential

Sequential::Sequential(std::initializer_list<std::shared_ptr<UnaryModule>> modules) {
  for (const auto& m : modules) push_back(m);
}

Sequential::Sequential(const std::vector<std::shared_ptr<UnaryModule>>& modules) {
  for (const auto& m : modules) push_back(m);
}

void Sequential::push_back(std::shared_ptr<UnaryModule> module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor out = x;
  for (const auto& m : modules_) out = m->forward(out);
  return out;
}

// ---------------------------------------------------------------- printing

std::string LeakyReLU::extra_repr() const {
  return fmt::format("negative_slope={}", negative_slope);
}

std::string GELU::extra_repr() const {
  return approximate == GeluApprox::tanh ? "approximate='tanh'" : "";
}

std::string Flatten::extra_repr() const {
  return fmt::format("start_dim={}, end_dim={}", start_dim, end_dim);
}

}  // namespace dg::nn
