// Storage: one buffer on one device, shared by a tensor and all its views. It carries the version
// counter that in-place ops bump, so autograd can tell when a tensor it saved for backward was
// overwritten (views share the counter because they share the bytes). It can also hold one
// backend-owned cache of data derived from its bytes (the CPU backend keeps a weight's packed GEMM
// panels there for inference, and the lane plan of a compacted layer's positions): the cache lives
// and dies with the buffer, and whoever fills it records the version it was derived from and checks
// it before use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "engine/device.h"

namespace dg {

// Base of what a backend caches on a Storage (see derived_cache); users find their own type back
// with std::dynamic_pointer_cast, so two kinds of cache can never be mistaken for each other.
struct DerivedData {
  virtual ~DerivedData() = default;
};

class Storage {
 public:
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

  // The derived-data cache (see above). Reading and replacing it are guarded by a mutex, since a
  // model may run inference on several threads at once; the cached object itself is immutable.
  std::shared_ptr<const DerivedData> derived_cache() const {
    std::lock_guard lock(derived_mutex_);
    return derived_cache_;
  }
  void set_derived_cache(std::shared_ptr<const DerivedData> cache) {
    std::lock_guard lock(derived_mutex_);
    derived_cache_ = std::move(cache);
  }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  uint64_t version_ = 0;
  mutable std::mutex derived_mutex_;
  std::shared_ptr<const DerivedData> derived_cache_;
};

}  // namespace dg
