// Float64 gradient checks for the normalisation and other functional layers, one case per line.
// layer_norm, batch_norm, embedding and linear have their own nodes (OpId::layer_norm,
// batch_norm, embedding, linear); attention is registered under matmul, dropout under mul, the ops
// they mainly exercise. The second-order cases run the norms' create_graph backward (engine ops that
// recompute the statistics); embedding is linear, so its case squares the output to make the
// second derivative visible. dropout's function reseeds its own Generator on every call, so the
// finite differences see one fixed mask; batch_norm's running stats are fresh in every call.
#include "engine/ops/functional.h"
#include "tests/engine/gradcheck_registry.h"
#include "tests/engine/test_util.h"

namespace dg::test {
namespace {

using Inputs = std::vector<Tensor>;

// Leaves of the given shapes, seeded from `seed` upwards.
std::function<Inputs()> leaves(std::vector<Shape> shapes, uint64_t seed, double lo = -1.0,
                               double hi = 1.0) {
  return [shapes, seed, lo, hi] {
    Inputs in;
    for (size_t i = 0; i < shapes.size(); ++i) in.push_back(grad_input(shapes[i], seed + i, lo, hi));
    return in;
  };
}
Tensor squared(const Tensor& t) { return t * t; }

Tensor train_bn(const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t C = x.shape()[1];
  return batch_norm(x, zeros({C}, DType::f64), ones({C}, DType::f64), w, b, /*training=*/true);
}
Tensor eval_bn(const Tensor& x, const Tensor& w, const Tensor& b) {
  return batch_norm(x, tensor_f64({0.3, -0.2, 0.1}), tensor_f64({1.5, 0.7, 2.0}), w, b,
                    /*training=*/false);
}

// Tensors, not globals: none may be created during static initialisation.
Tensor tokens() { return tensor_i64({2, 0, 2, 3, 1, 2}, {2, 3}); }
Tensor key_padding() {
  return from_vector(std::vector<bool>{false, false, true, false, true, false, false, false}, {2, 4});
}

// ---------------------------------------------------------------- layer_norm
RegisterGradcheck ln_affine{{OpId::layer_norm, "layer_norm [2,3,4] over [4], weight and bias",
    leaves({{2, 3, 4}, {4}, {4}}, 1),
    [](const Inputs& x) { return layer_norm(x[0], {4}, x[1], x[2]); }, true}};
RegisterGradcheck ln_two_dims{{OpId::layer_norm, "layer_norm [2,3,4] over [3,4], no affine",
    leaves({{2, 3, 4}}, 4),
    [](const Inputs& x) { return layer_norm(x[0], {3, 4}); }, true}};
RegisterGradcheck ln_weight_only{{OpId::layer_norm, "layer_norm [3,5] weight only, strided input",
    leaves({{5, 3}, {5}}, 6),
    [](const Inputs& x) { return layer_norm(transpose(x[0], 0, 1), {5}, x[1]); }}};
RegisterGradcheck ln_bias_only{{OpId::layer_norm, "layer_norm [4,3] bias only",
    leaves({{4, 3}, {3}}, 8),
    [](const Inputs& x) { return layer_norm(x[0], {3}, Tensor(), x[1]); }}};

// ---------------------------------------------------------------- batch_norm
RegisterGradcheck bn_train{{OpId::batch_norm, "batch_norm train [3,2,2,2], weight and bias",
    leaves({{3, 2, 2, 2}, {2}, {2}}, 10),
    [](const Inputs& x) { return train_bn(x[0], x[1], x[2]); }, true}};
RegisterGradcheck bn_train_2d{{OpId::batch_norm, "batch_norm train [4,3], no affine",
    leaves({{4, 3}}, 13),
    [](const Inputs& x) { return train_bn(x[0], Tensor(), Tensor()); }, true}};
RegisterGradcheck bn_train_weight{{OpId::batch_norm, "batch_norm train [2,3,3] weight only",
    leaves({{2, 3, 3}, {3}}, 15),
    [](const Inputs& x) { return train_bn(x[0], x[1], Tensor()); }}};
RegisterGradcheck bn_eval{{OpId::batch_norm, "batch_norm eval [2,3,4], weight and bias",
    leaves({{2, 3, 4}, {3}, {3}}, 17),
    [](const Inputs& x) { return squared(eval_bn(x[0], x[1], x[2])); }, true}};

// ---------------------------------------------------------------- embedding
// By design the padding row's analytical gradient is 0 although the output depends on it, so the
// outputs at padded positions are multiplied by 0 here: the check then covers the other rows'
// gradients through the padding-aware backward (test_norm_misc.cpp checks the zero row itself).
RegisterGradcheck emb_padding{{OpId::embedding, "embedding [4,3] indices [2,3] padding_idx 2",
    leaves({{4, 3}}, 20),
    [](const Inputs& x) {
      const Tensor kept = unsqueeze(to_dtype(ne(tokens(), 2.0), DType::f64), -1);
      return squared(embedding(tokens(), x[0], 2)) * kept;
    }, true}};
RegisterGradcheck emb_plain{{OpId::embedding, "embedding [4,3] indices [2,3]",
    leaves({{4, 3}}, 21),
    [](const Inputs& x) { return embedding(tokens(), x[0]); }}};

// ---------------------------------------------------------------- fused LSTM cell
// Both outputs enter the checked function, so each node's backward runs; c_next is squared so
// the second-order check sees the curvature of the state through h.
RegisterGradcheck lstm_cell_with_c{{OpId::lstm_cell_state, "lstm_cell [3,8] gates, c [3,2]",
    leaves({{3, 8}, {3, 2}}, 29, -2.0, 2.0),
    [](const Inputs& x) {
      const LSTMCellOutput next = lstm_cell(x[0], x[1]);
      return next.h + next.c * next.c;
    }, true}};
RegisterGradcheck lstm_cell_no_c{{OpId::lstm_cell_output, "lstm_cell [2,12] gates, no c",
    leaves({{2, 12}}, 31, -2.0, 2.0),
    [](const Inputs& x) { return squared(lstm_cell(x[0]).h); }, true}};

// ---------------------------------------------------------------- linear, dropout
RegisterGradcheck linear_3d{{OpId::linear, "linear [2,3,4] -> 5 with bias",
    leaves({{2, 3, 4}, {5, 4}, {5}}, 22),
    [](const Inputs& x) { return squared(linear(x[0], x[1], x[2])); }, true}};
RegisterGradcheck linear_1d{{OpId::linear, "linear [4] -> 3 without bias",
    leaves({{4}, {3, 4}}, 25),
    [](const Inputs& x) { return linear(x[0], x[1]); }}};
// With an epilogue, recorded, linear is the composition linear, relu, add: the gradient reaches the
// residual too. (relu's kink: an output within the finite-difference step of 0 would fail the
// check; random inputs make that about a one-in-10^5 event, and this seed has none.)
RegisterGradcheck linear_epilogue{{OpId::linear, "linear [2,3,4] -> 5, relu + residual",
    leaves({{2, 3, 4}, {5, 4}, {5}, {2, 3, 5}}, 28),
    [](const Inputs& x) {
      return squared(linear(x[0], x[1], x[2], {.relu = true, .residual = x[3]}));
    }}};
RegisterGradcheck dropout_fixed{{OpId::mul, "dropout p=0.3 [4,5], fixed seed",
    leaves({{4, 5}}, 27),
    [](const Inputs& x) {
      Generator g(99);
      return squared(dropout(x[0], 0.3, true, &g));
    }, true}};

// ---------------------------------------------------------------- attention (composite)
RegisterGradcheck attn_padding{{OpId::matmul, "scaled_dot_product_attention [2,2,3,2] x [2,2,4,2], key padding",
    leaves({{2, 2, 3, 2}, {2, 2, 4, 2}, {2, 2, 4, 2}}, 30),
    [](const Inputs& x) {
      AttentionOptions o;
      o.key_padding_mask = key_padding();
      return scaled_dot_product_attention(x[0], x[1], x[2], o);
    }, true}};
RegisterGradcheck attn_causal_float{{OpId::matmul, "scaled_dot_product_attention [1,2,4,3] causal + float mask",
    leaves({{1, 2, 4, 3}, {1, 2, 4, 3}, {1, 2, 4, 3}, {4, 4}}, 33),
    [](const Inputs& x) {
      AttentionOptions o;
      o.causal = true;
      o.attn_mask = x[3];  // additive, and differentiable
      return scaled_dot_product_attention(x[0], x[1], x[2], o);
    }}};

}  // namespace
}  // namespace dg::test
