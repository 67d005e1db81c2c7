// The registry from device type to kernel table. The CPU backend is always there. A build with the
// CUDA backend (DG_WITH_CUDA, defined for this file by cuda/CMakeLists.txt) registers it the first
// time a cuda device is asked for; registering touches no GPU, so such a build runs on machines
// without one until a cuda tensor is made.
#include "engine/backend.h"
#include "engine/backend_override.h"

#include "engine/cpu/cpu_backend.h"

#include <mutex>

#ifdef DG_WITH_CUDA
namespace dg::cuda {
Backend* cuda_backend();  // cuda/cuda_backend.cpp
}
#endif

namespace dg {
namespace {
Backend* g_backends[2] = {nullptr, nullptr};
Backend* g_host_override = nullptr;  // see HostBackendOverride
}

Backend& backend(Device device) {
  if (device.is_cpu()) {
    if (g_host_override != nullptr) return *g_host_override;
    static auto* cpu_backend = new cpu::CpuBackend();  // never destroyed: outlives static tensors
    return *cpu_backend;
  }
#ifdef DG_WITH_CUDA
  static std::once_flag cuda_once;
  if (device.type == DeviceType::cuda)
    std::call_once(cuda_once, [] {
      if (g_backends[static_cast<int>(DeviceType::cuda)] == nullptr)
        register_backend(DeviceType::cuda, cuda::cuda_backend());
    });
  check(device.type != DeviceType::cuda || device.index == 0,
        "device {}: the CUDA backend serves cuda:0 only", device);
#endif
  Backend* b = g_backends[static_cast<int>(device.type)];
  check(b != nullptr,
        "device {}: no backend is registered for it (this build of dyngrad has no CUDA backend: "
        "configure with -DDG_CUDA=ON where nvcc is installed)",
        device);
  return *b;
}

void register_backend(DeviceType type, Backend* b) { g_backends[static_cast<int>(type)] = b; }

HostBackendOverride::HostBackendOverride(Backend& kernels) : previous_(g_host_override) {
  g_host_override = &kernels;
}
HostBackendOverride::~HostBackendOverride() { g_host_override = previous_; }

}  // namespace dg
