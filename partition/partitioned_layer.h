// PartitionedLayer: what PAD-Net's mode partition (mode_partition.h), its random and SNIP
// baselines and the parameter count see of a partially dynamic layer, whatever the dynamic
// function behind it. A layer exposes one or more mode masks; each mask M (1 = dynamic) selects,
// per element, between K dynamic weights of its shape (the K kernels of DY-Conv / CondConv, the E
// experts of an MoE, stacked on dim 0: [K, mask shape...]) and one static weight of its shape,
// shared by the K:
//
//   W_hat_k = lambda_d * M (.) W_k + lambda_s * (1 - M) (.) W_static      (PAD-Net Eq. 4)
//
// PartiallyDynamicConv2d exposes one mask (its kernel's); PartiallyDynamicMoE two (W1's and W2's).
// Each mask is one set of elements to partition: IMP scores and ranks every mask entry of the
// model together (global scope) or each mask on its own (per-mask scope).
//
// After compaction a mask keeps K * m_dyn dynamic values and m - m_dyn static ones (m its size,
// m_dyn its ones): kept_parameters() sums that over the layer's masks. SNIP (the MoE-P / pruning
// baseline) prunes the dynamic weights themselves, all K copies of every mask's elements.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace dg::partition {

// One mask and the weights it partitions (handles onto the layer's own tensors).
struct ModeMaskSite {
  std::string name;        // e.g. "mode_mask", "mask_w1": the mask's buffer name in the layer
  Tensor mask;             // buffer, mask shape; 1 = dynamic
  Tensor dynamic_weights;  // [K, mask shape...]: the dynamic weights the mask selects among
  Tensor static_weight;    // mask shape: the static weight shared by the K
};

class PartitionedLayer {
 public:
  virtual ~PartitionedLayer() = default;

  // The layer's masks, in a fixed order.
  virtual std::vector<ModeMaskSite> mode_mask_sites() const = 0;
  // Copies `mask` (the site's mask shape; 0/1 values) into mask `site`; a wrong shape is a dg::Error.
  virtual void set_mode_mask(size_t site, const Tensor& mask) = 0;

  // Sum over the masks of K * m_dyn + (m - m_dyn): the dynamic factors and static values a
  // compacted copy keeps (PAD-Net's parameter count for the partitioned weights).
  int64_t kept_parameters() const;
  // The fraction of all this layer's mask entries that are 1.
  double dynamic_ratio_all() const;
};

// The number of entries of `mask` equal to 1.
int64_t dynamic_elements(const Tensor& mask);

}  // namespace dg::partition
