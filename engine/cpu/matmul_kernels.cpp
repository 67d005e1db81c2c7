// PLACEHOLDER until the matmul kernel lands.
#include "engine/cpu/cpu_backend.h"

namespace dg::cpu {
void CpuBackend::matmul(const Tensor&, const Tensor&, const Tensor&) { fail("matmul: pending"); }
}  // namespace dg::cpu
