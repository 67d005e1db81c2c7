// The thread-local FLOP counter behind FlopScope.
#include "engine/flops.h"

namespace dg::flops {
namespace {
thread_local int64_t t_total = 0;
}
void add(int64_t n) { t_total += n; }
int64_t total() { return t_total; }
}  // namespace dg::flops
