// CUDA kernels of index_select, gather, scatter, index_add, topk and sort (beside
// engine/cpu/index_kernels.cpp). topk and sort order each line with a stable insertion sort in
// one thread (quadratic in the line's length: the plain first version; a segmented radix sort
// would replace it for long rows). One thread walks one line along `dim` in order, so duplicate
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

// a > b with NaN above every number (and NaNs equal to each other), as the reference's.
template <class T>
__device__ bool greater(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (a != a) return b == b;
    if (b != b) return false;
  }
  return a > b;
}

template <class T>
__global__ void ordered_rows_kernel(T* values, int64_t values_stride, int64_t* indices,
                                    int64_t indices_stride, const T* in, int64_t count,
                                    bool larger_first, int64_t* scratch, LineIndex<3> lines) {
  const int64_t n = lines.length;
  for (int64_t line = first_item(); line < lines.lines; line += item_stride()) {
    int64_t base[3], off[3];
    lines.outer.offsets(line, base);
    auto value = [&](int64_t j) {
      lines.inner.offsets(j, off);
      return in[base[2] + off[2]];
    };
    auto first = [&](T a, T b) { return larger_first ? greater(a, b) : greater(b, a); };
    int64_t* order = scratch + line * n;
    for (int64_t j = 0; j < n; ++j) {  // stable: an element moves only past strictly later ones
      const T x = value(j);
      int64_t i = j;
      while (i > 0 && first(x, value(order[i - 1]))) {
        order[i] = order[i - 1];
        --i;
      }
      order[i] = j;
    }
    for (int64_t j = 0; j < count; ++j) {
      values[base[0] + j * values_stride] = value(order[j]);
      indices[base[1] + j * indices_stride] = order[j];
    }
  }
}

}  // namespace

cudaError_t launch_ordered_rows(cudaStream_t stream, Elem type, void* values,
                                int64_t values_dim_stride, int64_t* indices,
                                int64_t indices_dim_stride, const void* in, int64_t count,
                                bool larger_first, int64_t* scratch, const LineIndex<3>& lines) {
  if (lines.lines == 0 || count == 0) return cudaSuccess;
  return visit_elem(type, [&]<class T>() -> cudaError_t {
    if constexpr (std::is_same_v<T, bool>) {
      return cudaErrorInvalidValue;  // refused by the host side
    } else {
      ordered_rows_kernel<T><<<grid_for(lines.lines), kBlock, 0, stream>>>(
          static_cast<T*>(values), values_dim_stride, indices, indices_dim_stride,
          static_cast<const T*>(in), count, larger_first, scratch, lines);
      return cudaGetLastError();
    }
  });
}

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
