// The CPU grouped-matmul kernels: the per-group products of a mixture-of-experts layer (or any
// routed computation, dynamic/routing.h) as one list of tasks over the engine's thread pool. A
// group's rows are cut into blocks of whole 16-row panels; every (group, block) is one
// single-threaded GEMM writing its own rows of the output, so E experts of uneven load keep every
// thread busy, and the result does not depend on which thread ran which task. The weight gradient
// splits each group's [K, N] output into column blocks instead (the reduction over the group's
// rows stays inside one GEMM, so no partial sums are ever added across threads).
#include <algorithm>
#include <vector>

#include "engine/cpu/blas.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/strided_loop.h"

namespace dg::cpu {

namespace {

constexpr int64_t kPanel = 16;

// One GEMM of the list: group `group`, rows or columns [begin, end) of its output.
struct GroupTask {
  int64_t group, begin, end;
};

// Cuts each group's extent (rows, or columns) into blocks of whole panels, about `blocks_per_group`
// blocks for the largest extent; empty groups give no task.
std::vector<GroupTask> cut_tasks(const std::vector<int64_t>& extents, int64_t block) {
  std::vector<GroupTask> tasks;
  for (int64_t e = 0; e < static_cast<int64_t>(extents.size()); ++e)
    for (int64_t begin = 0; begin < extents[e]; begin += block)
      tasks.push_back({e, begin, std::min(extents[e], begin + block)});
  return tasks;
}

int64_t round_up_to_panels(int64_t n) { return std::max<int64_t>(kPanel, (n + kPanel - 1) / kPanel * kPanel); }

// Runs the tasks on the pool when the total work is worth splitting, on the caller otherwise.
template <class Body>
void run_group_tasks(const std::vector<GroupTask>& tasks, int64_t work, Body&& body) {
  const int threads = num_threads();
  if (threads < 2 || tasks.size() < 2 || !worth_splitting(work, kParallelGemmWork)) {
    for (const GroupTask& t : tasks) body(t);
    return;
  }
  parallel_chunks(static_cast<int64_t>(tasks.size()), threads,
                  [&](int64_t i, int) { body(tasks[i]); });
}

}  // namespace

void CpuBackend::grouped_matmul(const Tensor& out, const Tensor& x, const Tensor& w,
                                const std::vector<int64_t>& group_sizes) {
  const int64_t M = x.shape()[0], K = x.shape()[1], N = w.shape()[2];
  if (M == 0 || N == 0) return;
  if (K == 0) {
    fill(out, 0.0);
    return;
  }
  // w's inner matrices: row-major (stride 1 along N) or column-major (stride 1 along K); the op
  // layer copies any other layout.
  const bool w_transposed = !(N == 1 || w.strides()[2] == 1);
  // (A dim of size 1 has a stride BLAS never follows but still checks against the other size.)
  const int64_t w_ld = w_transposed ? (N == 1 ? K : w.strides()[2]) : (K == 1 ? N : w.strides()[1]);
  std::vector<int64_t> first_row(group_sizes.size());
  for (size_t e = 0, row = 0; e < group_sizes.size(); row += group_sizes[e], ++e) first_row[e] = row;
  // Blocks of rows such that the list has a few tasks per thread even when one group holds most rows.
  const int64_t block = round_up_to_panels(std::max<int64_t>(
      M / (4 * std::max(1, num_threads())), (int64_t{1} << 16) / std::max<int64_t>(K * N / kPanel, 1)));
  const std::vector<GroupTask> tasks = cut_tasks(group_sizes, block);
  visit_floating(out.dtype(), "grouped_matmul", [&]<class T>() {
    const T* px = x.data<T>();
    const T* pw = w.data<T>();
    T* po = out.data<T>();
    run_group_tasks(tasks, M * K * N, [&](const GroupTask& t) {
      const int64_t row = first_row[t.group] + t.begin;
      gemm_serial<T>(false, w_transposed, t.end - t.begin, N, K, px + row * K, K,
                     pw + t.group * w.strides()[0], w_ld, T(0), po + row * N, N);
    });
  });
}

void CpuBackend::grouped_matmul_weight_grad(const Tensor& out, const Tensor& x, const Tensor& g,
                                            const std::vector<int64_t>& group_sizes) {
  const int64_t E = out.shape()[0], K = out.shape()[1], N = out.shape()[2];
  if (out.numel() == 0) return;
  std::vector<int64_t> first_row(E);
  for (int64_t e = 0, row = 0; e < E; row += group_sizes[e], ++e) first_row[e] = row;
  // Column blocks: enough tasks for the threads when there are few groups.
  const int64_t wanted_blocks = std::max<int64_t>(1, (2 * num_threads() + E - 1) / E);
  const int64_t block = round_up_to_panels((N + wanted_blocks - 1) / wanted_blocks);
  std::vector<int64_t> columns(E, N);
  const std::vector<GroupTask> tasks = cut_tasks(columns, block);
  int64_t work = 0;
  for (int64_t m : group_sizes) work += m * K * N;
  visit_floating(out.dtype(), "grouped_matmul_weight_grad", [&]<class T>() {
    const T* px = x.data<T>();
    const T* pg = g.data<T>();
    T* po = out.data<T>();
    run_group_tasks(tasks, work, [&](const GroupTask& t) {
      T* o = po + t.group * K * N + t.begin;
      const int64_t rows = group_sizes[t.group], width = t.end - t.begin;
      if (rows == 0) {  // an empty group: its gradient is zero, and no product runs
        for (int64_t k = 0; k < K; ++k) std::fill(o + k * N, o + k * N + width, T(0));
        return;
      }
      const int64_t row = first_row[t.group];
      gemm_serial<T>(true, false, K, width, rows, px + row * K, K, pg + row * N + t.begin, N, T(0),
                     o, N);
    });
  });
}

}  // namespace dg::cpu
