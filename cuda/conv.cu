// CUDA kernels of the convolution's data movement (beside engine/cpu/conv_kernels.cpp): im2col,
// which lays every input patch out as a column so that a convolution is one GEMM per group
// (cuBLAS, conv_kernels.cpp), and its adjoint col2im for the input gradient, written as a gather
// (each input element sums the column entries that read it), so it needs no atomics.
#include "cuda/launch.cuh"

namespace dg::cuda {
namespace {

template <class T>
__global__ void im2col_kernel(T* columns, const T* input, ConvShape s) {
  const int64_t positions = s.out_h * s.out_w, rows = s.channels * s.kernel_h * s.kernel_w;
  const int64_t total = s.batch * rows * positions;
  for (int64_t e = first_item(); e < total; e += item_stride()) {
    const int64_t p = e % positions, r = (e / positions) % rows, n = e / (positions * rows);
    const int64_t j = r % s.kernel_w, i = (r / s.kernel_w) % s.kernel_h,
                  c = r / (s.kernel_w * s.kernel_h);
    const int64_t oh = p / s.out_w, ow = p % s.out_w;
    const int64_t h = oh * s.stride_h - s.pad_h + i * s.dilation_h;
    const int64_t w = ow * s.stride_w - s.pad_w + j * s.dilation_w;
    const bool inside = h >= 0 && h < s.in_h && w >= 0 && w < s.in_w;
    columns[e] = inside ? input[((n * s.channels + c) * s.in_h + h) * s.in_w + w] : T(0);
  }
}

template <class T>
__global__ void col2im_kernel(T* input, const T* columns, ConvShape s) {
  const int64_t positions = s.out_h * s.out_w, rows = s.channels * s.kernel_h * s.kernel_w;
  const int64_t total = s.batch * s.channels * s.in_h * s.in_w;
  for (int64_t e = first_item(); e < total; e += item_stride()) {
    const int64_t w = e % s.in_w, h = (e / s.in_w) % s.in_h;
    const int64_t c = (e / (s.in_w * s.in_h)) % s.channels, n = e / (s.in_w * s.in_h * s.channels);
    T sum = T(0);
    for (int64_t i = 0; i < s.kernel_h; ++i) {
      const int64_t top = h + s.pad_h - i * s.dilation_h;  // = oh * stride_h
      if (top < 0 || top % s.stride_h != 0 || top / s.stride_h >= s.out_h) continue;
      const int64_t oh = top / s.stride_h;
      for (int64_t j = 0; j < s.kernel_w; ++j) {
        const int64_t left = w + s.pad_w - j * s.dilation_w;
        if (left < 0 || left % s.stride_w != 0 || left / s.stride_w >= s.out_w) continue;
        const int64_t ow = left / s.stride_w;
        const int64_t r = (c * s.kernel_h + i) * s.kernel_w + j;
        sum += columns[(n * rows + r) * positions + oh * s.out_w + ow];
      }
    }
    input[e] = sum;
  }
}

}  // namespace

cudaError_t launch_im2col(cudaStream_t stream, Elem type, void* columns, const void* input,
                          const ConvShape& s) {
  const int64_t total = s.batch * s.channels * s.kernel_h * s.kernel_w * s.out_h * s.out_w;
  if (total == 0) return cudaSuccess;
  return visit_floating_elem(type, [&]<class T>() {
    im2col_kernel<T><<<grid_for(total), kBlock, 0, stream>>>(static_cast<T*>(columns),
                                                             static_cast<const T*>(input), s);
    return cudaGetLastError();
  });
}

cudaError_t launch_col2im(cudaStream_t stream, Elem type, void* input, const void* columns,
                          const ConvShape& s) {
  const int64_t total = s.batch * s.channels * s.in_h * s.in_w;
  if (total == 0) return cudaSuccess;
  return visit_floating_elem(type, [&]<class T>() {
    col2im_kernel<T><<<grid_for(total), kBlock, 0, stream>>>(static_cast<T*>(input),
                                                             static_cast<const T*>(columns), s);
    return cudaGetLastError();
  });
}

}  // namespace dg::cuda
