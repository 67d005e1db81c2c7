// The FLOP counter. Every op adds the work its kernel actually executed to a thread-local counter:
// multiply-adds for matmul and convolution, one per output element for elementwise ops and one
// per input element for reductions. A FlopScope reads how much was executed while it was alive,
// so a dynamic network reports the compute it really ran, not a formula's estimate.
#pragma once

#include <cstdint>

namespace dg {

namespace flops {
void add(int64_t n);
int64_t total();  // this thread's running total
}  // namespace flops

class FlopScope {
 public:
  FlopScope() : start_(flops::total()) {}
  int64_t count() const { return flops::total() - start_; }

 private:
  int64_t start_;
};

}  // namespace dg
