// Placing values at sorted positions of a buffer, dst[positions[i]] = values[i] with the positions
// strictly increasing: how the compacted PAD-Net layer puts its mixed dynamic values into the
// static kernel, once per sample (kernel_mixture_conv2d, conv_kernels.cpp). One store per value is
// what a plain loop does, and at a 30% dynamic ratio those stores cost as much per sample as the
// multiply-adds the compaction saved (AVX2 has no scatter). AVX-512's expand-load places up to 16
// consecutive values into the lanes a 16-bit mask selects in one instruction, so with the positions
// turned into one mask per 16 buffer entries the placement is a single vector pass. The default
// build targets x86-64-v3, so that path is compiled for AVX-512 separately and chosen at run time
// when the CPU has it; otherwise the plain loop runs.
#pragma once

#include <cstdint>
#include <vector>

namespace dg::cpu {

class SortedPlacement {
 public:
  // `positions`: `count` strictly increasing indices into a buffer of `size` entries.
  SortedPlacement(const int64_t* positions, int64_t count, int64_t size);

  // dst[positions[i]] = values[i] for i < count; the other entries of dst are left as they are.
  // `values` must be readable for kReadSlack entries past its `count` (the vector pass loads 16
  // at a time and uses as many as it needs).
  void place(float* dst, const float* values) const;
  static constexpr int64_t kReadSlack = 16;

  // True when place() runs the AVX-512 expand-load pass.
  bool vectorised() const { return !lane_masks_.empty(); }

 private:
  const int64_t* positions_;
  int64_t count_, size_;
  std::vector<uint16_t> lane_masks_;     // bit b of mask w: entry 16 w + b is a position
  std::vector<uint32_t> group_starts_;   // the index of group w's first value
};

}  // namespace dg::cpu
