// PartitionedLayer: see partitioned_layer.h.
#include "partition/partitioned_layer.h"

#include "engine/autograd.h"
#include "engine/ops/ops.h"

namespace dg::partition {

int64_t dynamic_elements(const Tensor& mask) {
  NoGradGuard no_grad;
  return mask.numel() == 0 ? 0 : sum(to_dtype(eq(mask, 1.0), DType::i64)).item<int64_t>();
}

int64_t PartitionedLayer::kept_parameters() const {
  int64_t total = 0;
  for (const ModeMaskSite& s : mode_mask_sites()) {
    const int64_t m = s.mask.numel(), m_dyn = dynamic_elements(s.mask);
    total += s.dynamic_weights.shape()[0] * m_dyn + (m - m_dyn);
  }
  return total;
}

double PartitionedLayer::dynamic_ratio_all() const {
  int64_t m = 0, m_dyn = 0;
  for (const ModeMaskSite& s : mode_mask_sites()) {
    m += s.mask.numel();
    m_dyn += dynamic_elements(s.mask);
  }
  return m > 0 ? static_cast<double>(m_dyn) / static_cast<double>(m) : 0.0;
}

}  // namespace dg::partition
