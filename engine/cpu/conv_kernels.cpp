// CPU kernels for 2-D convolution and pooling.
//
// Convolution is im2col + GEMM, one task per (sample, group): im2col copies the input patches of
// one group of one sample into a [C_in/groups * kH * kW, H_out * W_out] "columns" matrix, and the
// group's weight [C_out/groups, C_in/groups * kH * kW] times it is that group's output. The two
// backward kernels are the same GEMM transposed: grad_columns = W^T @ grad_out, scattered back
// into the input by col2im (the adjoint of im2col), and grad_weight = grad_out @ columns^T summed
// over samples. A 1x1 kernel with stride 1 and no padding needs no columns: the input itself is
// the columns matrix. Weights and outputs of a group are contiguous row blocks, so no task copies
// anything but its columns.
//
// Threading: tasks run in parallel over OpenMP threads, each with its own columns buffer and
// single-threaded BLAS (OpenBLAS's own pool is set to one thread for the duration, so the two
// pools never compete for the 2 cores). A single task (batch 1, groups 1) instead runs on the
// calling thread with BLAS's own threads. This is what makes a grouped convolution with
// groups = batch (DY-Conv's per-sample kernels) as fast as an ordinary batched one: the same
// loop of GEMMs, one per group, split over threads. grad_weight tasks that share a group would
// race on its rows, so they are split by group when there are enough groups, and otherwise by
// sample into per-thread accumulators summed at the end.
//
// Pooling loops over contiguous [H, W] planes, split over threads; the window bounds come from
// Backend::Pool2dGeometry so every backend computes the same windows.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/strided_loop.h"

namespace dg::cpu {

namespace {

using ConvGeometry = Backend::Conv2dGeometry;
using PoolGeometry = Backend::Pool2dGeometry;

// ---------------------------------------------------------------- BLAS and threading

// C = alpha op(A) op(B) + beta C, row-major; sizes already checked to fit in int by the op layer.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, 1.0, A, lda, B, ldb, beta, C, ldc);
  }
}

// Sets OpenBLAS to one thread while alive (when `active`), so GEMMs called from several OpenMP
// threads at once each run on their caller's thread instead of contending for BLAS's pool.
class SingleThreadedBlas {
 public:
  explicit SingleThreadedBlas(bool active) : previous_(active ? openblas_get_num_threads() : 0) {
    if (previous_ > 1) openblas_set_num_threads(1);
  }
  ~SingleThreadedBlas() {
    if (previous_ > 1) openblas_set_num_threads(previous_);
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int previous_;
};

// How many threads to split `tasks` tasks of `work_per_task` multiply-adds over: 1 when there is
// a single task (its GEMM is then threaded by BLAS) or too little work to pay for the fork.
int task_threads(int64_t tasks, int64_t work_per_task) {
  const int max_threads = omp_get_max_threads();
  if (tasks < 2 || max_threads < 2 || tasks * work_per_task < kParallelGrain) return 1;
  return static_cast<int>(std::min<int64_t>(max_threads, tasks));
}

// Runs body(begin, end, thread) over [0, tasks) split into `threads` contiguous ranges.
template <class Body>
void run_split(int64_t tasks, int threads, Body&& body) {
  if (threads <= 1) {
    body(int64_t{0}, tasks, 0);
    return;
  }
  SingleThreadedBlas single_blas(true);
#pragma omp parallel num_threads(threads)
  {
    // Balanced ranges: none is empty when there are at least as many tasks as threads.
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t begin = tasks * t / nt, end = tasks * (t + 1) / nt;
    if (begin < end) body(begin, end, static_cast<int>(t));
  }
}

// ---------------------------------------------------------------- im2col and col2im

// The sizes one (sample, group) task works with.
struct GroupSizes {
  int64_t in_channels, out_channels;  // per group
  int64_t patch;                      // in_channels * kernel_h * kernel_w: the GEMM's K
  int64_t out_pixels;                 // out_h * out_w
  int64_t in_plane;                   // in_h * in_w
  bool pointwise;                     // 1x1, stride 1, no padding: the input is the columns

  explicit GroupSizes(const ConvGeometry& g)
      : in_channels(g.in_channels / g.groups),
        out_channels(g.out_channels / g.groups),
        patch(in_channels * g.kernel_h * g.kernel_w),
        out_pixels(g.out_h * g.out_w),
        in_plane(g.in_h * g.in_w),
        pointwise(g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 &&
                  g.pad_h == 0 && g.pad_w == 0) {}
};

// The outputs ow in [lo, hi) whose input column ow * stride + offset lies inside [0, in_w).
struct ValidRange {
  int64_t lo, hi;
};
ValidRange valid_outputs(int64_t offset, int64_t stride, int64_t in_size, int64_t out_size) {
  const int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t hi = in_size - 1 - offset < 0 ? 0 : (in_size - 1 - offset) / stride + 1;
  return {std::min(lo, out_size), std::clamp(hi, std::min(lo, out_size), out_size)};
}

// Visits every row of the columns matrix of one group: visit(row, plane, ih, offset, range) for
// the output row oh's run, where `row` points at columns[(c, i, j), oh * out_w], `plane` at input
// channel c, ih is the input row (possibly outside [0, in_h): padding) and input column
// ow * stride_w + offset feeds output column ow for ow in `range`.
template <class Visit>
void for_each_patch_row(const ConvGeometry& g, int64_t channels, Visit&& visit) {
  const int64_t out_pixels = g.out_h * g.out_w;
  int64_t row = 0;
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      for (int64_t j = 0; j < g.kernel_w; ++j, ++row) {
        const int64_t offset = j * g.dilation_w - g.pad_w;
        const ValidRange range = valid_outputs(offset, g.stride_w, g.in_w, g.out_w);
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
          visit(row * out_pixels + oh * g.out_w, c, ih, offset, range);
        }
      }
    }
  }
}

// columns[(c, i, j), (oh, ow)] = x[c, oh*sh - ph + i*dh, ow*sw - pw + j*dw], 0 in the padding.
template <class T>
void im2col(const T* x, T* columns, const ConvGeometry& g, int64_t channels) {
  const int64_t sw = g.stride_w, out_w = g.out_w;
  for_each_patch_row(g, channels, [&](int64_t at, int64_t c, int64_t ih, int64_t offset,
                                      ValidRange range) {
    T* dst = columns + at;
    if (ih < 0 || ih >= g.in_h) {
      std::fill(dst, dst + out_w, T(0));
      return;
    }
    const T* src = x + (c * g.in_h + ih) * g.in_w;  // output ow reads src[ow * sw + offset]
    std::fill(dst, dst + range.lo, T(0));
    if (sw == 1) {
      std::copy(src + range.lo + offset, src + range.hi + offset, dst + range.lo);
    } else {
      for (int64_t ow = range.lo; ow < range.hi; ++ow) dst[ow] = src[ow * sw + offset];
    }
    std::fill(dst + range.hi, dst + out_w, T(0));
  });
}

// The adjoint of im2col: x[c, ih, iw] += columns[(c, i, j), (oh, ow)] for every patch position
// that read (ih, iw); padding positions are dropped. x must be zeroed by the caller.
template <class T>
void col2im(const T* columns, T* x, const ConvGeometry& g, int64_t channels) {
  const int64_t sw = g.stride_w;
  for_each_patch_row(g, channels, [&](int64_t at, int64_t c, int64_t ih, int64_t offset,
                                      ValidRange range) {
    if (ih < 0 || ih >= g.in_h) return;
    const T* src = columns + at;
    T* dst = x + (c * g.in_h + ih) * g.in_w;
    if (sw == 1) {
      T* shifted = dst + offset + range.lo;  // in bounds: range keeps ow + offset in [0, in_w)
      for (int64_t k = 0; k < range.hi - range.lo; ++k) shifted[k] += src[range.lo + k];
    } else {
      for (int64_t ow = range.lo; ow < range.hi; ++ow) dst[ow * sw + offset] += src[ow];
    }
  });
}

// ---------------------------------------------------------------- convolution

// Columns scratch: one [patch, out_pixels] buffer per thread (none for pointwise convolutions).
template <class T>
Tensor columns_scratch(const GroupSizes& s, int threads) {
  if (s.pointwise) return Tensor();
  return Tensor::empty({threads, s.patch * s.out_pixels}, dtype_of<T>());
}

// The columns of task (n, group): the input itself for a pointwise convolution, else im2col'd
// into this thread's scratch buffer.
template <class T>
const T* task_columns(const T* x, const ConvGeometry& g, const GroupSizes& s, int64_t n,
                      int64_t group, const Tensor& scratch, int thread) {
  const T* x_group = x + (n * g.in_channels + group * s.in_channels) * s.in_plane;
  if (s.pointwise) return x_group;
  T* columns = scratch.data<T>() + thread * s.patch * s.out_pixels;
  im2col(x_group, columns, g, s.in_channels);
  return columns;
}

template <class T>
void conv2d_forward(const Tensor& out, const Tensor& input, const Tensor& weight,
                    const Tensor& bias, const ConvGeometry& g) {
  const GroupSizes s(g);
  const int64_t tasks = g.batch * g.groups;
  const int threads = task_threads(tasks, s.out_channels * s.patch * s.out_pixels);
  const Tensor scratch = columns_scratch<T>(s, threads);
  const T *x = input.data<T>(), *w = weight.data<T>();
  const T* b = bias.defined() ? bias.data<T>() : nullptr;
  T* y = out.data<T>();
  run_split(tasks, threads, [&](int64_t begin, int64_t end, int thread) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / g.groups, group = task % g.groups;
      T* y_group = y + (n * g.out_channels + group * s.out_channels) * s.out_pixels;
      if (b) {  // start every output row from its bias and let the GEMM add onto it
        for (int64_t co = 0; co < s.out_channels; ++co)
          std::fill_n(y_group + co * s.out_pixels, s.out_pixels, b[group * s.out_channels + co]);
      }
      const T* columns = task_columns(x, g, s, n, group, scratch, thread);
      gemm<T>(false, false, s.out_channels, s.out_pixels, s.patch,
              w + group * s.out_channels * s.patch, s.patch, columns, s.out_pixels,
              b ? T(1) : T(0), y_group, s.out_pixels);
    }
  });
}

template <class T>
void conv2d_input_grad_impl(const Tensor& grad_input, const Tensor& grad_out,
                            const Tensor& weight, const ConvGeometry& g) {
  const GroupSizes s(g);
  const int64_t tasks = g.batch * g.groups;
  const int threads = task_threads(tasks, s.out_channels * s.patch * s.out_pixels);
  const Tensor scratch = columns_scratch<T>(s, threads);
  const T *gy = grad_out.data<T>(), *w = weight.data<T>();
  T* gx = grad_input.data<T>();
  run_split(tasks, threads, [&](int64_t begin, int64_t end, int thread) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / g.groups, group = task % g.groups;
      const T* gy_group = gy + (n * g.out_channels + group * s.out_channels) * s.out_pixels;
      const T* w_group = w + group * s.out_channels * s.patch;
      T* gx_group = gx + (n * g.in_channels + group * s.in_channels) * s.in_plane;
      if (s.pointwise) {  // grad_x = W^T @ grad_y, straight into the input's layout
        gemm<T>(true, false, s.patch, s.out_pixels, s.out_channels, w_group, s.patch, gy_group,
                s.out_pixels, T(0), gx_group, s.out_pixels);
        continue;
      }
      T* columns = scratch.data<T>() + thread * s.patch * s.out_pixels;
      gemm<T>(true, false, s.patch, s.out_pixels, s.out_channels, w_group, s.patch, gy_group,
              s.out_pixels, T(0), columns, s.out_pixels);
      std::fill_n(gx_group, s.in_channels * s.in_plane, T(0));
      col2im(columns, gx_group, g, s.in_channels);
    }
  });
}

// grad_w[group] = sum over samples [n_begin, n_end) of grad_y[n, group] @ columns(n, group)^T,
// for groups [group_begin, group_end). The range of samples is not empty.
template <class T>
void weight_grad_range(T* gw, const T* gy, const T* x, const ConvGeometry& g, const GroupSizes& s,
                       int64_t n_begin, int64_t n_end, int64_t group_begin, int64_t group_end,
                       const Tensor& scratch, int thread) {
  for (int64_t group = group_begin; group < group_end; ++group) {
    for (int64_t n = n_begin; n < n_end; ++n) {
      const T* gy_group = gy + (n * g.out_channels + group * s.out_channels) * s.out_pixels;
      const T* columns = task_columns(x, g, s, n, group, scratch, thread);
      gemm<T>(false, true, s.out_channels, s.patch, s.out_pixels, gy_group, s.out_pixels, columns,
              s.out_pixels, n == n_begin ? T(0) : T(1), gw + group * s.out_channels * s.patch,
              s.patch);
    }
  }
}

template <class T>
void conv2d_weight_grad_impl(const Tensor& grad_weight, const Tensor& grad_out,
                             const Tensor& input, const ConvGeometry& g) {
  const GroupSizes s(g);
  const int64_t work = s.out_channels * s.patch * s.out_pixels;
  const T *gy = grad_out.data<T>(), *x = input.data<T>();
  T* gw = grad_weight.data<T>();
  if (g.batch == 0) {
    std::fill_n(gw, grad_weight.numel(), T(0));
    return;
  }
  if (g.groups >= omp_get_max_threads()) {
    // Enough groups: each thread owns whole groups, so no two threads write the same rows.
    const int threads = task_threads(g.groups, work * g.batch);
    const Tensor scratch = columns_scratch<T>(s, threads);
    run_split(g.groups, threads, [&](int64_t begin, int64_t end, int thread) {
      weight_grad_range(gw, gy, x, g, s, 0, g.batch, begin, end, scratch, thread);
    });
    return;
  }
  // Few groups: split the samples, each thread summing into its own copy of grad_weight.
  const int threads = task_threads(g.batch, work * g.groups);
  const Tensor scratch = columns_scratch<T>(s, threads);
  if (threads == 1) {
    weight_grad_range(gw, gy, x, g, s, 0, g.batch, 0, g.groups, scratch, 0);
    return;
  }
  const int64_t size = grad_weight.numel();
  const Tensor partial = Tensor::empty({threads, size}, dtype_of<T>());
  std::vector<char> written(threads, 0);  // OpenMP may start fewer threads than asked for
  run_split(g.batch, threads, [&](int64_t begin, int64_t end, int thread) {
    weight_grad_range(partial.data<T>() + thread * size, gy, x, g, s, begin, end, 0, g.groups,
                      scratch, thread);
    written[thread] = 1;
  });
  std::fill_n(gw, size, T(0));
  for (int t = 0; t < threads; ++t) {
    if (!written[t]) continue;
    const T* p = partial.data<T>() + t * size;
    for (int64_t i = 0; i < size; ++i) gw[i] += p[i];
  }
}

// ---------------------------------------------------------------- pooling

// Runs body(plane_begin, plane_end) over the planes, in parallel when the work is big enough.
template <class Body>
void for_planes(const PoolGeometry& g, int64_t work_per_plane, Body&& body) {
  parallel_for(g.planes, std::max<int64_t>(work_per_plane, 1), body);
}

// The average number of input elements a window reads (for parallel_for's cost estimate).
int64_t window_work(const PoolGeometry& g) {
  return std::max(g.in_h * g.in_w, g.out_h * g.out_w * g.kernel_h * g.kernel_w);
}

template <class T>
void max_pool_planes(const Tensor& out, const Tensor& indices, const Tensor& input,
                     const PoolGeometry& g) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  const T* x = input.data<T>();
  T* y = out.data<T>();
  int64_t* idx = indices.data<int64_t>();
  for_planes(g, window_work(g), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T* plane = x + p * in_plane;
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        const int64_t h0 = g.row_begin(oh), h1 = g.row_end(oh);
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const int64_t w0 = g.col_begin(ow), w1 = g.col_end(ow);
          int64_t best_at = h0 * g.in_w + w0;
          T best = plane[best_at];
          for (int64_t ih = h0; ih < h1; ++ih) {
            for (int64_t iw = w0; iw < w1; ++iw) {
              const T v = plane[ih * g.in_w + iw];
              if (v > best || (std::isnan(v) && !std::isnan(best))) {
                best = v;
                best_at = ih * g.in_w + iw;
              }
            }
          }
          y[p * out_plane + oh * g.out_w + ow] = best;
          idx[p * out_plane + oh * g.out_w + ow] = best_at;
        }
      }
    }
  });
}

template <class T>
void max_pool_backward_planes(const Tensor& grad_input, const Tensor& grad_out,
                              const Tensor& indices, const PoolGeometry& g) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  const T* gy = grad_out.data<T>();
  const int64_t* idx = indices.data<int64_t>();
  T* gx = grad_input.data<T>();
  for_planes(g, in_plane + out_plane, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      T* plane = gx + p * in_plane;
      std::fill_n(plane, in_plane, T(0));
      for (int64_t o = p * out_plane; o < (p + 1) * out_plane; ++o) plane[idx[o]] += gy[o];
    }
  });
}

// Sum of plane[h0:h1, w0:w1]; a window of whole rows is one contiguous run.
template <class T>
T window_sum(const T* plane, int64_t in_w, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
  T sum = 0;
  if (w0 == 0 && w1 == in_w) {
    const T* run = plane + h0 * in_w;
    const int64_t n = (h1 - h0) * in_w;
    // Four partial sums: independent adds the compiler can keep in flight (a global average pool
    // of a big plane would otherwise wait on one add per element).
    T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
      s0 += run[i];
      s1 += run[i + 1];
      s2 += run[i + 2];
      s3 += run[i + 3];
    }
    for (; i < n; ++i) s0 += run[i];
    return (s0 + s1) + (s2 + s3);
  }
  for (int64_t ih = h0; ih < h1; ++ih)
    for (int64_t iw = w0; iw < w1; ++iw) sum += plane[ih * in_w + iw];
  return sum;
}

template <class T>
void avg_pool_planes(const Tensor& out, const Tensor& input, const PoolGeometry& g) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  const T* x = input.data<T>();
  T* y = out.data<T>();
  for_planes(g, window_work(g), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T* plane = x + p * in_plane;
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        const int64_t h0 = g.row_begin(oh), h1 = g.row_end(oh);
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const T sum = window_sum(plane, g.in_w, h0, h1, g.col_begin(ow), g.col_end(ow));
          y[p * out_plane + oh * g.out_w + ow] = sum / static_cast<T>(g.divisor(oh, ow));
        }
      }
    }
  });
}

template <class T>
void avg_pool_backward_planes(const Tensor& grad_input, const Tensor& grad_out,
                              const PoolGeometry& g) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  const T* gy = grad_out.data<T>();
  T* gx = grad_input.data<T>();
  for_planes(g, window_work(g), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      T* plane = gx + p * in_plane;
      const T* gy_plane = gy + p * out_plane;
      if (out_plane == 1 && g.adaptive) {  // global average pooling: one value everywhere
        std::fill_n(plane, in_plane, gy_plane[0] / static_cast<T>(in_plane));
        continue;
      }
      std::fill_n(plane, in_plane, T(0));
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        const int64_t h0 = g.row_begin(oh), h1 = g.row_end(oh);
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const int64_t w0 = g.col_begin(ow), w1 = g.col_end(ow);
          const T share = gy_plane[oh * g.out_w + ow] / static_cast<T>(g.divisor(oh, ow));
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) plane[ih * g.in_w + iw] += share;
        }
      }
    }
  });
}

}  // namespace

// ---------------------------------------------------------------- the Backend entry points

void CpuBackend::conv2d(const Tensor& out, const Tensor& input, const Tensor& weight,
                        const Tensor& bias, const Conv2dGeometry& g) {
  if (out.numel() == 0) return;
  visit_floating(out.dtype(), "conv2d", [&]<class T>() {
    conv2d_forward<T>(out, input, weight, bias, g);
  });
}

void CpuBackend::conv2d_input_grad(const Tensor& grad_input, const Tensor& grad_out,
                                   const Tensor& weight, const Conv2dGeometry& g) {
  if (grad_input.numel() == 0) return;
  visit_floating(grad_input.dtype(), "conv2d_input_grad", [&]<class T>() {
    conv2d_input_grad_impl<T>(grad_input, grad_out, weight, g);
  });
}

void CpuBackend::conv2d_weight_grad(const Tensor& grad_weight, const Tensor& grad_out,
                                    const Tensor& input, const Conv2dGeometry& g) {
  if (grad_weight.numel() == 0) return;
  visit_floating(grad_weight.dtype(), "conv2d_weight_grad", [&]<class T>() {
    conv2d_weight_grad_impl<T>(grad_weight, grad_out, input, g);
  });
}

void CpuBackend::max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& input,
                            const Pool2dGeometry& g) {
  if (out.numel() == 0) return;
  visit_floating(out.dtype(), "max_pool2d", [&]<class T>() {
    max_pool_planes<T>(out, indices, input, g);
  });
}

void CpuBackend::max_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out,
                                     const Tensor& indices, const Pool2dGeometry& g) {
  if (grad_input.numel() == 0) return;
  visit_floating(grad_input.dtype(), "max_pool2d_backward", [&]<class T>() {
    max_pool_backward_planes<T>(grad_input, grad_out, indices, g);
  });
}

void CpuBackend::avg_pool2d(const Tensor& out, const Tensor& input, const Pool2dGeometry& g) {
  if (out.numel() == 0) return;
  visit_floating(out.dtype(), "avg_pool2d", [&]<class T>() { avg_pool_planes<T>(out, input, g); });
}

void CpuBackend::avg_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out,
                                     const Pool2dGeometry& g) {
  if (grad_input.numel() == 0) return;
  visit_floating(grad_input.dtype(), "avg_pool2d_backward", [&]<class T>() {
    avg_pool_backward_planes<T>(grad_input, grad_out, g);
  });
}

}  // namespace dg::cpu
