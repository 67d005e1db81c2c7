// The registry from device type to kernel table. The CPU backend is always there; others register
// themselves when their library is linked in.
#include "engine/backend.h"
#include "engine/backend_override.h"

#include "engine/cpu/cpu_backend.h"

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
  Backend* b = g_backends[static_cast<int>(device.type)];
  check(b != nullptr, "device {}: no backend is registered for it (this build of dyngrad has the CPU backend only)",
        device);
  return *b;
}

void register_backend(DeviceType type, Backend* b) { g_backends[static_cast<int>(type)] = b; }

HostBackendOverride::HostBackendOverride(Backend& kernels) : previous_(g_host_override) {
  g_host_override = &kernels;
}
HostBackendOverride::~HostBackendOverride() { g_host_override = previous_; }

}  // namespace dg
