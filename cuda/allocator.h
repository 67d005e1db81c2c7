// The CUDA device allocator: the CPU allocator's caching scheme (engine/allocator.h) on device
// memory. cudaMalloc and cudaFree synchronise the device and cost tens of microseconds, so freed
// buffers are kept in per-size free lists and handed out again; a training step, which frees and
// reallocates the same sizes every iteration, then allocates nothing from the driver after its
// first iteration.
#pragma once

#include <cstddef>

#include "engine/allocator.h"  // AllocatorStats

namespace dg::cuda {

class CudaAllocator {
 public:
  // Buffers are multiples of 256 bytes (cudaMalloc's own alignment), so every dtype is aligned.
  static void* allocate(size_t nbytes);
  static void deallocate(void* ptr, size_t nbytes);
  // Returns every cached buffer to the driver (done once automatically when cudaMalloc fails).
  static void release_cached();
  static AllocatorStats stats();
};

}  // namespace dg::cuda
