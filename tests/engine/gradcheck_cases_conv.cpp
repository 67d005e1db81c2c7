// Float64 gradient checks for convolution and pooling (engine/ops/conv.cpp, engine/ops/pool.cpp),
// one case per line. conv2d is checked with and without bias under stride 2, padding, dilation 2,
// groups 2, depthwise, groups = batch (DY-Conv), 1x1 and asymmetric options; its two backward ops
// are checked directly, each in both of its inputs. Max pooling inputs are hashed values, distinct
// and far apart compared to the finite-difference step, so no perturbation moves an argmax; the
// indices of max_pool2d_backward come from a max pool with overlapping windows, so some repeat.
// The second-order cases square the output of the linear ops, so their backward's own backward
// runs; conv2d is bilinear, so its second order shows without that.
#include "engine/ops/conv_grad.h"
#include "tests/engine/gradcheck_registry.h"
#include "tests/engine/test_util.h"

namespace dg::test {
namespace {

using Inputs = std::vector<Tensor>;

Inputs one(const Shape& s, uint64_t seed) { return {grad_input(s, seed)}; }
Inputs two(const Shape& a, const Shape& b, uint64_t seed) {
  return {grad_input(a, seed), grad_input(b, seed + 1)};
}
Inputs three(const Shape& a, const Shape& b, const Shape& c, uint64_t seed) {
  return {grad_input(a, seed), grad_input(b, seed + 1), grad_input(c, seed + 2)};
}
Tensor squared(const Tensor& t) { return t * t; }

Conv2dOptions opts(std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                   std::array<int64_t, 2> dilation = {1, 1}, int64_t groups = 1) {
  return {stride, padding, dilation, groups};
}

// x [N, C_in, H, W], w [C_out, C_in / groups, kH, kW], and b [C_out] when given.
DifferentiableFn conv(Conv2dOptions o) {
  return [o](const Inputs& x) { return conv2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), o); };
}

// Fixed indices for max_pool2d_backward: the argmaxes of a 3x3, stride 1, padding 1 max pool of
// a [1, 2, 4, 3] input (overlapping windows, so an index can repeat).
Tensor overlapping_argmax() {
  return std::get<1>(max_pool2d_with_indices(uniform_f64({1, 2, 4, 3}, 99), {{3, 3}, {1, 1}, {1, 1}}));
}

// ---- conv2d
RegisterGradcheck conv_basic{{OpId::conv2d, "conv2d [2,3,5,5] * [4,3,3,3] + bias",
    [] { return three({2, 3, 5, 5}, {4, 3, 3, 3}, {4}, 1); }, conv({}), true}};
RegisterGradcheck conv_stride_padding{{OpId::conv2d, "conv2d stride 2 padding 1, bias",
    [] { return three({2, 2, 6, 5}, {3, 2, 3, 3}, {3}, 4); }, conv(opts({2, 2}, {1, 1}))}};
RegisterGradcheck conv_dilation{{OpId::conv2d, "conv2d dilation 2 padding 2, no bias",
    [] { return two({1, 2, 6, 6}, {3, 2, 3, 3}, 7); }, conv(opts({1, 1}, {2, 2}, {2, 2}))}};
RegisterGradcheck conv_groups{{OpId::conv2d, "conv2d groups 2, stride 2,1 padding 1,0",
    [] { return three({2, 4, 5, 6}, {6, 2, 3, 2}, {6}, 10); }, conv(opts({2, 1}, {1, 0}, {1, 1}, 2)),
    true}};
RegisterGradcheck conv_depthwise{{OpId::conv2d, "conv2d depthwise (groups = C_in = 3)",
    [] { return three({2, 3, 5, 5}, {3, 1, 3, 3}, {3}, 13); }, conv(opts({1, 1}, {1, 1}, {1, 1}, 3))}};
// The direct depthwise kernels: the padded-width path (stride 1, here with dilation and uneven
// padding) and the row-by-row path (stride 2), each to second order.
RegisterGradcheck conv_depthwise_dilated{{OpId::conv2d, "conv2d depthwise 3x2 dilation 2, padding 2,1",
    [] { return three({2, 3, 6, 5}, {3, 1, 3, 2}, {3}, 35); }, conv(opts({1, 1}, {2, 1}, {2, 2}, 3)),
    true}};
RegisterGradcheck conv_depthwise_strided{{OpId::conv2d, "conv2d depthwise stride 2, padding 1",
    [] { return three({2, 4, 7, 6}, {4, 1, 3, 3}, {4}, 37); }, conv(opts({2, 2}, {1, 1}, {1, 1}, 4)),
    true}};
RegisterGradcheck conv_dyconv{{OpId::conv2d, "conv2d groups = batch (DY-Conv [1,2*2,4,4])",
    [] { return three({1, 4, 4, 4}, {6, 2, 3, 3}, {6}, 16); }, conv(opts({1, 1}, {1, 1}, {1, 1}, 2))}};
RegisterGradcheck conv_pointwise{{OpId::conv2d, "conv2d 1x1, no bias",
    [] { return two({2, 3, 3, 4}, {2, 3, 1, 1}, 19); }, conv({})}};
RegisterGradcheck conv_asymmetric{{OpId::conv2d, "conv2d 2x3 stride 1,2 padding 0,1 dilation 2,1",
    [] { return three({1, 2, 6, 7}, {2, 2, 2, 3}, {2}, 22); }, conv(opts({1, 2}, {0, 1}, {2, 1}))}};

// ---- the backward ops, in both of their inputs
RegisterGradcheck input_grad_basic{{OpId::conv2d_input_grad,
    "conv2d_input_grad for [2,3,5,5] * [4,3,3,3] stride 2 padding 1",
    [] { return two({2, 4, 3, 3}, {4, 3, 3, 3}, 25); },
    [](const Inputs& x) { return conv2d_input_grad(x[0], x[1], {2, 3, 5, 5}, opts({2, 2}, {1, 1})); },
    true}};
RegisterGradcheck input_grad_groups{{OpId::conv2d_input_grad,
    "conv2d_input_grad groups 2, dilation 2, squared",
    [] { return two({1, 4, 2, 3}, {4, 1, 2, 2}, 27); },
    [](const Inputs& x) {
      return squared(conv2d_input_grad(x[0], x[1], {1, 2, 4, 5}, opts({1, 1}, {0, 0}, {2, 2}, 2)));
    },
    true}};
RegisterGradcheck weight_grad_basic{{OpId::conv2d_weight_grad,
    "conv2d_weight_grad for [2,3,5,5] * [4,3,3,3] padding 1",
    [] { return two({2, 4, 5, 5}, {2, 3, 5, 5}, 29); },
    [](const Inputs& x) { return conv2d_weight_grad(x[0], x[1], {4, 3, 3, 3}, opts({1, 1}, {1, 1})); },
    true}};
RegisterGradcheck weight_grad_depthwise{{OpId::conv2d_weight_grad,
    "conv2d_weight_grad depthwise stride 2, squared",
    [] { return two({2, 3, 2, 2}, {2, 3, 4, 4}, 31); },
    [](const Inputs& x) {
      return squared(conv2d_weight_grad(x[0], x[1], {3, 1, 3, 3}, opts({2, 2}, {1, 1}, {1, 1}, 3)));
    },
    true}};

// ---- pooling
RegisterGradcheck max_pool_2x2{{OpId::max_pool2d, "max_pool2d 2x2 [2,2,4,5]",
    [] { return one({2, 2, 4, 5}, 33); },
    [](const Inputs& x) { return max_pool2d(x[0], {{2, 2}}); }}};
RegisterGradcheck max_pool_padded{{OpId::max_pool2d, "max_pool2d 3x3 stride 2 padding 1, squared",
    [] { return one({1, 2, 5, 6}, 34); },
    [](const Inputs& x) { return squared(max_pool2d(x[0], {{3, 3}, {2, 2}, {1, 1}})); }, true}};
RegisterGradcheck max_pool_backward{{OpId::max_pool2d_backward,
    "max_pool2d_backward with repeated indices, squared",
    [] { return one({1, 2, 4, 3}, 35); },
    [](const Inputs& x) { return squared(max_pool2d_backward(x[0], overlapping_argmax(), {1, 2, 4, 3})); },
    true}};
RegisterGradcheck avg_pool_padded{{OpId::avg_pool2d, "avg_pool2d 3x3 stride 2 padding 1",
    [] { return one({2, 2, 5, 6}, 36); },
    [](const Inputs& x) { return avg_pool2d(x[0], {{3, 3}, {2, 2}, {1, 1}}); }}};
RegisterGradcheck avg_pool_asymmetric{{OpId::avg_pool2d, "avg_pool2d 2x3 stride 1,2, squared",
    [] { return one({1, 2, 4, 7}, 37); },
    [](const Inputs& x) { return squared(avg_pool2d(x[0], {{2, 3}, {1, 2}, {1, 1}})); }, true}};
RegisterGradcheck adaptive_uneven{{OpId::adaptive_avg_pool2d, "adaptive_avg_pool2d 5x7 -> 3x2",
    [] { return one({2, 2, 5, 7}, 38); },
    [](const Inputs& x) { return adaptive_avg_pool2d(x[0], {3, 2}); }}};
RegisterGradcheck adaptive_global{{OpId::adaptive_avg_pool2d, "adaptive_avg_pool2d global, squared",
    [] { return one({2, 3, 4, 5}, 39); },
    [](const Inputs& x) { return squared(adaptive_avg_pool2d(x[0], {1, 1})); }, true}};
RegisterGradcheck adaptive_upsample{{OpId::adaptive_avg_pool2d, "adaptive_avg_pool2d 3x2 -> 4x5",
    [] { return one({1, 2, 3, 2}, 40); },
    [](const Inputs& x) { return adaptive_avg_pool2d(x[0], {4, 5}); }}};
RegisterGradcheck avg_pool_backward{{OpId::avg_pool2d_backward,
    "avg_pool2d_backward 3x3 stride 2 padding 1, squared",
    [] { return one({1, 2, 3, 3}, 41); },
    [](const Inputs& x) { return squared(avg_pool2d_backward(x[0], {1, 2, 5, 6}, {{3, 3}, {2, 2}, {1, 1}})); },
    true}};
RegisterGradcheck adaptive_backward{{OpId::avg_pool2d_backward,
    "adaptive_avg_pool2d_backward 5x7 -> 3x2, squared",
    [] { return one({1, 2, 3, 2}, 42); },
    [](const Inputs& x) { return squared(adaptive_avg_pool2d_backward(x[0], {1, 2, 5, 7})); }, true}};

}  // namespace
}  // namespace dg::test
