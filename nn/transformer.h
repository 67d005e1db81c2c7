// Transformer encoder and decoder layers, batch first, as PyTorch's TransformerEncoderLayer and
// TransformerDecoderLayer (same children and parameter names: self_attn, multihead_attn, linear1,
// linear2, norm1..norm3, and the dropouts):
//
//   post-LN (norm_first = false)           pre-LN (norm_first = true)
//   x = norm1(x + SA(x))                   x = x + SA(norm1(x))
//   x = norm2(x + CA(x, memory))           x = x + CA(norm2(x), memory)      (decoder only)
//   x = norm3(x + FF(x))                   x = x + FF(norm3(x))              (norm2 in the encoder)
//
// with SA/CA multi-head attention followed by dropout, and FF = dropout(linear2(dropout(act(
// linear1(x))))) with act ReLU or GELU. Masks are passed per call (AttentionMasks); a decoder's
// self-attention is made causal with {.causal = true}.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nn/attention.h"
#include "nn/basic.h"
#include "nn/layer_options.h"
#include "nn/linear.h"
#include "nn/normalization.h"

namespace dg::nn {

enum class Activation { relu, gelu };

struct TransformerLayerOptions {
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  Activation activation = Activation::relu;
  double layer_norm_eps = 1e-5;
  bool norm_first = false;  // pre-LN when true
  Generator* dropout_generator = nullptr;  // null: the default generator; must outlive the layer
};

class TransformerEncoderLayer : public UnaryModule {
 public:
  TransformerEncoderLayer(int64_t d_model, int64_t nhead, const TransformerLayerOptions& options = {},
                          const ParamOptions& param = {});

  // src [B, L, d_model] -> [B, L, d_model].
  Tensor forward(const Tensor& src, const AttentionMasks& masks);
  Tensor forward(const Tensor& src) override { return forward(src, AttentionMasks{}); }
  using UnaryModule::operator();
  Tensor operator()(const Tensor& src, const AttentionMasks& masks) { return forward(src, masks); }

  std::string type_name() const override { return "TransformerEncoderLayer"; }

  const TransformerLayerOptions options;
  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<Dropout> dropout, dropout1, dropout2;
  std::shared_ptr<LayerNorm> norm1, norm2;
};

class TransformerDecoderLayer : public Module {
 public:
  TransformerDecoderLayer(int64_t d_model, int64_t nhead, const TransformerLayerOptions& options = {},
                          const ParamOptions& param = {});

  // tgt [B, Lt, d_model], memory [B, Lm, d_model] -> [B, Lt, d_model]. tgt_masks apply to the
  // self-attention (causal for autoregressive decoding), memory_masks to the cross-attention.
  Tensor forward(const Tensor& tgt, const Tensor& memory, const AttentionMasks& tgt_masks = {},
                 const AttentionMasks& memory_masks = {});
  Tensor operator()(const Tensor& tgt, const Tensor& memory, const AttentionMasks& tgt_masks = {},
                    const AttentionMasks& memory_masks = {}) {
    return forward(tgt, memory, tgt_masks, memory_masks);
  }

  std::string type_name() const override { return "TransformerDecoderLayer"; }

  const TransformerLayerOptions options;
  std::shared_ptr<MultiheadAttention> self_attn, multihead_attn;
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<Dropout> dropout, dropout1, dropout2, dropout3;
  std::shared_ptr<LayerNorm> norm1, norm2, norm3;
};

}  // namespace dg::nn
