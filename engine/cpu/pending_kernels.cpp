// TEMPORARY: kernels whose families are being written; each is deleted as its file lands.
#include "engine/cpu/cpu_backend.h"

namespace dg::cpu {
void CpuBackend::arg_reduce(bool, const Tensor&, const Tensor&, const Tensor&, int) { fail("arg_reduce: pending"); }
void CpuBackend::cumsum(const Tensor&, const Tensor&, int) { fail("cumsum: pending"); }
void CpuBackend::matmul(const Tensor&, const Tensor&, const Tensor&) { fail("matmul: pending"); }
void CpuBackend::index_select(const Tensor&, const Tensor&, int, const Tensor&) { fail("index_select: pending"); }
void CpuBackend::gather(const Tensor&, const Tensor&, int, const Tensor&) { fail("gather: pending"); }
void CpuBackend::scatter(const Tensor&, int, const Tensor&, const Tensor&, bool) { fail("scatter: pending"); }
void CpuBackend::index_add(const Tensor&, int, const Tensor&, const Tensor&) { fail("index_add: pending"); }
void CpuBackend::topk(const Tensor&, const Tensor&, const Tensor&, int64_t, int, bool, bool) { fail("topk: pending"); }
void CpuBackend::sort(const Tensor&, const Tensor&, const Tensor&, int, bool) { fail("sort: pending"); }
}  // namespace dg::cpu
