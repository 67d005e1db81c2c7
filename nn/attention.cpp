// MultiheadAttention: see attention.h. The heads are split with one reshape + permute (+ a copy
// when training) per projection, attention itself is dg::scaled_dot_product_attention, and the
// heads are merged back before out_proj (a copy when training; free in inference, where the fused
// attention writes them merged). forward_plus adds a residual in out_proj's epilogue.
#include "nn/attention.h"

#include <fmt/format.h>

#include "engine/ops/functional.h"
#include "nn/init.h"

namespace dg::nn {

MultiheadAttention::MultiheadAttention(int64_t embed_dim, int64_t num_heads,
                                       const MultiheadAttentionOptions& options,
                                       const ParamOptions& param)
    : embed_dim(embed_dim),
      num_heads(num_heads),
      head_dim(num_heads > 0 ? embed_dim / num_heads : 0),
      options(options) {
  check(embed_dim > 0 && num_heads > 0 && embed_dim % num_heads == 0,
        "MultiheadAttention: embed_dim={} must be positive and divisible by num_heads={}",
        embed_dim, num_heads);
  check(options.dropout >= 0.0 && options.dropout <= 1.0,
        "MultiheadAttention: dropout must be in [0, 1], got {}", options.dropout);
  in_proj_weight = register_parameter("in_proj_weight", Tensor::empty({3 * embed_dim, embed_dim}, param.dtype));
  if (options.bias) in_proj_bias = register_parameter("in_proj_bias", zeros({3 * embed_dim}, param.dtype));
  out_proj = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, options.bias, param));
  // PyTorch's _reset_parameters: out_proj keeps its Linear weight, its bias becomes zero.
  init::xavier_uniform_(in_proj_weight, 1.0, param.generator);
  if (options.bias) init::zeros_(out_proj->bias);
}

namespace {

// Rows [part * E, (part + count) * E) of a packed projection (a view; undefined stays undefined).
Tensor rows(const Tensor& packed, int64_t part, int64_t count, int64_t E) {
  return packed.defined() ? narrow(packed, 0, part * E, count * E) : Tensor();
}

// x [B, L, E] projected by `count` stacked projections and split into heads: [count, B, H, L, D].
// Contiguous when a graph is recorded (so selecting one projection gives a contiguous
// [B, H, L, D] for the composed attention's products); otherwise a view of the projection, which
// the fused inference attention reads in place.
Tensor project_heads(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t count,
                     int64_t H, int64_t D) {
  const int64_t B = x.shape()[0], L = x.shape()[1];
  const Tensor projected = linear(x, weight, bias);  // [B, L, count * H * D]
  const Tensor heads = permute(reshape(projected, {B, L, count, H, D}), {2, 0, 3, 1, 4});
  return projected.requires_grad() ? contiguous(heads) : heads;
}

void check_input(const Tensor& t, std::string_view name, int64_t E, DType dtype) {
  check(t.defined(), "MultiheadAttention: undefined {}", name);
  check(t.dim() == 3 && t.shape()[2] == E,
        "MultiheadAttention: expected a batch-first {} [B, L, {}], got {}", name, E, t.shape());
  check(t.dtype() == dtype, "MultiheadAttention: {} {} has dtype {} but the parameters are {}",
        name, t.shape(), t.dtype(), dtype);
}

}  // namespace

Tensor MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const AttentionMasks& masks) {
  return forward_plus(Tensor(), query, key, value, masks);
}

Tensor MultiheadAttention::forward_plus(const Tensor& residual, const Tensor& query,
                                        const Tensor& key, const Tensor& value,
                                        const AttentionMasks& masks) {
  const int64_t E = embed_dim, H = num_heads, D = head_dim;
  const DType dtype = in_proj_weight.dtype();
  check_input(query, "query", E, dtype);
  check_input(key, "key", E, dtype);
  check_input(value, "value", E, dtype);
  const int64_t B = query.shape()[0], Lq = query.shape()[1];
  check(key.shape() == value.shape() && key.shape()[0] == B,
        "MultiheadAttention: query {}, key {} and value {} must share the batch size, and key and "
        "value their length",
        query.shape(), key.shape(), value.shape());

  Tensor q, k, v;  // [B, H, L, D]
  if (query.same(key) && key.same(value)) {
    const Tensor qkv = project_heads(query, in_proj_weight, in_proj_bias, 3, H, D);
    q = select(qkv, 0, 0), k = select(qkv, 0, 1), v = select(qkv, 0, 2);
  } else {
    q = select(project_heads(query, rows(in_proj_weight, 0, 1, E), rows(in_proj_bias, 0, 1, E), 1, H, D), 0, 0);
    if (key.same(value)) {
      const Tensor kv = project_heads(key, rows(in_proj_weight, 1, 2, E), rows(in_proj_bias, 1, 2, E), 2, H, D);
      k = select(kv, 0, 0), v = select(kv, 0, 1);
    } else {
      k = select(project_heads(key, rows(in_proj_weight, 1, 1, E), rows(in_proj_bias, 1, 1, E), 1, H, D), 0, 0);
      v = select(project_heads(value, rows(in_proj_weight, 2, 1, E), rows(in_proj_bias, 2, 1, E), 1, H, D), 0, 0);
    }
  }

  AttentionOptions attention;
  attention.key_padding_mask = masks.key_padding_mask;
  attention.attn_mask = masks.attn_mask;
  attention.causal = masks.causal;
  attention.dropout_p = options.dropout;
  attention.training = is_training();
  attention.generator = options.dropout_generator;
  const Tensor heads = scaled_dot_product_attention(q, k, v, attention);  // [B, H, Lq, D]
  const Tensor merged = reshape(transpose(heads, 1, 2), {B, Lq, E});
  if (!residual.defined()) return out_proj->forward(merged);
  return linear(merged, out_proj->weight, out_proj->bias, {.residual = residual});
}

std::string MultiheadAttention::extra_repr() const {
  return fmt::format("embed_dim={}, num_heads={}, dropout={}", embed_dim, num_heads,
                     options.dropout);
}

}  // namespace dg::nn
