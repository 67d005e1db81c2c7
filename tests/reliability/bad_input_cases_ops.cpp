// Bad-input catalogue rows for engine ops: wrong shapes, dtypes, dims, indices, overflowing sizes,
// empty tensors, undefined tensors and non-finite or untruncatable scalars. One row per line:
// name, the text the dg::Error must contain, the call.
#include <limits>

#include "engine/ops/functional.h"
#include "engine/ops/ops.h"
#include "tests/reliability/bad_input_registry.h"

namespace dg::test {
namespace {

using Dir = std::filesystem::path;
constexpr int64_t k2_40 = int64_t{1} << 40;
constexpr int64_t k2_62 = int64_t{1} << 62;
Tensor f32(const Shape& s) { return ones(s); }
Tensor i64(std::vector<int64_t> v) { return from_vector(v); }

#define ROW(var, name, expected, ...) \
  static RegisterBadInput var{name, expected, [](const Dir&) { __VA_ARGS__; }};

// ---- shapes and broadcasting
ROW(add_shapes, "add: shapes not broadcastable", "add: shapes [2,3] and [4] are not broadcastable", f32({2, 3}) + f32({4}))
ROW(mul_shapes, "mul: shapes not broadcastable", "mul: shapes [3] and [2] are not broadcastable", f32({3}) * f32({2}))
ROW(matmul_inner, "matmul: inner dims differ", "matmul: [32,64] @ [32,10]: inner dimensions 64 and 32 differ", matmul(f32({32, 64}), f32({32, 10})))
ROW(matmul_0d, "matmul: a 0-dim operand", "matmul", matmul(scalar(1.0), f32({2})))
ROW(bmm_rank, "bmm: 2-D operands", "bmm: [2,3] @ [3,2]: expected two 3-D tensors", bmm(f32({2, 3}), f32({3, 2})))
ROW(outer_rank, "outer: 2-D operand", "outer: [2,2] and [2]: expected two 1-D tensors", outer(f32({2, 2}), f32({2})))
ROW(reshape_count, "reshape: element count differs", "reshape: cannot reshape [2,3] (6 elements) into [4]", f32({2, 3}).reshape({4}))
ROW(reshape_two_infer, "reshape: two -1 dims", "reshape: only one dimension can be -1", f32({2, 3}).reshape({-1, -1}))
ROW(view_noncontig, "view: non-viewable strides", "cannot be viewed as [6]; use reshape", f32({2, 3}).transpose(0, 1).view({6}))
ROW(permute_repeat, "permute: repeated dim", "permute: dim 0 repeated", f32({2, 3}).permute({0, 0}))
ROW(narrow_range, "narrow: range past the end", "narrow: range [2, 4) out of bounds for dim 1 of size 3", f32({2, 3}).narrow(1, 2, 2))
ROW(narrow_huge, "narrow: length that overflows start + length", "narrow: range [1, 2^63 or more) out of bounds", f32({2, 3}).narrow(1, 1, std::numeric_limits<int64_t>::max()))
ROW(select_range, "select: index past the end", "select: index 5 out of range for dim 0 of size 2", select(f32({2, 3}), 0, 5))
ROW(dim_range, "sum: dim out of range", "sum: dim 2 out of range for a tensor with 2 dims", sum(f32({2, 3}), {2}))
ROW(expand_bad, "expand: size mismatch", "expand: cannot expand [2,3] to [2,4]", f32({2, 3}).expand({2, 4}))
ROW(cat_empty, "cat: no tensors", "cat: expected at least one tensor", cat({}))
ROW(cat_shapes, "cat: shapes differ off the cat dim", "cat: tensor 1 has shape [3,3], expected [2,3] except in dim 1", cat({f32({2, 3}), f32({3, 3})}, 1))
ROW(stack_shapes, "stack: shapes differ", "stack", stack({f32({2}), f32({3})}))
ROW(pad_negative, "pad: crop past the size", "pad: padding (-3, 0) makes dim 0 of [2] negative", pad(f32({2}), {-3, 0}))
ROW(repeat_negative, "repeat: negative count", "repeat: negative repeat -1", repeat(f32({2}), {-1}))
ROW(too_many_dims, "a ninth dim", "at most 8 dims", zeros({1, 1, 1, 1, 1, 1, 1, 1, 1}))
ROW(negative_size, "zeros: negative size", "zeros: negative size in shape [2,-3]", zeros({2, -3}))

// ---- sizes that overflow 64 bits or cannot be allocated
ROW(numel_overflow, "zeros: element count overflows", "zeros: shape [4611686018427387905,4] has more elements than a 64-bit count can hold", zeros({k2_62 + 1, 4}))
ROW(numel_2_80, "full: 2^40 x 2^40", "full: shape [1099511627776,1099511627776] has more elements", full({k2_40, k2_40}, 1.0))
ROW(bytes_overflow, "zeros: byte size overflows", "zeros: a f64 tensor of shape [4611686018427387904] needs more than 2^63 bytes", zeros({k2_62}, DType::f64))
ROW(broadcast_overflow, "add: broadcast to 2^80 elements", "add: shape [1099511627776,1099511627776] has more elements", f32({1, 1}).expand({k2_40, 1}) + f32({1, 1}).expand({1, k2_40}))
ROW(expand_overflow, "expand to 2^80 elements", "view: shape [1099511627776,1099511627776] has more elements", f32({1}).expand({k2_40, k2_40}))
ROW(repeat_overflow, "repeat: count overflows", "repeat: 4611686018427387904 repeats of dim 0 (shape [4]) overflow", repeat(f32({4}), {k2_62}))
ROW(arange_huge, "arange: 1e30 elements", "arange: [0, 1e+30) in steps of 1 has 1e+30 elements", arange(0.0, 1e30, 1.0))
ROW(out_of_memory, "zeros: 2^62 bytes", "zeros: out of memory allocating 4611686018427387904 bytes", zeros({int64_t{1} << 30, int64_t{1} << 30}))
ROW(make_view_oob, "make_view past the storage", "of a storage of 6", make_view(f32({2, 3}), {2, 4}, {4, 1}, 0))

// ---- dtypes
ROW(add_dtypes, "add: f32 + f64", "add: dtype mismatch: f32 [2] and f64 [2]", f32({2}) + ones({2}, DType::f64))
ROW(bool_arith, "mul: bool arithmetic", "mul: arithmetic on bool tensors", mul(ones({2}, DType::b8), ones({2}, DType::b8)))
ROW(exp_i64, "exp: an integer tensor", "exp: expected a floating tensor (f32 or f64), got i64 [2]", exp(i64({1, 2})))
ROW(matmul_i64, "matmul: integer operands", "matmul", matmul(ones({2, 2}, DType::i64), ones({2, 2}, DType::i64)))
ROW(grad_i64, "requires_grad on i64", "set_requires_grad: only floating tensors can require grad, got dtype i64", i64({1}).set_requires_grad())
ROW(logical_f32, "logical_and: f32 operands", "logical_and: expected bool tensors, got f32 [2]", logical_and(f32({2}), f32({2})))
ROW(index_dtype, "index_select: f32 index", "index_select: index of shape [1] has dtype f32, expected i64", index_select(f32({3}), 0, f32({1})))

// ---- indices
ROW(index_select_oob, "index_select: index past the end", "index_select: index 3 out of range for dim 0 of size 3", index_select(f32({3, 2}), 0, i64({0, 3})))
ROW(index_select_neg, "index_select: negative index", "index_select: index -1 out of range", index_select(f32({3, 2}), 0, i64({-1})))
ROW(gather_oob, "gather: index past the end", "gather: index 4 out of range for dim 1 of size 4", gather(f32({2, 4}), 1, from_vector(std::vector<int64_t>{0, 4}, {2, 1})))
ROW(one_hot_oob, "one_hot: class past num_classes", "one_hot: class index 5 out of range for num_classes 3", one_hot(i64({0, 5}), 3))
ROW(embedding_oob, "embedding: token past the table", "out of range", embedding(i64({1, 4}), f32({4, 2})))
ROW(embedding_order, "embedding: weight before indices", "embedding: takes (indices, weight) in that order", embedding(f32({4, 2}), i64({1, 3})))
ROW(cross_entropy_target, "cross_entropy: target past C", "cross_entropy: target 7 is out of range for 3 classes", cross_entropy(f32({2, 3}), i64({0, 7})))
ROW(cross_entropy_dtype, "cross_entropy: f32 target", "cross_entropy", cross_entropy(f32({2, 3}), f32({2})))
ROW(topk_k, "topk: k past the size", "topk: k = 5 out of range for dim 0 of size 3", topk(f32({3}), 5))
ROW(masked_fill_dtype, "masked_fill: f32 mask", "masked_fill: mask of shape [2] has dtype f32, expected bool", masked_fill(f32({2}), f32({2}), 0.0))

// ---- empty tensors, reductions, layers
ROW(argmax_empty, "argmax over an empty dim", "argmax", argmax(f32({0, 3}), 0))
ROW(conv_rank, "conv2d: 3-D input", "conv2d: input must be 4-D [N, C_in, H, W], got shape [1,3,8]", conv2d(f32({1, 3, 8}), f32({4, 3, 3, 3})))
ROW(conv_channels, "conv2d: channel mismatch", "conv2d", conv2d(f32({1, 2, 8, 8}), f32({4, 3, 3, 3})))
ROW(conv_kernel_big, "conv2d: kernel larger than input", "conv2d", conv2d(f32({1, 3, 2, 2}), f32({4, 3, 3, 3})))
ROW(linear_shapes, "linear: in_features differ", "linear", linear(f32({2, 5}), f32({3, 4})))
ROW(layer_norm_shape, "layer_norm: normalized_shape mismatch", "layer_norm", layer_norm(f32({2, 5}), {4}))
ROW(softmax_dim, "softmax: dim out of range", "softmax: dim 3 out of range", softmax(f32({2, 5}), 3))
ROW(mse_shapes, "mse_loss: shapes differ", "mse_loss", mse_loss(f32({2}), f32({3})))
ROW(item_many, "item on many elements", "item: expected a tensor with one element, got shape [2]", f32({2}).item<float>())

// ---- integer arithmetic and scalars
ROW(i64_div_zero, "div: i64 by zero", "div: integer division by zero (i64 [2] / i64 [2])", div(i64({1, 2}), i64({1, 0})))
ROW(i64_div_zero_scalar, "i64 tensor / 0.0", "div: integer division by zero", i64({1}) / 0.0)
ROW(i64_inplace_frac, "mul_: fractional scalar into i64", "mul_: the scalar 2.5 is not a whole number", Tensor t = i64({1}); t.mul_(2.5))
ROW(i64_full_nan, "full: nan into i64", "full: the value nan has no i64 representation", full({2}, std::nan(""), DType::i64))

// ---- undefined tensors and in-place writes
ROW(undefined_numel, "numel of an undefined tensor", "Tensor::numel: undefined tensor", Tensor().numel())
ROW(undefined_shape, "shape of an undefined tensor", "Tensor::shape: undefined tensor", Tensor().shape())
ROW(undefined_add, "add with an undefined operand", "add: undefined tensor", Tensor() + f32({1}))
ROW(overlap_add, "add_ into an expanded view", "add_: cannot write in place into a tensor whose elements overlap", NoGradGuard g; Tensor v = zeros({1}).expand({4}); v.add_(f32({4})))
ROW(overlap_copy, "copy_ into an expanded view", "copy_: cannot write in place", Tensor v = zeros({2, 1}).expand({2, 3}); v.copy_(f32({2, 3})))
ROW(inplace_grad, "add_ on a leaf that requires grad", "add_: in-place operation on a tensor of shape [2] that requires grad", Tensor t = f32({2}); t.set_requires_grad(); t.add_(1.0))
ROW(backward_twice, "backward twice without retain_graph", "retain_graph", Tensor x = f32({2}); x.set_requires_grad(); Tensor y = (x * x).sum(); y.backward(); y.backward())
ROW(backward_nonscalar, "backward on a non-scalar without a gradient", "backward", Tensor x = f32({2}); x.set_requires_grad(); (x * 2.0).backward())

#undef ROW

}  // namespace
}  // namespace dg::test
