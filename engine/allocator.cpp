// Caching CPU allocator. Sizes are rounded up (to 64 bytes for small buffers, to one of four steps
// per power of two for large ones) so that near sizes share a free list; a freed buffer goes to
// its size's list and the next request of that size takes it. The cache is capped: past the cap,
// freed buffers go straight back to the system.
#include "engine/allocator.h"

#include <bit>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace dg {
namespace {

#ifdef DG_ALLOCATOR_NO_CACHE
constexpr size_t kMaxCachedBytes = 0;  // sanitizer builds: every free goes back to the system
#else
constexpr size_t kMaxCachedBytes = size_t{2} << 30;
#endif

size_t round_size(size_t n) {
  if (n == 0) n = 1;
  if (n <= 4096) return (n + 63) & ~size_t{63};
  // Four steps per power of two: at most 25% waste.
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

void* CpuAllocator::allocate(size_t nbytes) {
  const size_t size = round_size(nbytes);
  Cache& c = cache();
  {
    std::lock_guard lock(c.mutex);
    c.stats.bytes_in_use += size;
    c.stats.peak_bytes_in_use = std::max(c.stats.peak_bytes_in_use, c.stats.bytes_in_use);
    auto it = c.free_lists.find(size);
    if (it != c.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.stats.bytes_cached -= size;
      ++c.stats.cache_hits;
      return p;
    }
    ++c.stats.malloc_calls;
  }
  void* p = std::aligned_alloc(kAlignment, size);
  if (!p) {
    release_cached();
    p = std::aligned_alloc(kAlignment, size);
    if (!p) {
      std::lock_guard lock(c.mutex);
      c.stats.bytes_in_use -= size;  // nothing was handed out
      throw std::bad_alloc();  // Tensor::empty turns it into a dg::Error naming op and shape
    }
  }
  return p;
}

void CpuAllocator::deallocate(void* ptr, size_t nbytes) {
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
  std::free(ptr);
}

void CpuAllocator::release_cached() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  for (auto& [size, list] : c.free_lists)
    for (void* p : list) std::free(p);
  c.free_lists.clear();
  c.stats.bytes_cached = 0;
}

AllocatorStats CpuAllocator::stats() {
  std::lock_guard lock(cache().mutex);
  return cache().stats;
}

void CpuAllocator::reset_peak() {
  std::lock_guard lock(cache().mutex);
  cache().stats.peak_bytes_in_use = cache().stats.bytes_in_use;
}

}  // namespace dg
