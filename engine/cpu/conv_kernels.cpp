// CPU kernels for 2-D convolution and pooling.
//
// Convolution is im2col + GEMM, one task per (sample, group): im2col copies the input patches of
// one group of one sample into a [C_in/groups * kH * kW, H_out * W_out] "columns" matrix, and the
// group's weight [C_out/groups, C_in/groups * kH * kW] times it is that group's output. The two
// backward kernels are the same GEMM transposed: grad_columns = W^T @ grad_out, scattered back
// into the input by col2im (the adjoint of im2col), and grad_weight = grad_out @ columns^T summed
// over samples. A 1x1 kernel with stride 1 and no padding needs no columns: the input itself is
// the columns matrix. Weights and outputs of a group are contiguous row blocks, so no task copies
// anything but its columns. Each thread's columns buffer is zeroed once per call and im2col only
// writes the entries that read real input, so padding costs nothing; with stride 1 and "same"
// padding, all output rows of one kernel tap are one contiguous copy.
//
// Threading: tasks run in parallel on the engine's threads, each with its own columns buffer and
// a GEMM that runs on its own thread (engine/cpu/blas.h). A single task (batch 1, groups 1)
// instead runs on the calling thread and its GEMM is split over the threads. This is what makes a grouped convolution with
// groups = batch (DY-Conv's per-sample kernels) as fast as an ordinary batched one: the same
// loop of GEMMs, one per group, split over threads. grad_weight tasks that share a group would
// race on its rows, so they are split by group when there are enough groups, and otherwise by
// sample into per-thread accumulators summed at the end.
//
// Pooling loops over contiguous [H, W] planes, split over threads; the window bounds come from
// Backend::Pool2dGeometry so every backend computes the same windows. Fixed windows are walked one
// output row at a time, one branch-free (vectorisable) pass per kernel tap; adaptive windows,
// whose sizes vary, one window at a time.
#include <Eigen/Core>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/cpu/blas.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/strided_loop.h"

namespace dg::cpu {

namespace {

using ConvGeometry = Backend::Conv2dGeometry;
using PoolGeometry = Backend::Pool2dGeometry;

// ---------------------------------------------------------------- BLAS and threading

// How many threads to split `tasks` tasks of `work_per_task` multiply-adds over: 1 when there is
// a single task (its GEMM is then split over the threads) or too little work to pay for the fork.
int task_threads(int64_t tasks, int64_t work_per_task) {
  const int max_threads = num_threads();
  if (tasks < 2 || max_threads < 2 || tasks * work_per_task < kParallelGrain) return 1;
  return static_cast<int>(std::min<int64_t>(max_threads, tasks));
}

// Runs body(task, thread) for every task in [0, tasks) on at most `threads` of the engine's
// threads (engine/parallel.h); `thread` < `threads` indexes per-thread scratch. Tasks are handed
// out one at a time from a shared counter: they are whole GEMMs, so the hand-out costs nothing in
// comparison, and a thread the OS pauses (other processes share the cores) delays only its
// current task instead of a fixed share of them.
template <class Body>
void run_tasks(int64_t tasks, int threads, Body&& body) {
  if (threads <= 1) {
    for (int64_t task = 0; task < tasks; ++task) body(task, 0);
    return;
  }
  std::atomic<int64_t> next{0};
  parallel_region(threads, [&](int thread, int) {
    for (int64_t task = next++; task < tasks; task = next++) body(task, thread);
  });
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

// Visits the part of the columns matrix of one group that reads real input (not padding):
// visit(at, c, ih, offset, range) for each row (c, i, j) and output row oh whose input row ih is
// inside the input, where `at` is the offset of columns[(c, i, j), oh * out_w] and output column
// ow reads input column ow * stride_w + offset for ow in `range` (the columns that are inside).
template <class Visit>
void for_each_patch_run(const ConvGeometry& g, int64_t channels, Visit&& visit) {
  const int64_t out_pixels = g.out_h * g.out_w;
  int64_t row = 0;
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      const int64_t offset_h = i * g.dilation_h - g.pad_h;
      const ValidRange rows = valid_outputs(offset_h, g.stride_h, g.in_h, g.out_h);
      for (int64_t j = 0; j < g.kernel_w; ++j, ++row) {
        const int64_t offset = j * g.dilation_w - g.pad_w;
        const ValidRange range = valid_outputs(offset, g.stride_w, g.in_w, g.out_w);
        if (range.lo == range.hi) continue;
        for (int64_t oh = rows.lo; oh < rows.hi; ++oh)
          visit(row * out_pixels + oh * g.out_w, c, oh * g.stride_h + offset_h, offset, range);
      }
    }
  }
}

// dst[k] = src[k * stride] for k < n (a run along one output row).
template <class T>
void gather_run(T* __restrict dst, const T* __restrict src, int64_t n, int64_t stride) {
  for (int64_t k = 0; k < n; ++k) dst[k] = src[k * stride];
}

// dst[k * stride] += src[k] for k < n.
template <class T>
void scatter_add_run(T* __restrict dst, const T* __restrict src, int64_t n, int64_t stride) {
  for (int64_t k = 0; k < n; ++k) dst[k * stride] += src[k];
}

// im2col when consecutive output rows read input rows exactly out_w apart and columns with unit
// stride (stride 1 with "same" padding, the common case): then all output rows of one (c, i, j)
// read one contiguous stretch of the input, copied at once instead of one short run per row.
// That copy also fills the entries that read padding on the left or right with neighbouring
// values, which are put back to zero afterwards.
template <class T>
void im2col_rows_at_once(const T* x, T* columns, const ConvGeometry& g, int64_t channels) {
  const int64_t out_w = g.out_w, out_pixels = g.out_h * g.out_w;
  int64_t row = 0;
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      const int64_t offset_h = i * g.dilation_h - g.pad_h;
      const ValidRange rows = valid_outputs(offset_h, g.stride_h, g.in_h, g.out_h);
      for (int64_t j = 0; j < g.kernel_w; ++j, ++row) {
        const int64_t offset = j * g.dilation_w - g.pad_w;
        const ValidRange cols = valid_outputs(offset, 1, g.in_w, out_w);
        if (rows.lo == rows.hi || cols.lo == cols.hi) continue;
        // Input (oh * sh + offset_h, ow + offset) of channel c sits at plane[pixel + shift],
        // where pixel = oh * out_w + ow is the output's own index.
        const int64_t shift = offset_h * g.in_w + offset;
        const T* plane = x + c * g.in_h * g.in_w;
        T* dst = columns + row * out_pixels;
        const int64_t first = rows.lo * out_w + cols.lo, last = (rows.hi - 1) * out_w + cols.hi;
        std::copy(plane + first + shift, plane + last + shift, dst + first);
        // Column by column, so that these few stores do not become a memset call per row.
        for (int64_t ow = 0; ow < cols.lo; ++ow)
          for (int64_t oh = rows.lo; oh < rows.hi; ++oh) dst[oh * out_w + ow] = T(0);
        for (int64_t ow = cols.hi; ow < out_w; ++ow)
          for (int64_t oh = rows.lo; oh < rows.hi; ++oh) dst[oh * out_w + ow] = T(0);
      }
    }
  }
}

// columns[(c, i, j), (oh, ow)] = x[c, oh*sh - ph + i*dh, ow*sw - pw + j*dw] wherever that is
// inside the input. The entries that read padding are never written: the caller zeroes the
// columns buffer once, and they stay zero from task to task (they depend on the geometry only).
template <class T>
void im2col(const T* x, T* columns, const ConvGeometry& g, int64_t channels) {
  if (g.stride_w == 1 && g.stride_h * g.in_w == g.out_w) {
    im2col_rows_at_once(x, columns, g, channels);
    return;
  }
  for_each_patch_run(g, channels, [&](int64_t at, int64_t c, int64_t ih, int64_t offset,
                                      ValidRange range) {
    const T* src = x + (c * g.in_h + ih) * g.in_w;  // output ow reads src[ow * sw + offset]
    gather_run(columns + at + range.lo, src + range.lo * g.stride_w + offset, range.hi - range.lo,
               g.stride_w);
  });
}

// The adjoint of im2col: x[c, ih, iw] += columns[(c, i, j), (oh, ow)] for every patch position
// that read (ih, iw); entries that read padding are dropped. x must be zeroed by the caller.
template <class T>
void col2im(const T* columns, T* x, const ConvGeometry& g, int64_t channels) {
  for_each_patch_run(g, channels, [&](int64_t at, int64_t c, int64_t ih, int64_t offset,
                                      ValidRange range) {
    T* dst = x + (c * g.in_h + ih) * g.in_w;
    scatter_add_run(dst + range.lo * g.stride_w + offset, columns + at + range.lo,
                    range.hi - range.lo, g.stride_w);
  });
}

// ---------------------------------------------------------------- convolution

// Columns scratch: one zeroed [patch, out_pixels] buffer per thread (none for pointwise
// convolutions). im2col then writes only the entries that read real input.
template <class T>
Tensor columns_scratch(const GroupSizes& s, int threads) {
  if (s.pointwise) return Tensor();
  Tensor scratch = Tensor::empty({threads, s.patch * s.out_pixels}, dtype_of<T>());
  std::fill_n(scratch.data<T>(), scratch.numel(), T(0));
  return scratch;
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
  run_tasks(tasks, threads, [&](int64_t task, int thread) {
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
  run_tasks(tasks, threads, [&](int64_t task, int thread) {
    const int64_t n = task / g.groups, group = task % g.groups;
    const T* gy_group = gy + (n * g.out_channels + group * s.out_channels) * s.out_pixels;
    const T* w_group = w + group * s.out_channels * s.patch;
    T* gx_group = gx + (n * g.in_channels + group * s.in_channels) * s.in_plane;
    if (s.pointwise) {  // grad_x = W^T @ grad_y, straight into the input's layout
      gemm<T>(true, false, s.patch, s.out_pixels, s.out_channels, w_group, s.patch, gy_group,
              s.out_pixels, T(0), gx_group, s.out_pixels);
      return;
    }
    T* columns = scratch.data<T>() + thread * s.patch * s.out_pixels;
    gemm<T>(true, false, s.patch, s.out_pixels, s.out_channels, w_group, s.patch, gy_group,
            s.out_pixels, T(0), columns, s.out_pixels);
    std::fill_n(gx_group, s.in_channels * s.in_plane, T(0));
    col2im(columns, gx_group, g, s.in_channels);
  });
}

// gw_group (+)= grad_y[n, group] @ columns(n, group)^T: one sample's share of one group's weight
// gradient, added onto gw_group (accumulate) or written over it.
template <class T>
void add_weight_grad(T* gw_group, const T* gy, const T* x, const ConvGeometry& g,
                     const GroupSizes& s, int64_t n, int64_t group, bool accumulate,
                     const Tensor& scratch, int thread) {
  const T* gy_group = gy + (n * g.out_channels + group * s.out_channels) * s.out_pixels;
  const T* columns = task_columns(x, g, s, n, group, scratch, thread);
  gemm<T>(false, true, s.out_channels, s.patch, s.out_pixels, gy_group, s.out_pixels, columns,
          s.out_pixels, accumulate ? T(1) : T(0), gw_group, s.patch);
}

template <class T>
void conv2d_weight_grad_impl(const Tensor& grad_weight, const Tensor& grad_out,
                             const Tensor& input, const ConvGeometry& g) {
  const GroupSizes s(g);
  const int64_t group_size = s.out_channels * s.patch, work = group_size * s.out_pixels;
  const T *gy = grad_out.data<T>(), *x = input.data<T>();
  T* gw = grad_weight.data<T>();
  if (g.batch == 0) {
    std::fill_n(gw, grad_weight.numel(), T(0));
    return;
  }
  if (g.groups >= num_threads()) {
    // Enough groups: a task is one group over all samples, so no two threads write the same rows.
    const int threads = task_threads(g.groups, work * g.batch);
    const Tensor scratch = columns_scratch<T>(s, threads);
    run_tasks(g.groups, threads, [&](int64_t group, int thread) {
      for (int64_t n = 0; n < g.batch; ++n)
        add_weight_grad(gw + group * group_size, gy, x, g, s, n, group, n > 0, scratch, thread);
    });
    return;
  }
  // Few groups: a task is one sample over all groups, summed into the thread's own copy of
  // grad_weight; the copies are added up at the end.
  const int threads = task_threads(g.batch, work * g.groups);
  const Tensor scratch = columns_scratch<T>(s, threads);
  const int64_t size = grad_weight.numel();
  const Tensor partial = threads > 1 ? Tensor::empty({threads, size}, dtype_of<T>()) : grad_weight;
  std::fill_n(partial.data<T>(), partial.numel(), T(0));
  run_tasks(g.batch, threads, [&](int64_t n, int thread) {
    for (int64_t group = 0; group < g.groups; ++group)
      add_weight_grad(partial.data<T>() + thread * size + group * group_size, gy, x, g, s, n,
                      group, true, scratch, thread);
  });
  if (threads == 1) return;
  std::copy_n(partial.data<T>(), size, gw);
  for (int t = 1; t < threads; ++t) {
    const T* p = partial.data<T>() + t * size;
    for (int64_t i = 0; i < size; ++i) gw[i] += p[i];
  }
}

// ---------------------------------------------------------------- pooling

// The windows of every output row and column, computed once per call: [begin, end) of input rows
// (or columns).
struct PoolWindows {
  std::vector<int64_t> row_begin, row_end, col_begin, col_end;
  // Fixed windows: the outputs whose column tap j (reading column ow * stride + j - pad) is
  // inside the input.
  std::vector<ValidRange> tap_outputs;
  explicit PoolWindows(const PoolGeometry& g)
      : row_begin(g.out_h), row_end(g.out_h), col_begin(g.out_w), col_end(g.out_w) {
    if (!g.adaptive) {
      for (int64_t j = 0; j < g.kernel_w; ++j)
        tap_outputs.push_back(valid_outputs(j - g.pad_w, g.stride_w, g.in_w, g.out_w));
    }
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      row_begin[oh] = g.row_begin(oh);
      row_end[oh] = g.row_end(oh);
    }
    for (int64_t ow = 0; ow < g.out_w; ++ow) {
      col_begin[ow] = g.col_begin(ow);
      col_end[ow] = g.col_end(ow);
    }
  }
};

// Runs body(plane_begin, plane_end) over the planes, split over threads when there is enough
// work: about one unit per input element plus one per window element.
template <class Body>
void for_planes(const PoolGeometry& g, Body&& body) {
  const int64_t work = g.in_h * g.in_w + g.out_h * g.out_w * g.kernel_h * g.kernel_w;
  parallel_for(g.planes, std::max<int64_t>(work, 1), body);
}

// One kernel tap of max pooling along an output row: output ow (in [lo, hi)) compares its best so
// far with row[ow * stride + offset], a position `base` + ow * stride + offset in its plane. The
// restrict-qualified, branch-free form lets the compiler vectorise it with blends; as branches,
// "v > best" is a coin flip on real data that the branch predictor loses. A NaN beats every
// number and keeps its place against later NaNs.
template <class T>
void max_pool_tap(T* __restrict best, int64_t* __restrict best_at, const T* __restrict row,
                  int64_t lo, int64_t hi, int64_t stride, int64_t offset, int64_t base) {
  for (int64_t ow = lo; ow < hi; ++ow) {
    const int64_t at = ow * stride + offset;
    const T v = row[at];
    const bool take = (v > best[ow]) | ((v != v) & (best[ow] == best[ow]));
    best[ow] = take ? v : best[ow];
    best_at[ow] = take ? base + at : best_at[ow];
  }
}

// Max pooling one output row at a time: for each kernel tap (i, j), in the window's row-major
// order (so the first maximum is kept), one max_pool_tap pass along the output row.
// value/offset become candidate/candidate_offset when the candidate is greater, or is a NaN while
// value is not (max pooling propagates NaN, keeping the first one).
template <class T>
inline void select_if_greater(T& value, int64_t& offset, T candidate, int64_t candidate_offset) {
  const bool take = (candidate > value) | ((candidate != candidate) & (value == value));
  value = take ? candidate : value;
  offset = take ? candidate_offset : offset;
}

// The common 2x2 window with stride 2 and no padding (every window whole): each output reads its
// four inputs directly, in the same row-major order, so ties and NaNs resolve as in the general
// path.
template <class T>
bool max_pool_2x2(const T* x, T* y, int64_t* idx, const PoolGeometry& g) {
  if (g.adaptive || g.kernel_h != 2 || g.kernel_w != 2 || g.stride_h != 2 || g.stride_w != 2 ||
      g.pad_h != 0 || g.pad_w != 0 || g.out_h * 2 > g.in_h || g.out_w * 2 > g.in_w)
    return false;
  const int64_t in_w = g.in_w, in_plane = g.in_h * g.in_w, out_h = g.out_h, out_w = g.out_w;
  // Sizes are captured by value so the int64 index stores cannot alias them. (The loop still
  // runs at ~12 ns per output here against ~2 ns compiled stand-alone with constant sizes; not
  // understood yet, see docs/performance.md.)
  for_planes(g, [=](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      for (int64_t oh = 0; oh < out_h; ++oh) {
        const int64_t row = 2 * oh * in_w;
        const T* __restrict r0 = x + p * in_plane + row;
        const T* __restrict r1 = r0 + in_w;
        T* __restrict best = y + (p * out_h + oh) * out_w;
        int64_t* __restrict best_at = idx + (p * out_h + oh) * out_w;
        // Fast pass: the plain maximum (vectorises), then the first window position holding
        // it. The exact NaN-propagating selection ran at ~14 ns per output against ~2 here; it
        // is redone only for a row whose windows contain a NaN.
        bool has_nan = false;
        for (int64_t ow = 0; ow < out_w; ++ow) {
          const T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
          T v = a;
          v = b > v ? b : v;
          v = c > v ? c : v;
          v = d > v ? d : v;
          has_nan |= (a != a) | (b != b) | (c != c) | (d != d);
          const int64_t offset = a == v ? 0 : b == v ? 1 : c == v ? in_w : in_w + 1;
          best[ow] = v;
          best_at[ow] = row + 2 * ow + offset;
        }
        if (!has_nan) continue;
        for (int64_t ow = 0; ow < out_w; ++ow) {
          const T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
          T v = a;
          int64_t offset = 0;
          select_if_greater(v, offset, b, 1);
          select_if_greater(v, offset, c, in_w);
          select_if_greater(v, offset, d, in_w + 1);
          best[ow] = v;
          best_at[ow] = row + 2 * ow + offset;
        }
      }
    }
  });
  return true;
}

template <class T>
void max_pool_planes(const Tensor& out, const Tensor& indices, const Tensor& input,
                     const PoolGeometry& g) {
  const int64_t in_w = g.in_w, in_plane = g.in_h * g.in_w, out_w = g.out_w;
  const T* x = input.data<T>();
  T* y = out.data<T>();
  int64_t* idx = indices.data<int64_t>();
  if (max_pool_2x2(x, y, idx, g)) return;
  const PoolWindows win(g);
  for_planes(g, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T* plane = x + p * in_plane;
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        T* best = y + (p * g.out_h + oh) * out_w;
        int64_t* best_at = idx + (p * g.out_h + oh) * out_w;
        const int64_t h0 = win.row_begin[oh], h1 = win.row_end[oh];
        // Start below every number, at the window's first element (PyTorch's index for a window
        // of -inf).
        for (int64_t ow = 0; ow < out_w; ++ow) {
          best[ow] = -std::numeric_limits<T>::infinity();
          best_at[ow] = h0 * in_w + win.col_begin[ow];
        }
        for (int64_t ih = h0; ih < h1; ++ih) {
          for (int64_t j = 0; j < g.kernel_w; ++j) {
            const ValidRange range = win.tap_outputs[j];
            max_pool_tap(best, best_at, plane + ih * in_w, range.lo, range.hi, g.stride_w,
                         j - g.pad_w, ih * in_w);
          }
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
  for_planes(g, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      T* plane = gx + p * in_plane;
      std::fill_n(plane, in_plane, T(0));
      for (int64_t o = p * out_plane; o < (p + 1) * out_plane; ++o) plane[idx[o]] += gy[o];
    }
  });
}

// Sum of plane[h0:h1, w0:w1]; a window of whole rows (global pooling) is one contiguous run,
// summed by Eigen with vectorised partial sums.
template <class T>
T window_sum(const T* plane, int64_t in_w, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
  if (w0 == 0 && w1 == in_w) {
    using Run = Eigen::Array<T, Eigen::Dynamic, 1>;
    return Eigen::Map<const Run>(plane + h0 * in_w, (h1 - h0) * in_w).sum();
  }
  T sum = 0;
  for (int64_t ih = h0; ih < h1; ++ih)
    for (int64_t iw = w0; iw < w1; ++iw) sum += plane[ih * in_w + iw];
  return sum;
}

// What output (oh, ow) divides its sum by (Pool2dGeometry::divisor, from the window table).
template <class T>
T divisor(const PoolGeometry& g, const PoolWindows& win, int64_t oh, int64_t ow) {
  return static_cast<T>(g.adaptive ? (win.row_end[oh] - win.row_begin[oh]) *
                                         (win.col_end[ow] - win.col_begin[ow])
                                   : g.kernel_h * g.kernel_w);
}

// acc[ow] += row[ow * stride + offset] for ow in [lo, hi): one kernel tap along an output row.
template <class T>
void add_tap(T* __restrict acc, const T* __restrict row, int64_t lo, int64_t hi, int64_t stride,
             int64_t offset) {
  for (int64_t ow = lo; ow < hi; ++ow) acc[ow] += row[ow * stride + offset];
}

// row[ow * stride + offset] += share[ow] for ow in [lo, hi): the adjoint of add_tap.
template <class T>
void spread_tap(T* __restrict row, const T* __restrict share, int64_t lo, int64_t hi,
                int64_t stride, int64_t offset) {
  for (int64_t ow = lo; ow < hi; ++ow) row[ow * stride + offset] += share[ow];
}

// Fixed windows go one output row at a time, one pass per kernel tap (as max pooling does);
// adaptive windows differ in size from output to output and are summed one by one.
template <class T>
void avg_pool_planes(const Tensor& out, const Tensor& input, const PoolGeometry& g) {
  const int64_t in_plane = g.in_h * g.in_w, out_w = g.out_w;
  const PoolWindows win(g);
  const T* x = input.data<T>();
  T* y = out.data<T>();
  for_planes(g, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T* plane = x + p * in_plane;
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        T* y_row = y + (p * g.out_h + oh) * out_w;
        if (g.adaptive) {
          for (int64_t ow = 0; ow < out_w; ++ow)
            y_row[ow] = window_sum(plane, g.in_w, win.row_begin[oh], win.row_end[oh],
                                   win.col_begin[ow], win.col_end[ow]) /
                        divisor<T>(g, win, oh, ow);
          continue;
        }
        std::fill_n(y_row, out_w, T(0));
        for (int64_t ih = win.row_begin[oh]; ih < win.row_end[oh]; ++ih) {
          for (int64_t j = 0; j < g.kernel_w; ++j) {
            const ValidRange range = win.tap_outputs[j];
            add_tap(y_row, plane + ih * g.in_w, range.lo, range.hi, g.stride_w, j - g.pad_w);
          }
        }
        const T kernel_size = static_cast<T>(g.kernel_h * g.kernel_w);
        for (int64_t ow = 0; ow < out_w; ++ow) y_row[ow] /= kernel_size;
      }
    }
  });
}

template <class T>
void avg_pool_backward_planes(const Tensor& grad_input, const Tensor& grad_out,
                              const PoolGeometry& g) {
  const int64_t in_plane = g.in_h * g.in_w, out_w = g.out_w;
  const PoolWindows win(g);
  const T* gy = grad_out.data<T>();
  T* gx = grad_input.data<T>();
  for_planes(g, [&](int64_t begin, int64_t end) {
    std::vector<T> share(out_w);  // this row's gradients over their divisors
    for (int64_t p = begin; p < end; ++p) {
      T* plane = gx + p * in_plane;
      const T* gy_plane = gy + p * g.out_h * out_w;
      if (g.adaptive && g.out_h * out_w == 1) {  // global average pooling: one value everywhere
        std::fill_n(plane, in_plane, gy_plane[0] / static_cast<T>(in_plane));
        continue;
      }
      std::fill_n(plane, in_plane, T(0));
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        for (int64_t ow = 0; ow < out_w; ++ow)
          share[ow] = gy_plane[oh * out_w + ow] / divisor<T>(g, win, oh, ow);
        for (int64_t ih = win.row_begin[oh]; ih < win.row_end[oh]; ++ih) {
          T* row = plane + ih * g.in_w;
          if (g.adaptive) {
            for (int64_t ow = 0; ow < out_w; ++ow)
              for (int64_t iw = win.col_begin[ow]; iw < win.col_end[ow]; ++iw) row[iw] += share[ow];
            continue;
          }
          for (int64_t j = 0; j < g.kernel_w; ++j) {
            const ValidRange range = win.tap_outputs[j];
            spread_tap(row, share.data(), range.lo, range.hi, g.stride_w, j - g.pad_w);
          }
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
