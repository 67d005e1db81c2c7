// TransformerEncoderLayer and TransformerDecoderLayer: see transformer.h. The feed-forward block is
// not a module of its own, so that parameter names stay PyTorch's (linear1, linear2 directly on
// the layer); it calls the linear op with its relu and residual as epilogues (feed_forward_residual),
// and the attention blocks add their residual in out_proj's (attention_residual).
#include "nn/transformer.h"

#include "engine/ops/functional.h"

namespace dg::nn {

namespace {

void check_options(std::string_view layer, int64_t d_model, const TransformerLayerOptions& o) {
  check(d_model > 0 && o.dim_feedforward > 0,
        "{}: d_model and dim_feedforward must be positive, got {} and {}", layer, d_model,
        o.dim_feedforward);
  check(o.dropout >= 0.0 && o.dropout <= 1.0, "{}: dropout must be in [0, 1], got {}", layer,
        o.dropout);
}

MultiheadAttentionOptions attention_options(const TransformerLayerOptions& o) {
  return {.dropout = o.dropout, .bias = true, .dropout_generator = o.dropout_generator};
}

bool is_identity(const Dropout& d) { return !d.is_training() || d.p == 0.0; }

// residual + out_dropout(attention(query, memory, memory)): an attention block with the residual
// around it, the residual added in out_proj's epilogue when out_dropout is the identity.
Tensor attention_residual(const Tensor& residual, MultiheadAttention& attention,
                          const Tensor& query, const Tensor& memory, const AttentionMasks& masks,
                          Dropout& out_dropout) {
  if (is_identity(out_dropout)) return attention.forward_plus(residual, query, memory, memory, masks);
  return residual + out_dropout.forward(attention.forward(query, memory, memory, masks));
}

// residual + out_dropout(linear2(dropout(activation(linear1(x))))): the feed-forward block with the
// residual around it. A relu goes into linear1's epilogue, and the residual into linear2's when
// out_dropout is the identity (eval mode, or p = 0), so that in inference neither costs a pass
// of its own (engine/cpu/fast/packed_linear.cpp); with a graph recorded the same ops run as written.
Tensor feed_forward_residual(const Tensor& residual, const Tensor& x, const Linear& linear1,
                             Dropout& dropout, const Linear& linear2, Dropout& out_dropout,
                             Activation activation) {
  Tensor h = activation == Activation::relu
                 ? linear(x, linear1.weight, linear1.bias, {.relu = true})
                 : gelu(linear(x, linear1.weight, linear1.bias));
  h = dropout.forward(h);
  if (is_identity(out_dropout)) return linear(h, linear2.weight, linear2.bias, {.residual = residual});
  return residual + out_dropout.forward(linear(h, linear2.weight, linear2.bias));
}

}  // namespace

// ---------------------------------------------------------------- encoder

TransformerEncoderLayer::TransformerEncoderLayer(int64_t d_model, int64_t nhead,
                                                 const TransformerLayerOptions& options,
                                                 const ParamOptions& param)
    : options(options) {
  check_options("TransformerEncoderLayer", d_model, options);
  // Registered in PyTorch's order, so printing and parameter lists line up.
  self_attn = register_module("self_attn", std::make_shared<MultiheadAttention>(
                                               d_model, nhead, attention_options(options), param));
  linear1 = register_module("linear1", std::make_shared<Linear>(d_model, options.dim_feedforward, true, param));
  dropout = register_module("dropout", std::make_shared<Dropout>(options.dropout, options.dropout_generator));
  linear2 = register_module("linear2", std::make_shared<Linear>(options.dim_feedforward, d_model, true, param));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(d_model, options.layer_norm_eps, true, param));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(d_model, options.layer_norm_eps, true, param));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(options.dropout, options.dropout_generator));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(options.dropout, options.dropout_generator));
}


Tensor TransformerEncoderLayer::forward(const Tensor& src, const AttentionMasks& masks) {
  auto self_attention = [&](const Tensor& residual, const Tensor& x) {
    return attention_residual(residual, *self_attn, x, x, masks, *dropout1);
  };
  auto feed_forward = [&](const Tensor& residual, const Tensor& x) {
    return feed_forward_residual(residual, x, *linear1, *dropout, *linear2, *dropout2,
                                 options.activation);
  };
  Tensor x = src;
  if (options.norm_first) {
    x = self_attention(x, norm1->forward(x));
    return feed_forward(x, norm2->forward(x));
  }
  x = norm1->forward(self_attention(x, x));
  return norm2->forward(feed_forward(x, x));
}

// ---------------------------------------------------------------- decoder

TransformerDecoderLayer::TransformerDecoderLayer(int64_t d_model, int64_t nhead,
                                                 const TransformerLayerOptions& options,
                                                 const ParamOptions& param)
    : options(options) {
  check_options("TransformerDecoderLayer", d_model, options);
  const MultiheadAttentionOptions attention = attention_options(options);
  self_attn = register_module("self_attn", std::make_shared<MultiheadAttention>(d_model, nhead, attention, param));
  multihead_attn = register_module("multihead_attn", std::make_shared<MultiheadAttention>(d_model, nhead, attention, param));
  linear1 = register_module("linear1", std::make_shared<Linear>(d_model, options.dim_feedforward, true, param));
  dropout = register_module("dropout", std::make_shared<Dropout>(options.dropout, options.dropout_generator));
  linear2 = register_module("linear2", std::make_shared<Linear>(options.dim_feedforward, d_model, true, param));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(d_model, options.layer_norm_eps, true, param));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(d_model, options.layer_norm_eps, true, param));
  norm3 = register_module("norm3", std::make_shared<LayerNorm>(d_model, options.layer_norm_eps, true, param));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(options.dropout, options.dropout_generator));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(options.dropout, options.dropout_generator));
  dropout3 = register_module("dropout3", std::make_shared<Dropout>(options.dropout, options.dropout_generator));
}


Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory,
                                        const AttentionMasks& tgt_masks,
                                        const AttentionMasks& memory_masks) {
  auto self_attention = [&](const Tensor& residual, const Tensor& x) {
    return attention_residual(residual, *self_attn, x, x, tgt_masks, *dropout1);
  };
  auto cross_attention = [&](const Tensor& residual, const Tensor& x) {
    return attention_residual(residual, *multihead_attn, x, memory, memory_masks, *dropout2);
  };
  auto feed_forward = [&](const Tensor& residual, const Tensor& x) {
    return feed_forward_residual(residual, x, *linear1, *dropout, *linear2, *dropout3,
                                 options.activation);
  };
  Tensor x = tgt;
  if (options.norm_first) {
    x = self_attention(x, norm1->forward(x));
    x = cross_attention(x, norm2->forward(x));
    return feed_forward(x, norm3->forward(x));
  }
  x = norm1->forward(self_attention(x, x));
  x = norm2->forward(cross_attention(x, x));
  return norm3->forward(feed_forward(x, x));
}

}  // namespace dg::nn
