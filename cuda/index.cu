// CUDA kernels of index_select, gather, scatter and index_add (beside
// engine/cpu/index_kernels.cpp). One thread walks one line along `dim` in order, so duplicate
// indices resolve exactly as the reference backend's row-major loop does (a plain scatter keeps
// the last write; additions happen in order), with no atomics. Index values were checked by the op
// layer.
#include "cuda/launch.cuh"
#include "engine/scalar_math.h"

namespace dg::cuda {
namespace {

template <class T>
__device__ void add_to(T& target, T value) {
  if constexpr (std::is_same_v<T, bool>) target = target || value;  // refused by the host side
  else target = math::Add{}(target, value);
}

template <class T>
struct IndexSelectLine {
  T* out;
  const T* in;
  int64_t in_dim_stride;
  const int64_t* index;
  int64_t index_stride;
  __device__ void operator()(const int64_t* base, const StridedIndex<2>& inner,
                             int64_t length) const {
    for (int64_t j = 0; j < length; ++j) {
      int64_t off[2];
      inner.offsets(j, off);
      out[base[0] + off[0]] = in[base[1] + index[j * index_stride] * in_dim_stride];
    }
  }
};

template <class T>
struct GatherLine {
  T* out;
  const int64_t* index;
  const T* in;
  int64_t in_dim_stride;
  __device__ void operator()(const int64_t* base, const StridedIndex<3>& inner,
                             int64_t length) const {
    for (int64_t j = 0; j < length; ++j) {
      int64_t off[3];
      inner.offsets(j, off);
      out[base[0] + off[0]] = in[base[2] + index[base[1] + off[1]] * in_dim_stride];
    }
  }
};

template <class T>
struct ScatterLine {
  const int64_t* index;
  const T* src;
  T* out;
  int64_t out_dim_stride;
  bool accumulate;
  __device__ void operator()(const int64_t* base, const StridedIndex<3>& inner,
                             int64_t length) const {
    for (int64_t j = 0; j < length; ++j) {
      int64_t off[3];
      inner.offsets(j, off);
      T& target = out[base[2] + index[base[0] + off[0]] * out_dim_stride];
      const T value = src[base[1] + off[1]];
      if (accumulate) add_to(target, value);
      else target = value;
    }
  }
};

template <class T>
struct IndexAddLine {
  const T* src;
  T* out;
  int64_t out_dim_stride;
  const int64_t* index;
  int64_t index_stride;
  __device__ void operator()(const int64_t* base, const StridedIndex<2>& inner,
                             int64_t length) const {
    for (int64_t j = 0; j < length; ++j) {
      int64_t off[2];
      inner.offsets(j, off);
      add_to(out[base[1] + index[j * index_stride] * out_dim_stride], src[base[0] + off[0]]);
    }
  }
};

}  // namespace

cudaError_t launch_index_select(cudaStream_t stream, Elem type, void* out, const void* in,
                                int64_t in_dim_stride, const int64_t* index, int64_t index_stride,
                                const LineIndex<2>& lines) {
  return visit_elem(type, [&]<class T>() {
    return launch_lines<2>(stream, lines,
                           IndexSelectLine<T>{static_cast<T*>(out), static_cast<const T*>(in),
                                              in_dim_stride, index, index_stride});
  });
}

cudaError_t launch_gather(cudaStream_t stream, Elem type, void* out, const int64_t* index,
                          const void* in, int64_t in_dim_stride, const LineIndex<3>& lines) {
  return visit_elem(type, [&]<class T>() {
    return launch_lines<3>(stream, lines,
                           GatherLine<T>{static_cast<T*>(out), index, static_cast<const T*>(in),
                                         in_dim_stride});
  });
}

cudaError_t launch_scatter(cudaStream_t stream, Elem type, const int64_t* index, const void* src,
                           void* out, int64_t out_dim_stride, bool accumulate,
                           const LineIndex<3>& lines) {
  return visit_elem(type, [&]<class T>() {
    return launch_lines<3>(stream, lines,
                           ScatterLine<T>{index, static_cast<const T*>(src), static_cast<T*>(out),
                                          out_dim_stride, accumulate});
  });
}

cudaError_t launch_index_add(cudaStream_t stream, Elem type, const void* src, void* out,
                             int64_t out_dim_stride, const int64_t* index, int64_t index_stride,
                             const LineIndex<2>& lines) {
  return visit_elem(type, [&]<class T>() {
    return launch_lines<2>(stream, lines,
                           IndexAddLine<T>{static_cast<const T*>(src), static_cast<T*>(out),
                                           out_dim_stride, index, index_stride});
  });
}

}  // namespace dg::cuda
