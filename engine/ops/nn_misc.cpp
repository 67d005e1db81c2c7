// The small layers: linear, dropout and embedding.
//
// linear has its own node: one GEMM with the bias added in place, and a backward of two GEMMs and a
// column sum written with engine ops (so it can be differentiated again). As a composition
// (reshape, transpose, matmul, broadcast add, reshape) it would record five nodes and make one more
// pass over the output, costly for small layers run many times (an LSTM cell per time step).
// linear with an epilogue (relu, then a residual added) is that composition when recorded; without a
// graph the backend may apply the epilogue as it stores the product (Backend::inference_linear).
// dropout is a composition of engine ops (one Bernoulli mask and a multiply), so its gradients,
// and gradients of those, come from the ops it uses.
// embedding has its own node: its forward is a row gather (the index_select kernel) and its
// backward adds each output row's gradient into the row it came from, then clears the row at
// padding_idx, which is cheaper than masking every padded position of the gradient and gives
// PyTorch's semantics exactly (that row receives no gradient at all).
#include <algorithm>
#include <vector>

#include "engine/backend.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "engine/ops/op_helpers.h"

namespace dg {

// ---------------------------------------------------------------- linear

namespace {

// The checks linear makes of its operands; returns the output's shape.
Shape linear_output_shape(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  constexpr std::string_view op = "linear";
  detail::check_floating(input, op);
  detail::check_same(input, weight, op);
  check(weight.dim() == 2, "{}: weight must be 2-D [out_features, in_features], got {}", op,
        weight.shape());
  check(input.dim() >= 1, "{}: input must have at least 1 dim [..., in_features], got a 0-dim tensor",
        op);
  const int64_t in_features = weight.shape()[1], out_features = weight.shape()[0];
  check(input.shape().back() == in_features,
        "{}: input {} has {} features in its last dim but weight {} expects {}", op, input.shape(),
        input.shape().back(), weight.shape(), in_features);
  if (bias.defined()) {
    detail::check_same(input, bias, op);
    check(bias.shape() == Shape{out_features},
          "{}: bias of shape {} does not match the {} outputs of weight {}", op, bias.shape(),
          out_features, weight.shape());
  }
  Shape out_shape = input.shape();
  out_shape[out_shape.size() - 1] = out_features;
  return out_shape;
}

// relu?(input @ weight^T + bias) + residual? by the backend's inference path (no graph), shaped
// out_shape; undefined, having run nothing, where the backend has no fast path for the operands.
Tensor backend_inference_linear(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                bool relu, const Tensor& residual, const Shape& out_shape) {
  const int64_t in_features = weight.shape()[1], out_features = weight.shape()[0];
  NoGradGuard no_grad;
  const Tensor rows = input.dim() == 2 ? input : reshape(input, {-1, in_features});
  const Tensor residual_rows =
      !residual.defined() || residual.dim() == 2 ? residual : reshape(residual, {-1, out_features});
  const Tensor out = backend(input.device()).inference_linear(rows, weight, bias, relu, residual_rows);
  if (!out.defined()) return out;
  const int64_t per_output = in_features + (bias.defined() ? 1 : 0) + (relu ? 1 : 0) +
                             (residual.defined() ? 1 : 0);
  flops::add(rows.shape()[0] * out_features * per_output);
  return input.dim() == 2 ? out : reshape(out, out_shape);
}

}  // namespace

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  const Shape out_shape = linear_output_shape(input, weight, bias);
  const int64_t in_features = weight.shape()[1], out_features = weight.shape()[0];
  const bool recorded = needs_grad(input, weight, bias);
  if (!recorded) {
    // With no graph to record the backend may run it on a weight it keeps packed
    // (engine/cpu/fast/packed_linear.cpp), the bias included.
    const Tensor packed = backend_inference_linear(input, weight, bias, false, Tensor(), out_shape);
    if (packed.defined()) return packed;
  }
  Tensor out;
  {
    // One GEMM over all leading dims, [rows, in] @ [in, out], then the bias in place; recorded
    // below as one node.
    NoGradGuard no_grad;
    const Tensor rows = input.dim() == 2 ? input : reshape(input, {-1, in_features});
    out = matmul(rows, transpose(weight, 0, 1));
    if (bias.defined()) out.add_(bias);
    if (input.dim() != 2) out = reshape(out, out_shape);
  }
  if (recorded) {
    const bool has_bias = bias.defined();
    std::vector<Tensor> inputs{input, weight};
    if (has_bias) inputs.push_back(bias);
    record(OpId::linear, out, inputs, {input, weight},
           [in_features, out_features, has_bias](const BackwardArgs& a) -> Grads {
             const Tensor& input = a.saved[0];
             const Tensor& weight = a.saved[1];
             const Tensor grad_rows = reshape(a.grad, {-1, out_features});
             Tensor grad_input, grad_weight, grad_bias;
             if (a.needs(0)) grad_input = reshape(matmul(grad_rows, weight), input.shape());
             if (a.needs(1))
               grad_weight = matmul(transpose(grad_rows, 0, 1), reshape(input, {-1, in_features}));
             if (!has_bias) return {grad_input, grad_weight};
             if (a.needs(2)) grad_bias = sum(grad_rows, {0});
             return {grad_input, grad_weight, grad_bias};
           });
  }
  return out;
}

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const LinearEpilogue& epilogue) {
  const Shape out_shape = linear_output_shape(input, weight, bias);
  const Tensor& residual = epilogue.residual;
  if (residual.defined()) {
    detail::check_same(input, residual, "linear");
    check(residual.shape() == out_shape, "linear: residual of shape {} does not match the output {}",
          residual.shape(), out_shape);
  }
  if (!needs_grad(input, weight, bias, residual)) {
    // Nothing to record: the epilogue in the product's last store, when the backend can.
    const Tensor fused = backend_inference_linear(input, weight, bias, epilogue.relu, residual, out_shape);
    if (fused.defined()) return fused;
  }
  Tensor out = linear(input, weight, bias);
  if (epilogue.relu) out = relu(out);
  return residual.defined() ? residual + out : out;
}

// ---------------------------------------------------------------- dropout

Tensor dropout(const Tensor& input, double p, bool training, Generator* generator) {
  constexpr std::string_view op = "dropout";
  detail::check_floating(input, op);
  check(p >= 0.0 && p <= 1.0, "{}: probability p must be in [0, 1], got {}", op, p);
  if (!training || p == 0.0) return input;
  if (p == 1.0) return input * zeros_like(input);  // every element dropped; the gradient is 0
  // The mask holds 0 or 1 / (1 - p), so the expected value of each output equals its input.
  Tensor mask = generator ? bernoulli(input.shape(), 1.0 - p, *generator, input.dtype(), input.device())
                          : bernoulli(input.shape(), 1.0 - p, input.dtype(), input.device());
  {
    NoGradGuard no_grad;
    mask.mul_(1.0 / (1.0 - p));
  }
  return input * mask;
}

// ---------------------------------------------------------------- embedding

Tensor embedding(const Tensor& indices, const Tensor& weight, std::optional<int64_t> padding_idx) {
  constexpr std::string_view op = "embedding";
  detail::check_defined(weight, op);
  detail::check_defined(indices, op);
  check(!(is_floating(indices.dtype()) && weight.dtype() == DType::i64),
        "{}: takes (indices, weight) in that order, as PyTorch's F.embedding; got a {} tensor {} "
        "first and an i64 tensor {} second: swap them",
        op, indices.dtype(), indices.shape(), weight.shape());
  check(weight.dim() == 2, "{}: weight must be 2-D [num_embeddings, embedding_dim], got {}", op,
        weight.shape());
  check(indices.dtype() == DType::i64, "{}: indices of shape {} have dtype {}, expected i64", op,
        indices.shape(), indices.dtype());
  check(indices.device() == weight.device(), "{}: indices are on {} but weight is on {}", op,
        indices.device(), weight.device());
  const int64_t num_embeddings = weight.shape()[0], dim = weight.shape()[1];
  std::optional<int64_t> pad;
  if (padding_idx) {
    check(*padding_idx >= -num_embeddings && *padding_idx < num_embeddings,
          "{}: padding_idx {} is out of range for {} embeddings", op, *padding_idx, num_embeddings);
    pad = *padding_idx < 0 ? *padding_idx + num_embeddings : *padding_idx;  // like PyTorch
  }

  // Flat, contiguous indices; every one bounds-checked before the kernel reads a row.
  const Tensor flat = contiguous(reshape(indices.detach(), {-1}));
  const int64_t count = flat.numel();
  {
    const std::vector<int64_t> host = flat.device().is_cpu() ? std::vector<int64_t>()
                                                              : flat.to_vector<int64_t>();
    const int64_t* p = flat.device().is_cpu() ? flat.data<int64_t>() : host.data();
    const int64_t* bad = std::find_if(p, p + count, [num_embeddings](int64_t i) {
      return i < 0 || i >= num_embeddings;
    });
    if (bad != p + count)
      fail("{}: index {} is out of range for {} embeddings (weight {}){}", op, *bad,
           num_embeddings, weight.shape(), *bad < 0 ? "; negative indices are not supported" : "");
  }
  Tensor rows = Tensor::empty({count, dim}, weight.dtype(), weight.device());
  if (rows.numel() > 0) backend(weight.device()).index_select(rows, weight, 0, flat);
  Shape out_shape = indices.shape();
  out_shape.push_back(dim);
  Tensor out = make_view(rows, out_shape, contiguous_strides(out_shape), 0);

  if (needs_grad(weight)) {
    record(OpId::embedding, out, {weight}, {flat},
           [num_embeddings, dim, pad](const BackwardArgs& a) -> Grads {
             const Tensor& flat = a.saved[0];
             const Tensor g = reshape(a.grad, {-1, dim});
             if (grad_enabled()) {  // create_graph: differentiable ops
               const Tensor kept = pad ? where(unsqueeze(eq(flat, static_cast<double>(*pad)), 1), 0.0, g) : g;
               return {index_add(zeros({num_embeddings, dim}, g.dtype(), g.device()), 0, flat, kept)};
             }
             Tensor gw = zeros({num_embeddings, dim}, g.dtype(), g.device());
             if (g.numel() > 0) backend(g.device()).index_add(gw, 0, flat, g);
             flops::add(g.numel());
             if (pad) narrow(gw, 0, *pad, 1).zero_();
             return {gw};
           });
  }
  return out;
}

}  // namespace dg
