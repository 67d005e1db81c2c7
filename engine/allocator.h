// The CPU allocator: 64-byte aligned buffers, and a cache of freed buffers keyed by rounded size so
// that a training step, which frees and reallocates the same sizes every iteration, does not go
// back to malloc (and the kernel's page faults) each time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dg {

struct AllocatorStats {
  size_t bytes_in_use = 0;       // handed out and not yet returned
  size_t peak_bytes_in_use = 0;  // high-water mark of bytes_in_use since the last reset
  size_t bytes_cached = 0;       // returned and held for reuse
  uint64_t malloc_calls = 0;     // buffers that had to come from the system
  uint64_t cache_hits = 0;
};

class CpuAllocator {
 public:
  static constexpr size_t kAlignment = 64;

  static void* allocate(size_t nbytes);
  static void deallocate(void* ptr, size_t nbytes);
  // Returns every cached buffer to the system.
  static void release_cached();
  static AllocatorStats stats();
  static void reset_peak();
};

}  // namespace dg
