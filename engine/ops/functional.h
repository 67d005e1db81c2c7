// The neural-network functional ops: convolution and pooling, normalisation, dropout, embedding,
// softmax and the losses, linear, attention and Gumbel-softmax. Like engine/ops/ops.h these are
// free functions in dg::, differentiable, with forward and backward side by side in one file per
// family (conv.cpp, pool.cpp, norm.cpp, softmax.cpp, loss.cpp, nn_misc.cpp, attention.cpp). nn/
// builds its Modules on them.
#pragma once

#include <optional>

#include "engine/ops/ops.h"
#include "engine/random.h"

namespace dg {

// A (height, width) pair of a 2-D op's geometry: kernel size, stride, padding, dilation. One value
// stands for both dims, as in PyTorch: {.stride = 2} and {.stride = {2}} mean (2, 2), never (2, 0)
// as a two-element array filled from one value would.
struct Size2 {
  int64_t h = 0, w = 0;
  constexpr Size2() = default;
  constexpr Size2(int64_t both) : h(both), w(both) {}  // NOLINT: implicit on purpose
  constexpr Size2(int64_t height, int64_t width) : h(height), w(width) {}
  constexpr Size2(const std::array<int64_t, 2>& hw) : h(hw[0]), w(hw[1]) {}  // NOLINT
  constexpr operator std::array<int64_t, 2>() const { return {h, w}; }  // NOLINT
  constexpr int64_t operator[](size_t i) const { return i == 0 ? h : w; }
  constexpr bool operator==(const Size2&) const = default;
};

// ---------------------------------------------------------------- convolution (conv.cpp)
struct Conv2dOptions {
  Size2 stride{1, 1};
  Size2 padding{0, 0};
  Size2 dilation{1, 1};
  int64_t groups = 1;
};
// input [N, C_in, H, W], weight [C_out, C_in / groups, kH, kW], bias [C_out] or undefined.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& options = {});
// Kernel-mixture convolution, the inference kernel of dynamic convolution (DY-Conv, CondConv, the
// compacted PAD-Net layer): sample n of input [N, C_in, H, W] is convolved with its own kernel
//   W_n = sum_k mixing[n, k] factors[k]                  (mixing [N, K], factors [K, C_out, C_in / groups, kH, kW])
// or, given a base kernel [C_out, C_in / groups, kH, kW] and positions (i64 [D], flat indices
// into it; a repeated index takes its last value),
//   W_n = base_kernel, except W_n.flat[positions[i]] = sum_k mixing[n, k] factors[k, i]   (factors [K, D])
// plus biases[n] ([N, C_out]) on the output channels when biases is defined. The result equals
// conv2d of each sample with its W_n (dynamic/per_sample_conv.h composes exactly that), but the N
// kernels are never written out: each is mixed where its sample's convolution runs. There is no
// backward: call it where no gradient is recorded (under NoGradGuard, or on operands that do not
// require grad); training uses the composed form.
Tensor kernel_mixture_conv2d(const Tensor& input, const Tensor& mixing, const Tensor& factors,
                             const Tensor& biases, const Conv2dOptions& options,
                             const Tensor& base_kernel = Tensor(), const Tensor& positions = Tensor());
namespace detail {
// The composition kernel_mixture_conv2d stands for (mixed kernels written out, then one grouped
// convolution): what the op runs on a backend without the fused kernel, and what tests compare the
// fused kernel with. Arguments as kernel_mixture_conv2d's, already checked.
Tensor composed_kernel_mixture_conv2d(const Tensor& input, const Tensor& mixing,
                                      const Tensor& factors, const Tensor& biases,
                                      const Conv2dOptions& options, const Tensor& base_kernel,
                                      const Tensor& positions);
}  // namespace detail

// ---------------------------------------------------------------- pooling (pool.cpp)
// kernel/stride/padding per spatial dim (one value: both dims); stride defaults to the kernel size
// (stride 0).
struct Pool2dOptions {
  Size2 kernel{2, 2};
  Size2 stride{0, 0};
  Size2 padding{0, 0};
};
Tensor max_pool2d(const Tensor& input, const Pool2dOptions& options);
// Zero padding counts in the average (PyTorch's count_include_pad=true).
Tensor avg_pool2d(const Tensor& input, const Pool2dOptions& options);
Tensor adaptive_avg_pool2d(const Tensor& input, Size2 output_size);

// ---------------------------------------------------------------- normalisation (norm.cpp)
// input [N, C, ...]; in training mode uses batch statistics and updates running_mean/var in place
// (unbiased variance, PyTorch's convention); in eval mode uses the running statistics.
// weight/bias/running stats may be undefined.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum = 0.1,
                  double eps = 1e-5);
// Normalises over the last normalized_shape.size() dims.
Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

// ---------------------------------------------------------------- misc layers (nn_misc.cpp)
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor());
// What follows a linear layer's product and bias in linear(input, weight, bias, epilogue): relu
// when `relu`, then + residual (of the output's shape) when it is defined.
struct LinearEpilogue {
  bool relu = false;
  Tensor residual{};
};
// residual + relu(input @ weight^T + bias), either part optional: where no graph is recorded the
// backend may apply both to the product before storing it (no pass of their own), otherwise it is
// the composition of linear, relu and add, with their gradients.
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const LinearEpilogue& epilogue);
// Inverted dropout: zeroes with probability p and scales survivors by 1/(1-p); identity when
// !training or p == 0. Uses `generator` (or the default generator).
Tensor dropout(const Tensor& input, double p, bool training, Generator* generator = nullptr);

// The pointwise part of an LSTM step, fused (engine/ops/recurrent.cpp): gates [B, 4H] are the
// pre-activations (i, f, g, o) in PyTorch's order, c [B, H] the cell state (undefined: zeros).
// Returns c = sigmoid(f) c + sigmoid(i) tanh(g) and h = sigmoid(o) tanh(c).
struct LSTMCellOutput {
  Tensor h, c;
};
LSTMCellOutput lstm_cell(const Tensor& gates, const Tensor& c = Tensor());
// Rows of weight [num_embeddings, dim] picked by indices (i64, any shape): out[..., :] =
// weight[indices[...], :]. The argument order is PyTorch's F.embedding(input, weight); the other
// order is an error that says so. Rows at padding_idx get no gradient.
Tensor embedding(const Tensor& indices, const Tensor& weight,
                 std::optional<int64_t> padding_idx = std::nullopt);

// ---------------------------------------------------------------- softmax (softmax.cpp)
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// Gumbel-softmax over `dim`: soft samples, or (hard) one-hot in the forward pass with the soft
// sample's gradient (straight-through).
Tensor gumbel_softmax(const Tensor& logits, double tau = 1.0, bool hard = false, int64_t dim = -1,
                      Generator* generator = nullptr);

// ---------------------------------------------------------------- losses (loss.cpp)
enum class Reduction { none, mean, sum };
struct CrossEntropyOptions {
  Tensor weight;                // per-class weights [C], or undefined
  int64_t ignore_index = -100;  // targets equal to it contribute nothing
  double label_smoothing = 0.0;
  Reduction reduction = Reduction::mean;
};
// logits [N, C] or [N, C, d1, ...]; target i64 [N] or [N, d1, ...] of class indices.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options = {});
// log_probs as cross_entropy's logits; no label smoothing.
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const CrossEntropyOptions& options = {});
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const Tensor& pos_weight = Tensor(),
                                        Reduction reduction = Reduction::mean);
// PyTorch's kl_div: input is log-probabilities; target probabilities (or log-probabilities with
// log_target). batchmean divides the sum by the batch size.
enum class KlReduction { none, mean, sum, batchmean };
Tensor kl_div(const Tensor& input, const Tensor& target, KlReduction reduction = KlReduction::mean,
              bool log_target = false);

// ---------------------------------------------------------------- attention (attention.cpp)
// q [B, H, Lq, D], k/v [B, H, Lk, D]. key_padding_mask: bool [B, Lk], true = padding (ignored).
// attn_mask: bool (true = masked out) or additive of q's dtype, of any shape that broadcasts to
// [B, H, Lq, Lk] ([Lq, Lk], per batch [B, 1, Lq, Lk], per head [H, Lq, Lk], ...); causal adds the
// upper-triangular mask. scale multiplies q k^T (default 1 / sqrt(D)). Returns [B, H, Lq, D].
struct AttentionOptions {
  Tensor key_padding_mask{};
  Tensor attn_mask{};
  bool causal = false;
  std::optional<double> scale{};
  double dropout_p = 0.0;
  bool training = false;
  Generator* generator = nullptr;
};
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& options = {});

}  // namespace dg
