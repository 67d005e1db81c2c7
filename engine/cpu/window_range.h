// The one piece of window arithmetic shared by the convolution and pooling kernels: which outputs
// of a sliding window read a given input offset without falling into the padding.
#pragma once

#include <algorithm>
#include <cstdint>

namespace dg::cpu {

// The outputs ow in [lo, hi) whose input column ow * stride + offset lies inside [0, in_w).
struct ValidRange {
  int64_t lo, hi;
};
inline ValidRange valid_outputs(int64_t offset, int64_t stride, int64_t in_size, int64_t out_size) {
  const int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t hi = in_size - 1 - offset < 0 ? 0 : (in_size - 1 - offset) / stride + 1;
  return {std::min(lo, out_size), std::clamp(hi, std::min(lo, out_size), out_size)};
}

}  // namespace dg::cpu
