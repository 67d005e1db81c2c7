// GEMM for the CPU kernels: C = op(A) op(B) + beta C (row-major) through OpenBLAS, split over the
// engine's threads. OpenBLAS itself is kept at one thread (engine/cpu/parallel.cpp), so the engine's
// pool is the only source of threads: a second pool beside ours spins after every call and takes a
// core away from the kernel that comes next (docs/performance.md, "Threads"). A product big enough to pay for the fork is cut into blocks of whole 16-row (or 16-column)
// panels along its larger output dimension, one single-threaded GEMM per thread; called from inside
// a parallel region (a conv task, a batch of products) it runs on the caller alone.
#pragma once

#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "engine/cpu/parallel.h"

namespace dg::cpu {

// Below this many multiply-adds a product runs on one thread: splitting it costs more (fork/join
// and a second packing of the shared operand) than it saves. A skinny product (a batch-1 linear
// layer, M = 1) streams its weight matrix from memory instead of reusing it, so halving the bytes
// each core reads pays off much earlier.
inline constexpr int64_t kParallelGemmWork = int64_t{1} << 18;
inline constexpr int64_t kParallelSkinnyGemmWork = int64_t{1} << 16;
inline constexpr int64_t kSkinnyRows = 8;

// Keeps OpenBLAS on the calling thread. Its OpenMP build (the one CMakeLists.txt links) runs a call
// on as many threads as the *calling* thread's OpenMP setting allows, and a thread that has not set
// it (a pool worker, a user's thread) gets the default, every core: its sgemm would then start an
// OpenMP team of its own beside the engine's pool. So each thread sets it to one before its first
// call. (In the pthreads build the setting is global and this repeats what parallel.cpp does.)
inline void keep_blas_on_this_thread() {
  thread_local const bool set = (openblas_set_num_threads(1), true);
  (void)set;
}

// One single-threaded BLAS call; sizes are already checked to fit BLAS's 32-bit ints.
template <class T>
void gemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A,
                 int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  keep_blas_on_this_thread();
  const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, 1.0, A, lda, B, ldb, beta, C, ldc);
  }
}

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  constexpr int64_t kPanel = 16;
  const int threads = num_threads();
  const int64_t work = M * N * K;
  const bool skinny = std::min(M, N) <= kSkinnyRows;
  if (threads < 2 || std::max(M, N) < 2 * kPanel ||
      !worth_splitting(work, skinny ? kParallelSkinnyGemmWork : kParallelGemmWork)) {
    gemm_serial<T>(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const bool split_rows = M >= N;
  const int64_t extent = split_rows ? M : N;
  const int64_t panels = (extent + kPanel - 1) / kPanel;
  parallel_chunks(threads, threads, [&](int64_t t, int) {  // block t of `threads`
    const int64_t begin = std::min(extent, panels * t / threads * kPanel);
    const int64_t end = std::min(extent, panels * (t + 1) / threads * kPanel);
    if (begin >= end) return;
    if (split_rows) {  // rows [begin, end) of op(A) and of C
      const T* a_block = A + (trans_a ? begin : begin * lda);
      gemm_serial<T>(trans_a, trans_b, end - begin, N, K, a_block, lda, B, ldb, beta,
                     C + begin * ldc, ldc);
    } else {  // columns [begin, end) of op(B) and of C
      const T* b_block = B + (trans_b ? begin * ldb : begin);
      gemm_serial<T>(trans_a, trans_b, M, end - begin, K, A, lda, b_block, ldb, beta, C + begin,
                     ldc);
    }
  });
}

}  // namespace dg::cpu
