// SortedPlacement: see sorted_placement.h.
#include "engine/cpu/sorted_placement.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DG_HAVE_AVX512_PLACEMENT 1
#endif

namespace dg::cpu {

namespace {

#ifdef DG_HAVE_AVX512_PLACEMENT
bool cpu_has_avx512f() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

// For each group of 16 entries, expand-load as many values as the group's mask has bits into the
// selected lanes, keeping the others; a partial last group is loaded and stored under a mask.
// Group w's values start at values[starts[w]] (precomputed, so that no group waits for the
// previous one's popcount).
__attribute__((target("avx512f"))) void place_by_lane_masks(float* dst, const float* values,
                                                           const uint16_t* masks,
                                                           const uint32_t* starts, int64_t size) {
  const int64_t groups = size / 16;
  for (int64_t w = 0; w < groups; ++w) {
    const __mmask16 k = masks[w];
    if (k == 0) continue;
    float* at = dst + 16 * w;
    // The register form of expand (the memory form is microcoded on some CPUs): 16 values are
    // loaded, of which the first popcount(k) land in the selected lanes.
    _mm512_storeu_ps(at, _mm512_mask_expand_ps(_mm512_loadu_ps(at), k, _mm512_loadu_ps(values + starts[w])));
  }
  if (const int64_t rest = size - 16 * groups; rest > 0) {
    const __mmask16 tail = static_cast<__mmask16>((1u << rest) - 1u);
    const __mmask16 k = masks[groups] & tail;
    float* at = dst + 16 * groups;
    _mm512_mask_storeu_ps(at, tail, _mm512_mask_expand_ps(_mm512_maskz_loadu_ps(tail, at), k,
                                                          _mm512_loadu_ps(values + starts[groups])));
  }
}
#endif

}  // namespace

SortedPlacement::SortedPlacement(const int64_t* positions, int64_t count, int64_t size)
    : positions_(positions), count_(count), size_(size) {
#ifdef DG_HAVE_AVX512_PLACEMENT
  if (!cpu_has_avx512f() || count == 0) return;
  const size_t groups = static_cast<size_t>((size + 15) / 16);
  lane_masks_.assign(groups, 0);
  group_starts_.assign(groups, 0);
  for (int64_t i = 0; i < count; ++i)
    lane_masks_[static_cast<size_t>(positions[i] / 16)] |= static_cast<uint16_t>(1u << (positions[i] % 16));
  uint32_t start = 0;
  for (size_t w = 0; w < groups; ++w) {
    group_starts_[w] = start;
    start += static_cast<uint32_t>(__builtin_popcount(lane_masks_[w]));
  }
#endif
}

void SortedPlacement::place(float* dst, const float* values) const {
#ifdef DG_HAVE_AVX512_PLACEMENT
  if (vectorised()) return place_by_lane_masks(dst, values, lane_masks_.data(), group_starts_.data(), size_);
#endif
  for (int64_t i = 0; i < count_; ++i) dst[positions_[i]] = values[i];
}

}  // namespace dg::cpu
