// Error checking for the CUDA backend: every CUDA runtime and cuBLAS call goes through
// DG_CUDA_CHECK or DG_CUBLAS_CHECK, which turn a failing status into a dg::Error naming the call
// and the status (on a machine without a GPU driver: "CUDA call cudaMalloc(&p, size) failed:
// cudaErrorInsufficientDriver (...)"; without a device: cudaErrorNoDevice).
// Host code only (compiled by the C++ compiler, never by nvcc).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

namespace dg::cuda {

void check_cuda(cudaError_t status, const char* call);
void check_cublas(cublasStatus_t status, const char* call);

}  // namespace dg::cuda

#define DG_CUDA_CHECK(call) ::dg::cuda::check_cuda((call), #call)
#define DG_CUBLAS_CHECK(call) ::dg::cuda::check_cublas((call), #call)
