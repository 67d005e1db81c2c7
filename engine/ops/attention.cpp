// Scaled dot-product attention, composed from engine ops:
//   out = softmax(q k^T / sqrt(D) + additive mask, masked positions removed) v.
// Masks: key_padding_mask [B, Lk] (true = that key is padding), a bool attn_mask (true = masked
// out) or a float one added to the scores, of any shape that broadcasts to [B, H, Lq, Lk], and
// `causal` (query i sees keys j <= i).
// All the bool masks are combined into one and applied with masked_fill(-inf) before the softmax,
// so a masked position's weight is exactly zero and its key/value cannot influence the output or
// receive a gradient. A query whose every key is masked gets all-zero weights, hence a zero output
// (PyTorch would give NaN there; zeros keep a padded query from poisoning the loss and gradients).
//
// The gradient comes from the ops used, so it is differentiable again. Without a mask the softmax
// is dg::softmax (one fused kernel, engine/ops/softmax.cpp); with one it is composed here
// (masked_softmax: masked_fill, exp, sum, div), which is what gives all-masked rows zeros.
//
// Where nothing is recorded and no dropout is drawn (inference), the backend's fused kernel runs
// instead when it has one (Backend::inference_attention; the CPU's in
// engine/cpu/fast/attention_kernels.cpp): it reads q, k and v where they lie, so heads split out of a
// projection by a permute need no copy, and returns the heads already merged in memory
// ([B, Lq, H, D], seen here as [B, H, Lq, D]).
#include <cmath>
#include <limits>

#include "engine/backend.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "engine/ops/op_helpers.h"

namespace dg {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// softmax over the last dim with masked positions at exactly 0, and rows with no unmasked
// position all 0. Stable: the row max is subtracted first; it is detached because softmax does
// not depend on the shift, so no gradient needs to flow through it.
Tensor masked_softmax(const Tensor& scores, const Tensor& masked) {
  // No mask: the fused softmax (one kernel, its own backward) instead of nine ops over the scores.
  if (!masked.defined()) return softmax(scores, -1);
  const Tensor s = masked_fill(scores, masked, -kInf);
  Tensor shift = amax(s.detach(), {-1}, /*keepdim=*/true);
  shift = where(eq(shift, -kInf), 0.0, shift);  // an all-masked row: exp(-inf - 0) = 0
  const Tensor e = exp(s - shift);
  const Tensor total = sum(e, {-1}, /*keepdim=*/true);
  return e / where(eq(total, 0.0), 1.0, total);
}

// The bool masks combined into one that broadcasts against the scores [B, H, Lq, Lk], or an
// undefined tensor when nothing is masked.
Tensor combined_bool_mask(const AttentionOptions& o, int64_t B, int64_t Lq, int64_t Lk,
                          Device device) {
  Tensor masked;
  auto add = [&masked](const Tensor& m) { masked = masked.defined() ? logical_or(masked, m) : m; };
  if (o.key_padding_mask.defined()) add(reshape(o.key_padding_mask, {B, 1, 1, Lk}));
  if (o.attn_mask.defined() && o.attn_mask.dtype() == DType::b8) add(o.attn_mask);
  if (o.causal) {
    // Query i may not see key j > i (the mask is aligned at the top-left, as in PyTorch).
    // Positions are counted with cumsum so they are made on the tensors' device.
    const Tensor query = cumsum(ones({Lq, 1}, DType::i64, device), 0);
    const Tensor key = cumsum(ones({1, Lk}, DType::i64, device), 1);
    add(reshape(gt(key, query), {1, 1, Lq, Lk}));
  }
  return masked;
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& options) {
  constexpr std::string_view op = "scaled_dot_product_attention";
  detail::check_floating(q, op);
  detail::check_same(q, k, op);
  detail::check_same(q, v, op);
  check(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
        "{}: expected q, k and v of rank 4 [B, H, L, D], got q {}, k {}, v {}", op, q.shape(),
        k.shape(), v.shape());
  const int64_t B = q.shape()[0], H = q.shape()[1], Lq = q.shape()[2], D = q.shape()[3];
  const int64_t Lk = k.shape()[2];
  check(k.shape()[0] == B && v.shape()[0] == B && k.shape()[1] == H && v.shape()[1] == H,
        "{}: batch and head dims differ: q {}, k {}, v {}", op, q.shape(), k.shape(), v.shape());
  check(k.shape()[3] == D, "{}: q {} and k {} have different head dims ({} and {})", op, q.shape(),
        k.shape(), D, k.shape()[3]);
  check(v.shape()[2] == Lk, "{}: k {} and v {} have different sequence lengths ({} and {})", op,
        k.shape(), v.shape(), Lk, v.shape()[2]);

  check(Lk > 0, "{}: k {} has no keys to attend to", op, k.shape());
  check(options.dropout_p >= 0.0 && options.dropout_p <= 1.0,
        "{}: dropout_p must be in [0, 1], got {}", op, options.dropout_p);

  const Tensor& padding = options.key_padding_mask;
  if (padding.defined()) {
    check(padding.dtype() == DType::b8,
          "{}: key_padding_mask of shape {} has dtype {}, expected bool (true = padding)", op,
          padding.shape(), padding.dtype());
    check(padding.shape() == Shape{B, Lk},
          "{}: key_padding_mask of shape {} should be [B, Lk] = [{},{}]", op, padding.shape(), B,
          Lk);
    check(padding.device() == q.device(), "{}: key_padding_mask is on {} but q is on {}", op,
          padding.device(), q.device());
  }
  const Tensor& attn_mask = options.attn_mask;
  if (attn_mask.defined()) {
    check(attn_mask.dtype() == DType::b8 || attn_mask.dtype() == q.dtype(),
          "{}: attn_mask of shape {} has dtype {}, expected bool or q's dtype {}", op,
          attn_mask.shape(), attn_mask.dtype(), q.dtype());
    const Shape scores_shape{B, H, Lq, Lk};
    bool broadcasts = attn_mask.dim() <= 4;
    for (int64_t i = 1; broadcasts && i <= attn_mask.dim(); ++i) {
      const int64_t m = attn_mask.shape()[attn_mask.dim() - i], s = scores_shape[4 - i];
      broadcasts = m == s || m == 1;
    }
    check(broadcasts,
          "{}: attn_mask of shape {} does not broadcast to the scores [B, H, Lq, Lk] = [{},{},{},{}]",
          op, attn_mask.shape(), B, H, Lq, Lk);
    check(attn_mask.device() == q.device(), "{}: attn_mask is on {} but q is on {}", op,
          attn_mask.device(), q.device());
  }

  const double scale = options.scale ? *options.scale : 1.0 / std::sqrt(static_cast<double>(D));
  check(std::isfinite(scale), "{}: scale must be finite, got {}", op, scale);
  const Tensor additive = attn_mask.defined() && attn_mask.dtype() != DType::b8 ? attn_mask : Tensor();
  // The fused kernel takes an additive mask shared by every batch and head ([Lq, Lk], any strides).
  const bool additive_per_query_key =
      !additive.defined() || [&] {
        for (int64_t i = 0; i + 2 < additive.dim(); ++i) {
          if (additive.shape()[i] != 1) return false;
        }
        return true;
      }();
  const Tensor masked = combined_bool_mask(options, B, Lq, Lk, q.device());
  const bool dropping = options.training && options.dropout_p > 0.0;
  if (!dropping && additive_per_query_key && !needs_grad(q, k, v) &&
      !(additive.defined() && needs_grad(additive))) {
    // Nothing to record: the backend's fused kernel, when it has one for these operands.
    Tensor additive_2d = additive;  // leading dims of size 1 dropped, then broadcast to [Lq, Lk]
    if (additive.defined()) {
      while (additive_2d.dim() > 2) additive_2d = squeeze(additive_2d, 0);
      additive_2d = expand(additive_2d, {Lq, Lk});
    }
    const Tensor heads_last = backend(q.device()).inference_attention(
        q, k, v, masked.defined() ? expand(masked, {B, H, Lq, Lk}) : Tensor(), additive_2d, scale);
    if (heads_last.defined()) {
      // Two products, and per score: scale, max, shift, exp, sum, normalise.
      flops::add(4 * B * H * Lq * Lk * D + 6 * B * H * Lq * Lk);
      return permute(heads_last, {0, 2, 1, 3});  // [B, Lq, H, D] seen as [B, H, Lq, D]
    }
  }

  // Scaling q (Lq x D values) is cheaper than scaling the scores (Lq x Lk).
  Tensor scores = matmul(q * scale, transpose(k, -2, -1));
  if (additive.defined()) scores = scores + additive;
  Tensor weights = masked_softmax(scores, masked);
  if (dropping) weights = dropout(weights, options.dropout_p, /*training=*/true, options.generator);
  return matmul(weights, v);
}

}  // namespace dg
