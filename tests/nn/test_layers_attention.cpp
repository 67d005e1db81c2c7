// MultiheadAttention and the transformer layers' defining properties, beyond the PyTorch
// comparisons in test_layers_golden.cpp: the fused self-attention projection equals separate
// projections, padded keys cannot influence the output, causal attention cannot see the future,
// the layers' parameter names equal PyTorch's key lists, init follows PyTorch, the encoder layer is
// the residual/norm arrangement it claims (pre-LN vs post-LN), dropout is off in eval mode and
// reproducible with a generator in training, and the error messages.
#include <catch2/catch.hpp>

#include <cmath>

#include "nn/nn.h"
#include "tests/engine/test_util.h"
#include "tests/nn/layer_test_util.h"

using namespace dg;
using namespace dg::nn;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

namespace {

using dg::nn_test::keys;
using dg::nn_test::kF64;

// x with positions [from, from + count) of dim 1 replaced by other values.
Tensor perturb_positions(const Tensor& x, int64_t from, int64_t count, uint64_t seed) {
  const int64_t L = x.shape()[1];
  Shape shape = x.shape();
  shape[1] = count;
  std::vector<Tensor> parts{narrow(x, 1, 0, from), uniform_f64(shape, seed, -3.0, 3.0)};
  if (from + count < L) parts.push_back(narrow(x, 1, from + count, L - from - count));
  return cat(parts, 1);
}

}  // namespace

TEST_CASE("MultiheadAttention: PyTorch's names, shapes and init", "[nn][attention]") {
  Generator gen(2);
  MultiheadAttention mha(64, 4, {}, {.generator = &gen});
  CHECK(keys(mha.state_dict()) ==
        std::vector<std::string>{"in_proj_bias", "in_proj_weight", "out_proj.bias", "out_proj.weight"});
  CHECK(mha.in_proj_weight.shape() == Shape{192, 64});
  CHECK(mha.head_dim == 16);
  // xavier_uniform_ on [3E, E]: bound sqrt(6 / (E + 3E)); biases zero; out_proj like a Linear.
  const double xavier = std::sqrt(6.0 / (64 + 192));
  CHECK(amax(abs(mha.in_proj_weight)).item<float>() <= xavier);
  CHECK(amax(abs(mha.in_proj_weight)).item<float>() > 0.9 * xavier);
  CHECK(amax(abs(mha.in_proj_bias)).item<float>() == 0.0f);
  CHECK(amax(abs(mha.out_proj->bias)).item<float>() == 0.0f);
  CHECK(amax(abs(mha.out_proj->weight)).item<float>() <= 1.0 / 8.0);
  MultiheadAttention no_bias(8, 2, {.bias = false});
  CHECK(keys(no_bias.state_dict()) == std::vector<std::string>{"in_proj_weight", "out_proj.weight"});
}

TEST_CASE("MultiheadAttention: the fused projections equal separate ones; one head is the textbook formula",
          "[nn][attention]") {
  MultiheadAttention mha(6, 2, {}, kF64);
  const Tensor x = uniform_f64({2, 4, 6}, 1);
  const Tensor copy = clone(x);  // equal values, but not the same tensor: no fusion
  CHECK(max_abs_diff(mha(x, x, x), mha(x, copy, clone(x))) < 1e-14);
  const Tensor memory = uniform_f64({2, 3, 6}, 2);
  CHECK(max_abs_diff(mha(x, memory, memory), mha(x, memory, clone(memory))) < 1e-14);

  MultiheadAttention single(4, 1, {}, kF64);
  {
    NoGradGuard no_grad;
    single.in_proj_bias.copy_(uniform_f64({12}, 3));
    single.out_proj->bias.copy_(uniform_f64({4}, 4));
  }
  const Tensor q_in = uniform_f64({1, 3, 4}, 5), kv_in = uniform_f64({1, 5, 4}, 6);
  auto proj = [&](const Tensor& t, int k) {
    return matmul(t, transpose(narrow(single.in_proj_weight, 0, 4 * k, 4), 0, 1)) + narrow(single.in_proj_bias, 0, 4 * k, 4);
  };
  const Tensor q = proj(q_in, 0), k = proj(kv_in, 1), v = proj(kv_in, 2);
  const Tensor scores = matmul(q, transpose(k, 1, 2)) / 2.0;  // sqrt(head_dim = 4)
  const Tensor weights = exp(scores) / sum(exp(scores), {-1}, true);
  const Tensor expected = single.out_proj->forward(matmul(weights, v));
  CHECK(max_abs_diff(single(q_in, kv_in, kv_in), expected) < 1e-14);
}

TEST_CASE("MultiheadAttention: padded keys and future positions cannot influence the output",
          "[nn][attention]") {
  MultiheadAttention mha(8, 2, {}, kF64);
  const Tensor x = uniform_f64({2, 5, 8}, 7);
  const Tensor memory = uniform_f64({2, 6, 8}, 8);
  Tensor padding = from_vector(std::vector<bool>{false, false, false, false, true, true,
                                                 false, false, false, false, false, false}, {2, 6});
  const Tensor changed = perturb_positions(memory, 4, 2, 9);  // only sequence 0's padded keys matter
  const Tensor masked_changed = cat({narrow(changed, 0, 0, 1), narrow(memory, 0, 1, 1)}, 0);
  CHECK(max_abs_diff(mha(x, memory, memory, {.key_padding_mask = padding}),
                     mha(x, masked_changed, masked_changed, {.key_padding_mask = padding})) < 1e-14);
  // Without the mask the same change is visible.
  CHECK(max_abs_diff(mha(x, memory, memory), mha(x, masked_changed, masked_changed)) > 1e-6);

  // Causal self-attention: outputs before position 3 ignore positions 3 and later.
  const Tensor y = mha(x, x, x, {.causal = true});
  const Tensor x_changed = perturb_positions(x, 3, 2, 10);
  const Tensor y_changed = mha(x_changed, x_changed, x_changed, {.causal = true});
  CHECK(max_abs_diff(narrow(y, 1, 0, 3), narrow(y_changed, 1, 0, 3)) < 1e-14);
  CHECK(max_abs_diff(narrow(y, 1, 3, 2), narrow(y_changed, 1, 3, 2)) > 1e-6);
  // The causal flag and the equivalent boolean mask agree.
  const Tensor upper = gt(reshape(arange(5), {1, 5}), reshape(arange(5), {5, 1}));
  CHECK(max_abs_diff(y, mha(x, x, x, {.attn_mask = upper})) < 1e-14);
}

TEST_CASE("MultiheadAttention: error messages", "[nn][attention]") {
  CHECK_THROWS_WITH(MultiheadAttention(10, 3),
                    Catch::Contains("MultiheadAttention: embed_dim=10 must be positive and divisible by num_heads=3"));
  MultiheadAttention mha(8, 2);
  const Tensor x = zeros({2, 3, 8});
  CHECK_THROWS_WITH(mha(zeros({3, 8}), x, x),
                    Catch::Contains("MultiheadAttention: expected a batch-first query [B, L, 8], got [3,8]"));
  CHECK_THROWS_WITH(mha(x, zeros({2, 4, 8}), zeros({2, 5, 8})),
                    Catch::Contains("must share the batch size, and key and value their length"));
  CHECK_THROWS_WITH(mha(x, x, x, {.key_padding_mask = zeros({2, 3})}), Catch::Contains("key_padding_mask"));
}

TEST_CASE("transformer layers: PyTorch's state-dict keys", "[nn][attention]") {
  TransformerEncoderLayer encoder(8, 2, {.dim_feedforward = 16});
  CHECK(keys(encoder.state_dict()) ==
        std::vector<std::string>{"linear1.bias", "linear1.weight", "linear2.bias", "linear2.weight",
                                 "norm1.bias", "norm1.weight", "norm2.bias", "norm2.weight",
                                 "self_attn.in_proj_bias", "self_attn.in_proj_weight",
                                 "self_attn.out_proj.bias", "self_attn.out_proj.weight"});
  TransformerDecoderLayer decoder(8, 2, {.dim_feedforward = 16});
  CHECK(keys(decoder.state_dict()) ==
        std::vector<std::string>{"linear1.bias", "linear1.weight", "linear2.bias", "linear2.weight",
                                 "multihead_attn.in_proj_bias", "multihead_attn.in_proj_weight",
                                 "multihead_attn.out_proj.bias", "multihead_attn.out_proj.weight",
                                 "norm1.bias", "norm1.weight", "norm2.bias", "norm2.weight",
                                 "norm3.bias", "norm3.weight", "self_attn.in_proj_bias",
                                 "self_attn.in_proj_weight", "self_attn.out_proj.bias",
                                 "self_attn.out_proj.weight"});
  CHECK(encoder.linear1->weight.shape() == Shape{16, 8});
  // d_model -> 3 d_model in-proj, out-proj, two FFN linears, two norms.
  CHECK(encoder.num_parameters() == (3 * 64 + 24) + (64 + 8) + (128 + 16) + (128 + 8) + 4 * 8);
}

TEST_CASE("TransformerEncoderLayer: post-LN and pre-LN residual arrangements", "[nn][attention]") {
  const Tensor x = uniform_f64({2, 4, 8}, 20);
  for (bool norm_first : {false, true}) {
    TransformerEncoderLayer layer(8, 2, {.dim_feedforward = 16, .dropout = 0.0, .norm_first = norm_first}, kF64);
    auto sa = [&](const Tensor& t) { return (*layer.self_attn)(t, t, t); };
    auto ff = [&](const Tensor& t) { return (*layer.linear2)(relu((*layer.linear1)(t))); };
    Tensor expected;
    if (norm_first) {
      const Tensor h = x + sa((*layer.norm1)(x));
      expected = h + ff((*layer.norm2)(h));
    } else {
      const Tensor h = (*layer.norm1)(x + sa(x));
      expected = (*layer.norm2)(h + ff(h));
    }
    CHECK(max_abs_diff(layer(x), expected) < 1e-14);
  }
}

TEST_CASE("TransformerDecoderLayer: causal self-attention cannot see later target positions",
          "[nn][attention]") {
  TransformerDecoderLayer layer(8, 2, {.dim_feedforward = 16, .activation = Activation::gelu}, kF64);
  layer.eval();
  const Tensor tgt = uniform_f64({2, 5, 8}, 21), memory = uniform_f64({2, 3, 8}, 22);
  const Tensor y = layer(tgt, memory, {.causal = true});
  const Tensor changed = perturb_positions(tgt, 2, 3, 23);
  const Tensor y_changed = layer(changed, memory, {.causal = true});
  CHECK(max_abs_diff(narrow(y, 1, 0, 2), narrow(y_changed, 1, 0, 2)) < 1e-13);
  CHECK(max_abs_diff(narrow(y, 1, 2, 3), narrow(y_changed, 1, 2, 3)) > 1e-6);
  // Every target position attends to the memory: changing it changes every output.
  const Tensor y_memory = layer(tgt, uniform_f64({2, 3, 8}, 24), {.causal = true});
  CHECK(max_abs_diff(narrow(y, 1, 0, 1), narrow(y_memory, 1, 0, 1)) > 1e-6);
}

TEST_CASE("transformer layers: dropout only in training, reproducible with a generator", "[nn][attention]") {
  Generator g1(5), g2(5);
  TransformerEncoderLayer a(8, 2, {.dim_feedforward = 16, .dropout = 0.3, .dropout_generator = &g1}, kF64);
  TransformerEncoderLayer b(8, 2, {.dim_feedforward = 16, .dropout = 0.3, .dropout_generator = &g2}, kF64);
  b.load_state_dict(a.state_dict());
  const Tensor x = uniform_f64({2, 4, 8}, 25);
  const Tensor train_a = a(x);
  CHECK(max_abs_diff(train_a, b(x)) == 0.0);
  a.eval();
  const Tensor eval_a = a(x);
  CHECK(max_abs_diff(eval_a, a(x)) == 0.0);
  CHECK(max_abs_diff(eval_a, train_a) > 1e-6);
  // Encoder layers chain in a Sequential (they are UnaryModules).
  Sequential stack{std::make_shared<TransformerEncoderLayer>(8, 2, TransformerLayerOptions{.dim_feedforward = 16}),
                   std::make_shared<TransformerEncoderLayer>(8, 2, TransformerLayerOptions{.dim_feedforward = 16})};
  CHECK(stack(zeros({1, 3, 8}) + 0.5).shape() == Shape{1, 3, 8});
  CHECK(keys(stack.state_dict()).front() == "0.linear1.bias");
}

TEST_CASE("transformer layers without a graph equal the recorded forward (fused inference paths)",
          "[nn][attention]") {
  // In float32 with enough rows, eval mode without a graph runs the fused attention and the
  // feed-forward block's relu and residual in the packed linear's epilogue; with a graph recorded
  // the same layer runs the composed ops. Both arrangements, both activations, both layer kinds.
  const Tensor x = dg::test::uniform_f32({2, 9, 16}, 40), memory = dg::test::uniform_f32({2, 7, 16}, 41);
  const AttentionMasks causal{.causal = true};
  for (bool norm_first : {false, true}) {
    for (Activation activation : {Activation::relu, Activation::gelu}) {
      CAPTURE(norm_first, activation == Activation::relu);
      const TransformerLayerOptions o{.dim_feedforward = 32, .dropout = 0.2, .activation = activation,
                                      .norm_first = norm_first};
      TransformerEncoderLayer encoder(16, 4, o);
      TransformerDecoderLayer decoder(16, 4, o);
      encoder.eval();
      decoder.eval();
      const Tensor encoded = encoder(x, causal), decoded = decoder(x, memory, causal);
      REQUIRE(encoded.requires_grad());
      NoGradGuard no_grad;
      for (int call = 0; call < 2; ++call) {  // the second call runs on packed weights
        CHECK(max_abs_diff(encoder(x, causal), encoded) < 2e-5);
        CHECK(max_abs_diff(decoder(x, memory, causal), decoded) < 2e-5);
      }
    }
  }
}
