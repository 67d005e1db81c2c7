// The engine's own thread pool, used by every CPU kernel that splits its work (elementwise loops,
// reductions, convolutions, GEMM: OpenBLAS is kept at one thread and engine/cpu/blas.h splits
// products over this pool, so one pool owns the cores). It exists instead of OpenMP because of two
// cores shared with OpenBLAS: libgomp's idle workers spin for milliseconds after every parallel region (unless the
// user sets OMP_WAIT_POLICY before the program starts, which a library cannot do for them), and
// that spinning steals the core OpenBLAS's GEMM thread needs (docs/performance.md measured a
// training step 20x slower). These workers spin only for a few microseconds after a job (long
// enough to catch the next op of a training step) and then sleep on a condition variable.
//
// The calling thread always takes part as thread 0. A region started from inside another region,
// or from a second user thread while the pool is busy (e.g. a DataLoader's background thread), runs
// on the calling thread alone: correct, never deadlocked, just not parallel.
#pragma once

#include <cstdint>
#include <functional>

namespace dg {

// Threads a parallel region uses: DG_NUM_THREADS or OMP_NUM_THREADS if set, else the number of
// hardware threads.
int num_threads();
// Sets the thread count for the engine's kernels, GEMM included. Not to be called while
// ops run on other threads.
void set_num_threads(int n);

// Runs body(thread_index, thread_count) on min(threads, num_threads()) threads, the caller being
// thread 0, and returns when all have finished. An exception thrown by any thread is rethrown here
// (kernels should not throw; this only keeps a bug from terminating the process).
void parallel_region(int threads, const std::function<void(int, int)>& body);

}  // namespace dg
