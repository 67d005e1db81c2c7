// The engine's own thread pool, used by every CPU kernel that splits its work (elementwise loops,
// reductions, convolutions, GEMM: OpenBLAS is kept at one thread and engine/cpu/blas.h splits
// products over this pool, so one pool owns the cores). It exists instead of OpenMP because
// libgomp's idle workers spin for milliseconds after every region, which starves the next kernel
// on a shared two-core machine (docs/performance.md, "Threads"). These workers poll for a few
// microseconds after a job (long enough to catch the next op of a training step), then sleep.
//
// The calling thread always takes part as thread 0. A region started from inside another region,
// or from a second user thread while the pool is busy (e.g. a DataLoader's background thread), runs
// on the calling thread alone: correct, never deadlocked, just not parallel.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

namespace dg {

// Threads a parallel region uses: DG_NUM_THREADS or OMP_NUM_THREADS if set, else the number of
// hardware threads.
int num_threads();
// Sets the thread count for the engine's kernels, GEMM included. Not to be called while
// ops run on other threads.
void set_num_threads(int n);

// Whether `work` (in a kernel's own unit) is worth splitting over the threads, given the least
// that is worth it while the cores are near each other: kernels ask this before they split. While
// the pool measures that its threads are far apart (a shared machine's host moves the vCPUs; then
// everything a region's threads hand each other crosses slowly, and small regions run faster on one
// thread), it takes 16 times that, except that now and then work between the two thresholds is
// split anyway, so that the pool keeps measuring. See parallel.cpp.
bool worth_splitting(int64_t work, int64_t near_cores_work);
// Whether the pool currently measures its threads as far apart.
bool cores_far_apart();
namespace detail {
// For tests: replaces the pool's measurement by `far`, or (nullopt) hands the verdict back to it.
void override_cores_far_apart(std::optional<bool> far);
}  // namespace detail

// Runs body(chunk, thread) for every chunk in [0, chunks) on up to min(threads, num_threads())
// threads, the caller being thread 0 (`thread` indexes per-thread scratch). Each thread claims the
// next unclaimed chunk from a shared counter, and the caller waits only for workers that started
// before it ran out of chunks: a worker whose core the OS has lent to another process (the
// machines are shared) delays nothing, its chunks are run by the threads that are there. The
// chunking is the caller's and fixed, so results never depend on which thread ran what. An
// exception thrown in a chunk is rethrown here (kernels should not throw; this only keeps a bug
// from terminating the process).
void parallel_chunks(int64_t chunks, int threads, const std::function<void(int64_t, int)>& body);

}  // namespace dg
