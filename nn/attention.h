// MultiheadAttention: batch-first multi-head attention on dg::scaled_dot_product_attention, with
// PyTorch's packed input projection (in_proj_weight [3E, E] holding W_q, W_k, W_v one under the
// other, in_proj_bias [3E]) and out_proj (a Linear), initialised as PyTorch does: xavier_uniform_
// in_proj_weight, zero biases, out_proj.weight like a Linear's.
//
// When query, key and value are the same tensor (self-attention) the three projections are one
// GEMM; when key and value are the same tensor (cross-attention to a memory) K and V share one.
// Attention weights are not returned (PyTorch's need_weights=False).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nn/layer_options.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace dg::nn {

// The masks of one attention call, as dg::AttentionOptions takes them: key_padding_mask bool
// [B, Lk] (true = that key is padding), attn_mask bool [Lq, Lk] (true = masked out) or additive
// float [Lq, Lk], causal (query i sees keys j <= i).
struct AttentionMasks {
  Tensor key_padding_mask{};
  Tensor attn_mask{};
  bool causal = false;
};

struct MultiheadAttentionOptions {
  double dropout = 0.0;  // on the attention weights, in training mode
  bool bias = true;      // in_proj_bias and out_proj.bias
  Generator* dropout_generator = nullptr;  // null: the default generator; must outlive the layer
};

class MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads,
                     const MultiheadAttentionOptions& options = {}, const ParamOptions& param = {});

  // query [B, Lq, E], key and value [B, Lk, E] -> [B, Lq, E].
  Tensor forward(const Tensor& query, const Tensor& key, const Tensor& value,
                 const AttentionMasks& masks = {});
  Tensor operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                    const AttentionMasks& masks = {}) {
    return forward(query, key, value, masks);
  }
  // residual + forward(query, key, value, masks), residual [B, Lq, E]: the residual is added as
  // out_proj's product is stored when nothing is recorded (linear's epilogue), as transformer
  // layers use it.
  Tensor forward_plus(const Tensor& residual, const Tensor& query, const Tensor& key,
                      const Tensor& value, const AttentionMasks& masks = {});

  std::string type_name() const override { return "MultiheadAttention"; }
  std::string extra_repr() const override;

  const int64_t embed_dim, num_heads, head_dim;
  const MultiheadAttentionOptions options;
  Tensor in_proj_weight;  // [3E, E]: W_q, W_k, W_v
  Tensor in_proj_bias;    // [3E] (undefined without bias)
  std::shared_ptr<Linear> out_proj;
};

}  // namespace dg::nn
