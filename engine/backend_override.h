// HostBackendOverride: runs the op layer's CPU tensors on another kernel table for as long as it
// lives. Tests use it to run whole programs on the reference backend (engine/reference/) and
// compare them with the CPU backend (tests/engine/test_reference_backend.cpp).
#pragma once

#include "engine/backend.h"

namespace dg {

// While one is alive, CPU tensors run on `kernels` instead of the CPU backend: tests use it to run
// the whole op layer on the reference backend (engine/reference/). `kernels` must allocate host
// memory through the CPU allocator, as the reference backend does, since tensors made before the
// guard may be freed inside it and the other way round. Not thread-safe: set it on the test's
// thread, with no other thread running ops.
class HostBackendOverride {
 public:
  explicit HostBackendOverride(Backend& kernels);
  ~HostBackendOverride();
  HostBackendOverride(const HostBackendOverride&) = delete;
  HostBackendOverride& operator=(const HostBackendOverride&) = delete;

 private:
  Backend* previous_;
};

}  // namespace dg
