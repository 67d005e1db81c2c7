// The public op surface of the engine: every tensor operation, as free functions in dg::. Each op
// checks its arguments (throwing dg::Error naming the op and the shapes/dtypes involved), runs the
// backend kernel for its device, and, when an input requires grad, records its backward formula.
// Implementations live one op family per file beside this header.
#pragma once

#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

#include "engine/autograd.h"
#include "engine/tensor.h"

namespace dg {

// ---------------------------------------------------------------- creation (creation.cpp)
Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
            Device device = Device::cpu());
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
// A 0-dim tensor holding `value`.
Tensor scalar(double value, DType dtype = DType::f32, Device device = Device::cpu());
// [start, end) in steps of `step`; i64 unless a dtype is given.
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::i64);
Tensor arange(int64_t end, DType dtype = DType::i64);
Tensor linspace(double start, double end, int64_t steps, DType dtype = DType::f32);
Tensor eye(int64_t n, DType dtype = DType::f32);
// From values in row-major order; the shape defaults to 1-D.
Tensor from_vector(const std::vector<float>& values, const Shape& shape = {});
Tensor from_vector(const std::vector<double>& values, const Shape& shape = {});
Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape = {});
Tensor from_vector(const std::vector<bool>& values, const Shape& shape = {});
Tensor tensor(std::initializer_list<float> values, const Shape& shape = {});
Tensor tensor_f64(std::initializer_list<double> values, const Shape& shape = {});
Tensor tensor_i64(std::initializer_list<int64_t> values, const Shape& shape = {});

// ---------------------------------------------------------------- elementwise (elementwise.cpp)
// Binary ops broadcast like NumPy. Both operands must have the same dtype (no silent promotion);
// a double operand becomes a 0-dim tensor of the other operand's dtype.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, double exponent);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);  // not differentiable (zero gradient)
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor erf(const Tensor& x);
// Bounds may be omitted (nullopt) on either side.
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi);
// cond ? a : b, broadcasting all three; cond is bool.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, double b);
Tensor where(const Tensor& cond, double a, const Tensor& b);
// Comparisons and logical ops return bool and are not differentiable.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, double b);
Tensor ne(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor le(const Tensor& a, double b);
Tensor gt(const Tensor& a, double b);
Tensor ge(const Tensor& a, double b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& a);
// Converts dtype (differentiable between floating dtypes). Returns x itself when already dtype.
Tensor to_dtype(const Tensor& x, DType dtype);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
Tensor operator-(const Tensor& x);

// ---------------------------------------------------------------- activations (activation.cpp)
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
enum class GeluApprox { none, tanh };
Tensor gelu(const Tensor& x, GeluApprox approximate = GeluApprox::none);
Tensor silu(const Tensor& x);
// log(1 + exp(beta x)) / beta; linear above `threshold` for stability, like PyTorch.
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);

// ---------------------------------------------------------------- reductions (reduce.cpp)
// `dims` empty means all dims. keepdim keeps reduced dims as size 1.
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Max/min values over dims; the gradient is shared equally among ties.
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Max/min along one dim, with i64 indices (the first index among ties).
std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);  // over all elements
Tensor min(const Tensor& x);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
// var/std with Bessel-style `correction` (1 = unbiased, 0 = population).
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1,
           bool keepdim = false);
Tensor std(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1,
           bool keepdim = false);
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
// p-norm (p = 2 by default; p = inf is the max-abs norm).
Tensor norm(const Tensor& x, double p = 2.0, const std::vector<int64_t>& dims = {},
            bool keepdim = false);
Tensor cumsum(const Tensor& x, int64_t dim);

// ---------------------------------------------------------------- matmul (matmul.cpp)
// NumPy semantics: 1-D operands are promoted and the added dim removed; batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);  // [B,M,K] @ [B,K,N], no broadcasting
Tensor outer(const Tensor& a, const Tensor& b);

// Grouped matmul (grouped_matmul.cpp): the rows of x [M, K] come in consecutive groups of
// group_sizes[e] rows (the sizes sum to M); group e is multiplied by w[e] ([E, K, N]):
//   out[rows of e] = x[rows of e] @ w[e],  out [M, N].
// All groups run as one task list over the engine's threads; an empty group costs nothing. The
// gradient for w is grouped_matmul_weight_grad, whose own gradient is grouped_matmul again.
Tensor grouped_matmul(const Tensor& x, const Tensor& w, const std::vector<int64_t>& group_sizes);
// out[e] = x[rows of e]^T @ g[rows of e], out [E, K, N] for x [M, K] and g [M, N] (zeros for an
// empty group): the weight gradient of grouped_matmul.
Tensor grouped_matmul_weight_grad(const Tensor& x, const Tensor& g,
                                  const std::vector<int64_t>& group_sizes);

// ---------------------------------------------------------------- shape and views (shape.cpp)
// reshape returns a view when the strides allow it and a copy otherwise; view never copies.
// One size may be -1.
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor view(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor permute(const Tensor& x, const Shape& dims);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
// x[..., index, ...] along `dim` (the dim is removed).
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor expand(const Tensor& x, const Shape& shape);  // -1 keeps a size
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x);  // all size-1 dims
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
Tensor repeat(const Tensor& x, const Shape& repeats);
// Constant padding: `padding` holds (before, after) pairs starting from the LAST dim, as PyTorch's
// F.pad; negative amounts crop.
Tensor pad(const Tensor& x, const std::vector<int64_t>& padding, double value = 0.0);

// ---------------------------------------------------------------- indexing (index.cpp)
// Every index is bounds-checked (negative indices are errors) before any memory is touched.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// out = x with out[index[i][j]][j] = src[i][j] (dim 0 shown); duplicate indices: last write wins
// in the CPU kernel but the order is unspecified, so do not rely on it.
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// out = x with out.select(dim, index[i]) += src.select(dim, i).
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// out = x with out.select(dim, index[i]) = src.select(dim, i); the indices must be distinct.
Tensor index_copy(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
Tensor one_hot(const Tensor& index, int64_t num_classes);  // i64 -> i64, not differentiable
// Values (differentiable) and i64 indices of the k largest (or smallest) along dim.
std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true,
                                bool sorted = true);
// Stable sort along dim; values are differentiable.
std::tuple<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1, bool descending = false);
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false);

// ---------------------------------------------------------------- optimizer steps (inplace.cpp)
// One Adam step, fused: with g = grad, in place on param, exp_avg (m) and exp_avg_sq (v),
//   m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g g,
//   param += -step_size m / (sqrt(v) / bias_correction2_sqrt + eps)
// element by element in one pass, in the order PyTorch 1.13's single-tensor Adam rounds it
// (step_size = lr / (1 - beta1^t), bias_correction2_sqrt = sqrt(1 - beta2^t); weight decay is the
// caller's). All four tensors share shape, dtype and device; not recorded by autograd.
struct AdamStep {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, step_size = 1e-3, bias_correction2_sqrt = 1.0;
};
void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                const Tensor& exp_avg_sq, const AdamStep& step);

}  // namespace dg
