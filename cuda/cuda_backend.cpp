// The CUDA backend's shared machinery: the instance and its registration, the device's stream and
// cuBLAS handle, the allocator hooks, host <-> device copies, and the CUDA and cuBLAS error checks.
#include "cuda/cuda_backend.h"

#include <mutex>

#include "cuda/allocator.h"
#include "cuda/check.h"
#include "engine/error.h"

namespace dg::cuda {

static_assert(static_cast<int>(Elem::f32) == static_cast<int>(DType::f32) &&
              static_cast<int>(Elem::f64) == static_cast<int>(DType::f64) &&
              static_cast<int>(Elem::i64) == static_cast<int>(DType::i64) &&
              static_cast<int>(Elem::b8) == static_cast<int>(DType::b8));

void check_cuda(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  fail("CUDA call {} failed: {} ({})", call, cudaGetErrorName(status), cudaGetErrorString(status));
}

void check_cublas(cublasStatus_t status, const char* call) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  fail("cuBLAS call {} failed: {} ({})", call, cublasGetStatusName(status),
       cublasGetStatusString(status));
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // no driver or no device: not an error for the caller
    return 0;
  }
  return n;
}

Backend* cuda_backend() {
  static auto* instance = new CudaBackend();  // never destroyed: outlives static tensors
  return instance;
}

Elem elem(DType dtype) { return static_cast<Elem>(dtype); }

void* ptr(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

cudaStream_t CudaBackend::stream() {
  static std::once_flag once;
  std::call_once(once, [this] {
    DG_CUDA_CHECK(cudaSetDevice(0));
    DG_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  });
  return stream_;
}

cublasHandle_t CudaBackend::blas() {
  static std::once_flag once;
  std::call_once(once, [this] {
    cudaStream_t s = stream();
    DG_CUBLAS_CHECK(cublasCreate(&blas_));
    DG_CUBLAS_CHECK(cublasSetStream(blas_, s));
    // Plain FP32 arithmetic (no TF32 tensor-core rounding), so results compare with the CPU's.
    DG_CUBLAS_CHECK(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH));
  });
  return blas_;
}

void* CudaBackend::allocate(size_t nbytes) { return CudaAllocator::allocate(nbytes); }
void CudaBackend::deallocate(void* ptr, size_t nbytes) { CudaAllocator::deallocate(ptr, nbytes); }

void CudaBackend::copy_from_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  // The host buffer may be freed as soon as this returns, so the copy completes before it does.
  DG_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, stream()));
  DG_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void CudaBackend::copy_to_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  DG_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, stream()));
  DG_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

}  // namespace dg::cuda
