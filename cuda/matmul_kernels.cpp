// CUDA matrix products (beside engine/cpu/matmul_kernels.cpp): out[b] = a[b] @ b[b] through one
// strided-batched cuBLAS GEMM. cuBLAS is column-major, and a row-major [M, N] result is the same
// bytes as the column-major [N, M] matrix out^T = b^T a^T, so the call computes that: each operand
// goes in as-is when its inner matrix is row-major (seen column-major it is the transpose cuBLAS
// wants) and with op T when it is column-major. A batch stride of 0 (a broadcast operand) is
// passed through; an operand whose inner matrix is neither (an every-other-element view) is first
// copied to contiguous memory. grouped_matmul and its weight gradient use the table's defaults
// (engine/backend_defaults.cpp), one such GEMM per group.
#include <algorithm>
#include <limits>

#include "cuda/check.h"
#include "cuda/cuda_backend.h"

namespace dg::cuda {
namespace {

// One operand [B, R, C] (rows R, columns C) as cuBLAS reads it.
struct GemmOperand {
  const void* data = nullptr;
  cublasOperation_t op = CUBLAS_OP_N;
  int64_t ld = 1, batch_stride = 0;
};

// How cuBLAS reads t's inner matrices, or nothing (ok = false) when they are neither row- nor
// column-major. Strides of size-1 dims are free, so they are chosen to satisfy cuBLAS's ld >= rows.
bool as_gemm_operand(const Tensor& t, GemmOperand& g) {
  const int64_t R = t.shape()[1], C = t.shape()[2];
  const int64_t sr = t.strides()[1], sc = t.strides()[2];
  g.data = t.raw_data();
  g.batch_stride = t.shape()[0] == 1 ? 0 : t.strides()[0];
  if (sc == 1 || C == 1) {  // row-major: column-major [C, R] with ld = row stride, no transpose
    g.op = CUBLAS_OP_N;
    g.ld = R == 1 ? std::max<int64_t>(C, 1) : std::max<int64_t>(sr, 1);
    return g.ld >= C;
  }
  if (sr == 1 || R == 1) {  // column-major: [R, C] with ld = column stride, read transposed
    g.op = CUBLAS_OP_T;
    g.ld = C == 1 ? std::max<int64_t>(R, 1) : std::max<int64_t>(sc, 1);
    return g.ld >= R;
  }
  return false;
}

}  // namespace

void CudaBackend::matmul(const Tensor& out, const Tensor& a, const Tensor& b) {
  check(is_floating(out.dtype()), "matmul: expected a floating dtype (f32 or f64), got {}",
        out.dtype());
  const int64_t B = out.shape()[0], M = out.shape()[1], N = out.shape()[2], K = a.shape()[2];
  if (B == 0 || M == 0 || N == 0) return;
  if (K == 0) return fill(out, 0.0);
  Tensor a_dense = a, b_dense = b;
  GemmOperand ga, gb;
  if (!as_gemm_operand(a_dense, ga)) {
    a_dense = Tensor::empty(a.shape(), a.dtype(), a.device());
    copy(a_dense, a);
    as_gemm_operand(a_dense, ga);
  }
  if (!as_gemm_operand(b_dense, gb)) {
    b_dense = Tensor::empty(b.shape(), b.dtype(), b.device());
    copy(b_dense, b);
    as_gemm_operand(b_dense, gb);
  }
  const int64_t ldc = M == 1 ? N : out.strides()[1];
  const int64_t stride_c = B == 1 ? M * N : out.strides()[0];
  const int limit = std::numeric_limits<int>::max();
  check(M <= limit && N <= limit && K <= limit && B <= limit && ga.ld <= limit && gb.ld <= limit &&
            ldc <= limit,
        "matmul: sizes [{}, {}, {}] x K = {} exceed cuBLAS's 32-bit dims", B, M, N, K);
  // out^T [N, M] = b^T [N, K] @ a^T [K, M], all column-major.
  cublasHandle_t h = blas();
  if (out.dtype() == DType::f32) {
    const float one = 1.0f, zero = 0.0f;
    DG_CUBLAS_CHECK(cublasSgemmStridedBatched(
        h, gb.op, ga.op, static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &one,
        static_cast<const float*>(gb.data), static_cast<int>(gb.ld), gb.batch_stride,
        static_cast<const float*>(ga.data), static_cast<int>(ga.ld), ga.batch_stride, &zero,
        static_cast<float*>(out.raw_data()), static_cast<int>(ldc), stride_c,
        static_cast<int>(B)));
  } else {
    const double one = 1.0, zero = 0.0;
    DG_CUBLAS_CHECK(cublasDgemmStridedBatched(
        h, gb.op, ga.op, static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &one,
        static_cast<const double*>(gb.data), static_cast<int>(gb.ld), gb.batch_stride,
        static_cast<const double*>(ga.data), static_cast<int>(ga.ld), ga.batch_stride, &zero,
        static_cast<double*>(out.raw_data()), static_cast<int>(ldc), stride_c,
        static_cast<int>(B)));
  }
}

}  // namespace dg::cuda
