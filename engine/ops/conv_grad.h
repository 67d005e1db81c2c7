// The backward ops of convolution and pooling, as ordinary differentiable ops (like PyTorch's
// torch.nn.grad.conv2d_input / conv2d_weight). conv2d, max_pool2d, avg_pool2d and
// adaptive_avg_pool2d (engine/ops/functional.h) write their backward with these, and each of these
// writes its own backward with the forward ops again, so gradients of gradients work to any order
// and on any backend. They are public so that they can be gradient-checked, and because a
// transposed convolution (conv2d_input_grad) is useful in its own right.
#pragma once

#include <tuple>

#include "engine/ops/functional.h"

namespace dg {

// The gradient of conv2d(input, weight, ., options) with respect to an input of shape
// `input_shape`, given grad_out of the convolution's output shape: the transposed convolution of
// grad_out with weight. Linear in both grad_out and weight.
Tensor conv2d_input_grad(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape,
                         const Conv2dOptions& options = {});
// The gradient of conv2d(input, weight, ., options) with respect to a weight of shape
// `weight_shape`: the correlation of grad_out with the input patches, summed over the batch.
// Linear in both grad_out and input.
Tensor conv2d_weight_grad(const Tensor& grad_out, const Tensor& input, const Shape& weight_shape,
                          const Conv2dOptions& options = {});

// max_pool2d that also returns, for every output, the i64 position of its maximum within its
// [H, W] input plane (ih * W + iw), as PyTorch's return_indices=true does.
std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input,
                                                   const Pool2dOptions& options);
// The gradient of max_pool2d: grad_out [N, C, H_out, W_out] added at `indices` (as returned by
// max_pool2d_with_indices) into zeros of `input_shape` [N, C, H, W]. Every index is checked to lie
// in [0, H * W).
Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Shape& input_shape);
// The gradients of avg_pool2d and adaptive_avg_pool2d: each output's gradient spread evenly over
// its window of an input of shape `input_shape`.
Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape,
                           const Pool2dOptions& options);
Tensor adaptive_avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape);

}  // namespace dg
