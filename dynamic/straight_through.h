// Straight-through estimators (Bengio et al. 2013): a hard decision in the forward pass, the
// gradient of a soft one in the backward pass. The forward value is exactly the hard value (it is
// written as hard + (soft - detach(soft)), whose second term is exactly 0), so nothing downstream
// sees a near-integer instead of an integer. The Skip RNN's update gate is
// straight_through_round(u~); argmax is the hard read/skim or jump choice; the Gumbel-softmax
// variant (a hard sample from logits plus noise) is the engine's gumbel_softmax(..., hard = true).
#pragma once

#include "engine/tensor.h"

namespace dg::dynamic {

// Nearest integer, halves rounded away from zero (std::round); not differentiable. |x| < 2^62.
Tensor round_half_away(const Tensor& x);

// Forward: round_half_away(x). Backward: the identity (dL/dx = dL/dy).
Tensor straight_through_round(const Tensor& x);

// Forward: the one-hot of argmax(probs, dim) (the first among ties), in probs' dtype.
// Backward: the identity (dL/dprobs = dL/dy), as if the output were probs itself.
Tensor straight_through_argmax(const Tensor& probs, int64_t dim = -1);

}  // namespace dg::dynamic
