// The CPU matmul kernel: out[b] = a[b] @ b[b] through OpenBLAS sgemm/dgemm. BLAS reads a matrix in
// place when one of its dims has unit stride (row-major, or column-major, which it reads as the
// transpose of a row-major matrix), so transposed views cost no copy; only a matrix with neither
// layout is first copied to contiguous memory. A batch of a's against one shared b (a linear layer
// on batched input) is folded into a single GEMM with B*M rows, which is what makes it fast.
//
// Threading: engine/cpu/blas.h splits a large product over the engine's threads; a batch of
// independent products is split by batch entry instead, each product on one thread.
#include <algorithm>
#include <limits>
#include <optional>

#include "engine/cpu/blas.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/strided_loop.h"

namespace dg::cpu {

namespace {

// How BLAS (called in row-major mode) sees one [rows, cols] matrix of a batch.
struct BlasMatrix {
  const void* data;      // first matrix of the batch
  int64_t batch_stride;  // in elements; 0 when every batch entry is the same matrix
  bool transposed;       // stored column-major: pass CblasTrans
  int64_t ld;            // leading dimension (elements between rows, or between columns)
};

// The BLAS view of an inner matrix with the given strides, or nullopt when neither dim has unit
// stride (or the other stride is too small to be a BLAS leading dimension).
std::optional<BlasMatrix> blas_view(int64_t rows, int64_t cols, int64_t row_stride,
                                    int64_t col_stride) {
  // A size-1 dim's stride is never used, so it cannot disqualify a layout.
  const bool unit_cols = cols == 1 || col_stride == 1;
  const bool unit_rows = rows == 1 || row_stride == 1;
  if (unit_cols && (rows == 1 || row_stride >= std::max<int64_t>(cols, 1)))
    return BlasMatrix{nullptr, 0, false, rows == 1 ? std::max<int64_t>(cols, 1) : row_stride};
  if (unit_rows && (cols == 1 || col_stride >= std::max<int64_t>(rows, 1)))
    return BlasMatrix{nullptr, 0, true, cols == 1 ? std::max<int64_t>(rows, 1) : col_stride};
  return std::nullopt;
}

// `t` ([B, rows, cols]) as BLAS operands; copies into `storage` only when the inner matrix has
// neither layout. A broadcast batch (stride 0) is copied once, not B times.
BlasMatrix prepare_operand(const Tensor& t, Backend& backend, Tensor& storage) {
  const int64_t rows = t.shape()[1], cols = t.shape()[2];
  if (auto m = blas_view(rows, cols, t.strides()[1], t.strides()[2])) {
    m->data = t.raw_data();
    m->batch_stride = t.shape()[0] == 1 ? 0 : t.strides()[0];
    return *m;
  }
  const int64_t copies = t.strides()[0] == 0 ? 1 : t.shape()[0];
  const Shape shape{copies, rows, cols};
  storage = Tensor::empty(shape, t.dtype(), t.device());
  backend.copy(storage, make_view(t, shape, t.strides(), t.offset()));
  return BlasMatrix{storage.raw_data(), copies == 1 ? 0 : rows * cols, false, cols};
}

// Batch entry `batch` of the product, written to c.
template <class T>
void gemm_entry(const BlasMatrix& a, const BlasMatrix& b, int64_t batch, int64_t M, int64_t N,
                int64_t K, T* c, int64_t c_ld) {
  const T* pa = static_cast<const T*>(a.data) + batch * a.batch_stride;
  const T* pb = static_cast<const T*>(b.data) + batch * b.batch_stride;
  gemm<T>(a.transposed, b.transposed, M, N, K, pa, a.ld, pb, b.ld, T(0), c, c_ld);
}

}  // namespace

void CpuBackend::matmul(const Tensor& out, const Tensor& a, const Tensor& b) {
  const int64_t B = out.shape()[0], M = out.shape()[1], N = out.shape()[2], K = a.shape()[2];
  if (out.numel() == 0) return;
  if (K == 0) {  // an empty sum: BLAS is not asked to handle K = 0
    fill(out, 0.0);
    return;
  }
  Tensor a_copy, b_copy;
  const BlasMatrix A = prepare_operand(a, *this, a_copy);
  const BlasMatrix Bm = prepare_operand(b, *this, b_copy);
  visit_floating(out.dtype(), "matmul", [&]<class T>() {
    T* c = out.data<T>();
    // One shared b and a's matrices stacked row after row: [B*M, K] @ [K, N] is one GEMM.
    const bool fold_batch = B > 1 && Bm.batch_stride == 0 && !A.transposed &&
                            A.batch_stride == M * A.ld;
    // cblas takes 32-bit sizes.
    const int64_t largest = std::max({fold_batch ? B * M : M, N, K, A.ld, Bm.ld});
    check(largest <= std::numeric_limits<int>::max(),
          "matmul: [{},{},{}] @ [{},{},{}]: a dimension of {} is too large for BLAS", B, M, K, B, K,
          N, largest);
    if (fold_batch || B == 1) {
      gemm_entry<T>(A, Bm, 0, fold_batch ? B * M : M, N, K, c, N);
      return;
    }
    // Independent products: whole products per thread (each then runs serially inside the
    // region), or one product at a time split over the threads when there are too few.
    const int64_t work = M * N * K;
    if (B >= num_threads() && work < kParallelGemmWork * 4 &&
        worth_splitting(B * work, kParallelGemmWork)) {
      parallel_for(B, work, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) gemm_entry<T>(A, Bm, i, M, N, K, c + i * M * N, N);
      });
      return;
    }
    for (int64_t i = 0; i < B; ++i) gemm_entry<T>(A, Bm, i, M, N, K, c + i * M * N, N);
  });
}

}  // namespace dg::cpu
