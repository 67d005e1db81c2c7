// Caching device allocator (see allocator.h). Sizes are rounded like the CPU allocator's (256-byte
// granules for small buffers, four steps per power of two for large ones) so that near sizes share
// a free list. The cache is capped; past the cap a freed buffer goes back to the driver. A freed
// buffer may still be read by kernels queued on the device's stream: reusing it is safe because
// every kernel of this backend runs on that one stream, in order.
#include "cuda/allocator.h"

#include <algorithm>
#include <bit>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda/check.h"

namespace dg::cuda {
namespace {

#ifdef DG_ALLOCATOR_NO_CACHE
constexpr size_t kMaxCachedBytes = 0;
#else
constexpr size_t kMaxCachedBytes = size_t{4} << 30;
#endif

size_t round_size(size_t n) {
  if (n == 0) n = 1;
  if (n <= 65536) return (n + 255) & ~size_t{255};
  const size_t p = std::bit_floor(n), step = p / 4;
  return (n + step - 1) / step * step;
}

struct Cache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  AllocatorStats stats;
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors may outlive static destruction order
  return *c;
}

}  // namespace

void* CudaAllocator::allocate(size_t nbytes) {
  const size_t size = round_size(nbytes);
  Cache& c = cache();
  {
    std::lock_guard lock(c.mutex);
    auto it = c.free_lists.find(size);
    if (it != c.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.stats.bytes_cached -= size;
      ++c.stats.cache_hits;
      c.stats.bytes_in_use += size;
      c.stats.peak_bytes_in_use = std::max(c.stats.peak_bytes_in_use, c.stats.bytes_in_use);
      return p;
    }
  }
  void* p = nullptr;
  if (cudaMalloc(&p, size) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky-free error state of the failed call
    release_cached();
    DG_CUDA_CHECK(cudaMalloc(&p, size));
  }
  std::lock_guard lock(c.mutex);
  ++c.stats.malloc_calls;
  c.stats.bytes_in_use += size;
  c.stats.peak_bytes_in_use = std::max(c.stats.peak_bytes_in_use, c.stats.bytes_in_use);
  return p;
}

void CudaAllocator::deallocate(void* ptr, size_t nbytes) {
  if (!ptr) return;
  const size_t size = round_size(nbytes);
  Cache& c = cache();
  {
    std::lock_guard lock(c.mutex);
    c.stats.bytes_in_use -= size;
    if (c.stats.bytes_cached + size <= kMaxCachedBytes) {
      c.free_lists[size].push_back(ptr);
      c.stats.bytes_cached += size;
      return;
    }
  }
  cudaFree(ptr);  // no throw from a destructor's path; a failure here leaks nothing further
}

void CudaAllocator::release_cached() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  for (auto& [size, list] : c.free_lists)
    for (void* p : list) cudaFree(p);
  c.free_lists.clear();
  c.stats.bytes_cached = 0;
}

AllocatorStats CudaAllocator::stats() {
  std::lock_guard lock(cache().mutex);
  return cache().stats;
}

}  // namespace dg::cuda
