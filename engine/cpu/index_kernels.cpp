// PLACEHOLDER until the indexing kernels land.
#include "engine/cpu/cpu_backend.h"

namespace dg::cpu {
void CpuBackend::index_select(const Tensor&, const Tensor&, int, const Tensor&) { fail("index_select: pending"); }
void CpuBackend::gather(const Tensor&, const Tensor&, int, const Tensor&) { fail("gather: pending"); }
void CpuBackend::scatter(const Tensor&, int, const Tensor&, const Tensor&, bool) { fail("scatter: pending"); }
void CpuBackend::index_add(const Tensor&, int, const Tensor&, const Tensor&) { fail("index_add: pending"); }
void CpuBackend::topk(const Tensor&, const Tensor&, const Tensor&, int64_t, int, bool, bool) { fail("topk: pending"); }
void CpuBackend::sort(const Tensor&, const Tensor&, const Tensor&, int, bool) { fail("sort: pending"); }
}  // namespace dg::cpu
