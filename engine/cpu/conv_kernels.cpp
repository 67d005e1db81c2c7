// CPU kernels for 2-D convolution (pooling is in pool_kernels.cpp).
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
// Depthwise groups (one input and one output channel) skip im2col and BLAS: direct loops, one
// kernel tap along one output row at a time.
//
// Threading: tasks run in parallel on the engine's threads, each with its own columns buffer and
// a GEMM that runs on its own thread (engine/cpu/blas.h). A single task (batch 1, groups 1)
// instead runs on the calling thread and its GEMM is split over the threads. This is what makes a grouped convolution with
// groups = batch (DY-Conv's per-sample kernels) as fast as an ordinary batched one: the same
// loop of GEMMs, one per group, split over threads. grad_weight tasks that share a group would
// race on its rows, so they are split by group when there are enough groups, and otherwise into
// fixed runs of samples with one accumulator each, summed in order at the end: the result does
// not depend on which thread ran what, so training runs repeat exactly.
#include <Eigen/Core>

#include <algorithm>

#include "engine/cpu/blas.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/lane_placement.h"
#include "engine/cpu/strided_loop.h"
#include "engine/cpu/window_range.h"

namespace dg::cpu {

namespace {

using ConvGeometry = Backend::Conv2dGeometry;

// ---------------------------------------------------------------- BLAS and threading

// How many threads to split `tasks` tasks of `work_per_task` multiply-adds over: 1 when there is
// a single task (its GEMM is then split over the threads) or too little work to pay for the fork.
int task_threads(int64_t tasks, int64_t work_per_task) {
  const int max_threads = num_threads();
  if (tasks < 2 || max_threads < 2 || tasks * work_per_task < kParallelGrain) return 1;
  return static_cast<int>(std::min<int64_t>(max_threads, tasks));
}

// A thread claims tasks from the shared counter in runs of about this much work (multiply-adds),
// so that tiny tasks (a depthwise channel: a few thousand) do not all contend for the counter.
constexpr int64_t kClaimWork = 1 << 16;

// Runs body(task, thread) for every task in [0, tasks) on at most `threads` of the engine's
// threads (engine/parallel.h); `thread` < `threads` indexes per-thread scratch. Tasks are handed
// out from a shared counter, one at a time when they are whole GEMMs (the hand-out costs nothing
// in comparison), a run of consecutive tasks worth about kClaimWork when they are small (but at
// least eight runs per thread). A thread the OS pauses (other processes share the cores) then
// delays only its current run instead of a fixed share of the tasks.
template <class Body>
void run_tasks(int64_t tasks, int threads, int64_t work_per_task, Body&& body) {
  if (threads <= 1) {
    for (int64_t task = 0; task < tasks; ++task) body(task, 0);
    return;
  }
  const int64_t claim = std::clamp<int64_t>(kClaimWork / std::max<int64_t>(work_per_task, 1), 1,
                                            std::max<int64_t>(1, tasks / (8 * threads)));
  parallel_chunks((tasks + claim - 1) / claim, threads, [&](int64_t run, int thread) {
    for (int64_t task = run * claim; task < std::min(tasks, (run + 1) * claim); ++task) body(task, thread);
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
  bool depthwise;                     // one input and one output channel: direct loops, no GEMM

  explicit GroupSizes(const ConvGeometry& g)
      : in_channels(g.in_channels / g.groups),
        out_channels(g.out_channels / g.groups),
        patch(in_channels * g.kernel_h * g.kernel_w),
        out_pixels(g.out_h * g.out_w),
        in_plane(g.in_h * g.in_w),
        pointwise(g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 &&
                  g.pad_h == 0 && g.pad_w == 0),
        depthwise(in_channels == 1 && out_channels == 1) {}
};


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

// ---------------------------------------------------------------- depthwise: direct loops
//
// With one input and one output channel per group (MobileNetV2's depthwise layers, and DY-Conv's
// per-sample depthwise kernels) a task's product is [1, kH*kW] x [kH*kW, pixels]: too thin for
// BLAS, whose call and packing cost more than the nine multiply-adds per output. These loops
// compute it directly.
//
// Stride 1 (the common case) works in "padded-width" coordinates: the plane is copied into a
// zero-bordered buffer of width Wp = W + 2 pad_w, and output (oh, ow) is computed at q = oh * Wp +
// ow. Kernel tap (i, j) then reads the padded input at q + i dh Wp + j dw for every q: one
// contiguous, vectorisable pass over the whole plane per tap, with no edge cases. The Wp - W_out
// extra columns per row are computed and dropped (input gradient: given zero gradient), which costs
// a few percent. Larger strides walk one output row at a time.

// The extent of the padded-width layout (stride 1): width, the padded plane's size, and the
// length of the output run q in [0, span).
struct PaddedPlane {
  int64_t width, size, span;
  explicit PaddedPlane(const ConvGeometry& g)
      : width(g.in_w + 2 * g.pad_w),
        size((g.in_h + 2 * g.pad_h) * width),
        span((g.out_h - 1) * width + g.out_w) {}
};

// The padded-width forward sums this many outputs at once in registers, over at most this many
// taps (larger kernels take the row-by-row loops).
constexpr int64_t kDepthwiseBlock = 16;
constexpr int64_t kMaxDepthwiseTaps = 64;

bool padded_width_path(const ConvGeometry& g) {
  return g.stride_h == 1 && g.stride_w == 1 && g.kernel_h * g.kernel_w <= kMaxDepthwiseTaps;
}

// Per thread: a padded input (or input-gradient) plane and an output (or output-gradient) plane in
// padded-width layout, zeroed once: the borders, margins, slack and the dropped columns of the
// gradient are never written.
// Each of the two buffers holds a padded plane, a margin of up to one plane before it and a block
// of slack after it (sum_taps rounds its run up to whole blocks).
int64_t depthwise_buffer_size(const ConvGeometry& g) {
  return 2 * PaddedPlane(g).size + 2 * kDepthwiseBlock;
}

template <class T>
Tensor depthwise_scratch(const ConvGeometry& g, int threads) {
  if (!padded_width_path(g)) return Tensor();
  Tensor scratch = Tensor::empty({threads, 2 * depthwise_buffer_size(g)}, dtype_of<T>());
  std::fill_n(scratch.data<T>(), scratch.numel(), T(0));
  return scratch;
}

// This thread's depthwise buffers (null on the strided path); the second starts at
// depthwise_buffer_size(g).
template <class T>
T* depthwise_buffers(const Tensor& scratch, int thread) {
  return scratch.defined() ? scratch.data<T>() + thread * scratch.shape()[1] : nullptr;
}

// Copies a [rows, cols] plane into `dst` (row stride dst_width) at (row0, col0); or back out.
// Rows are short (7 to 28 values here), so each is one inline vectorised copy rather than a
// memmove call.
template <class T>
void copy_rows(const T* src, int64_t src_width, T* dst, int64_t dst_width, int64_t rows, int64_t cols) {
  using Row = Eigen::Array<T, Eigen::Dynamic, 1>;
  for (int64_t r = 0; r < rows; ++r)
    Eigen::Map<Row>(dst + r * dst_width, cols) = Eigen::Map<const Row>(src + r * src_width, cols);
}
template <class T>
void copy_into(const T* src, int64_t rows, int64_t cols, T* dst, int64_t dst_width, int64_t row0,
               int64_t col0) {
  copy_rows(src, cols, dst + row0 * dst_width + col0, dst_width, rows, cols);
}
template <class T>
void copy_out_of(const T* src, int64_t src_width, int64_t row0, int64_t col0, int64_t rows,
                 int64_t cols, T* dst) {
  copy_rows(src + row0 * src_width + col0, src_width, dst, cols, rows, cols);
}

// The offset of every kernel tap (i, j) in the padded-width layout, i dh Wp + j dw, in tap order.
struct TapShifts {
  int64_t offsets[kMaxDepthwiseTaps];
  int64_t count, largest;
  TapShifts(const ConvGeometry& g, int64_t width)
      : count(g.kernel_h * g.kernel_w),
        largest((g.kernel_h - 1) * g.dilation_h * width + (g.kernel_w - 1) * g.dilation_w) {
    int64_t t = 0;
    for (int64_t i = 0; i < g.kernel_h; ++i)
      for (int64_t j = 0; j < g.kernel_w; ++j) offsets[t++] = i * g.dilation_h * width + j * g.dilation_w;
  }
};

// out[q] = start + sum_t w[t] * in[q + offsets[t]] for q < n rounded up to a whole block: the
// callers' buffers have a block of zeroed slack past their ends. A block of outputs is summed
// over all taps in registers and stored once (a pass per tap would load and store every output
// once per tap).
template <class T>
void sum_taps(T* out, int64_t n, T start, const T* in, const int64_t* offsets, int64_t taps,
              const T* w) {
  using Block = Eigen::Array<T, kDepthwiseBlock, 1>;
  for (int64_t q0 = 0; q0 < n; q0 += kDepthwiseBlock) {
    Block acc = Block::Constant(start);
    for (int64_t t = 0; t < taps; ++t) acc += w[t] * Eigen::Map<const Block>(in + offsets[t] + q0);
    Eigen::Map<Block>(out + q0) = acc;
  }
}

// Calls f(tap, out_row, ih, offset, range) for every run of one channel's patch matrix (the runs
// im2col copies): output row out_row (an offset into the output plane) takes kernel tap `tap`
// from input row ih, output column ow reading input column ow * stride_w + offset, for ow in
// `range`. For strides above 1.
template <class F>
void for_each_tap_run(const ConvGeometry& g, F&& f) {
  for (int64_t i = 0; i < g.kernel_h; ++i) {
    const int64_t offset_h = i * g.dilation_h - g.pad_h;
    const ValidRange rows = valid_outputs(offset_h, g.stride_h, g.in_h, g.out_h);
    for (int64_t j = 0; j < g.kernel_w; ++j) {
      const int64_t offset = j * g.dilation_w - g.pad_w;
      const ValidRange range = valid_outputs(offset, g.stride_w, g.in_w, g.out_w);
      if (range.lo == range.hi) continue;
      for (int64_t oh = rows.lo; oh < rows.hi; ++oh)
        f(i * g.kernel_w + j, oh * g.out_w, oh * g.stride_h + offset_h, offset, range);
    }
  }
}

// y_plane = start + sum over taps of w[tap] * the input under that tap.
template <class T>
void depthwise_forward_plane(const T* x_plane, const T* w, T start, T* y_plane,
                             const ConvGeometry& g, T* scratch) {
  if (padded_width_path(g)) {
    const PaddedPlane p(g);
    T* padded = scratch;
    T* out = scratch + depthwise_buffer_size(g);
    copy_into(x_plane, g.in_h, g.in_w, padded, p.width, g.pad_h, g.pad_w);
    const TapShifts shifts(g, p.width);
    sum_taps(out, p.span, start, padded, shifts.offsets, shifts.count, w);
    copy_out_of(out, p.width, 0, 0, g.out_h, g.out_w, y_plane);
    return;
  }
  std::fill_n(y_plane, g.out_h * g.out_w, start);
  const int64_t sw = g.stride_w;
  for_each_tap_run(g, [&](int64_t tap, int64_t out_row, int64_t ih, int64_t offset, ValidRange r) {
    const T weight = w[tap];
    T* __restrict y = y_plane + out_row;
    const T* __restrict x = x_plane + ih * g.in_w + offset;
    for (int64_t ow = r.lo; ow < r.hi; ++ow) y[ow] += weight * x[ow * sw];
  });
}

// gx_plane = the adjoint: every output's gradient times each tap's weight, added back to the
// input position the tap read.
template <class T>
void depthwise_input_grad_plane(const T* gy_plane, const T* w, T* gx_plane, const ConvGeometry& g,
                                T* scratch) {
  if (padded_width_path(g)) {
    const PaddedPlane p(g);
    // Padded input position r receives sum_t w[t] * grad_out[r - offsets[t]]: the same tap sum
    // over the output gradient, read backwards. The output gradient sits `margin` (the largest
    // offset) into its buffer so that every read, before or after it, lands on a zero.
    const TapShifts shifts(g, p.width);
    const int64_t margin = shifts.largest;
    T* grad_in = scratch;
    T* grad_out = scratch + depthwise_buffer_size(g);  // [margin zeros | gradient, padded-width | zeros]
    copy_into(gy_plane, g.out_h, g.out_w, grad_out + margin, p.width, 0, 0);
    int64_t backwards[kMaxDepthwiseTaps];
    for (int64_t t = 0; t < shifts.count; ++t) backwards[t] = margin - shifts.offsets[t];
    sum_taps(grad_in, p.size, T(0), grad_out, backwards, shifts.count, w);
    copy_out_of(grad_in, p.width, g.pad_h, g.pad_w, g.in_h, g.in_w, gx_plane);
    return;
  }
  std::fill_n(gx_plane, g.in_h * g.in_w, T(0));
  const int64_t sw = g.stride_w;
  for_each_tap_run(g, [&](int64_t tap, int64_t out_row, int64_t ih, int64_t offset, ValidRange r) {
    const T weight = w[tap];
    const T* __restrict gy = gy_plane + out_row;
    T* __restrict gx = gx_plane + ih * g.in_w + offset;
    for (int64_t ow = r.lo; ow < r.hi; ++ow) gx[ow * sw] += weight * gy[ow];
  });
}

// gw[tap] += the dot product of the output gradients with the inputs under that tap (Eigen's dot,
// which vectorises the sum; a plain loop would not, floating-point addition not being associative).
template <class T>
void add_depthwise_weight_grad_plane(const T* gy_plane, const T* x_plane, T* gw,
                                     const ConvGeometry& g, T* scratch) {
  using Row = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  if (padded_width_path(g)) {
    const PaddedPlane p(g);
    T* padded = scratch;
    T* grad_out = scratch + depthwise_buffer_size(g);
    copy_into(x_plane, g.in_h, g.in_w, padded, p.width, g.pad_h, g.pad_w);
    copy_into(gy_plane, g.out_h, g.out_w, grad_out, p.width, 0, 0);
    const Eigen::Map<const Row> gy(grad_out, p.span);
    const TapShifts shifts(g, p.width);
    for (int64_t t = 0; t < shifts.count; ++t)
      gw[t] += gy.dot(Eigen::Map<const Row>(padded + shifts.offsets[t], p.span));
    return;
  }
  using Strided = Eigen::Map<const Row, 0, Eigen::InnerStride<>>;
  for_each_tap_run(g, [&](int64_t tap, int64_t out_row, int64_t ih, int64_t offset, ValidRange r) {
    const int64_t len = r.hi - r.lo;
    const Eigen::Map<const Row> gy(gy_plane + out_row + r.lo, len);
    const T* x = x_plane + ih * g.in_w + offset + r.lo * g.stride_w;
    gw[tap] += gy.dot(Strided(x, len, Eigen::InnerStride<>(g.stride_w)));
  });
}

// Columns scratch: one zeroed [patch, out_pixels] buffer per thread (none for pointwise
// convolutions; the depthwise loops' own buffers for depthwise ones). im2col then writes only the
// entries that read real input.
template <class T>
Tensor columns_scratch(const ConvGeometry& g, const GroupSizes& s, int threads) {
  if (s.depthwise) return depthwise_scratch<T>(g, threads);
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

// One (sample n, group) task of the forward: y[n, group] = w_group @ columns(n, group) (+ the
// group's entries of `b`, a [C_out] row, when given). `w` points at the whole [C_out, ...] kernel
// the sample is convolved with.
template <class T>
void conv_task(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g, const GroupSizes& s,
               int64_t n, int64_t group, const Tensor& scratch, int thread) {
  T* y_group = y + (n * g.out_channels + group * s.out_channels) * s.out_pixels;
  if (s.depthwise) {
    depthwise_forward_plane(x + (n * g.in_channels + group) * s.in_plane, w + group * s.patch,
                            b ? b[group] : T(0), y_group, g, depthwise_buffers<T>(scratch, thread));
    return;
  }
  if (b) {  // start every output row from its bias and let the GEMM add onto it
    for (int64_t co = 0; co < s.out_channels; ++co)
      std::fill_n(y_group + co * s.out_pixels, s.out_pixels, b[group * s.out_channels + co]);
  }
  const T* columns = task_columns(x, g, s, n, group, scratch, thread);
  gemm<T>(false, false, s.out_channels, s.out_pixels, s.patch, w + group * s.out_channels * s.patch,
          s.patch, columns, s.out_pixels, b ? T(1) : T(0), y_group, s.out_pixels);
}

template <class T>
void conv2d_forward(const Tensor& out, const Tensor& input, const Tensor& weight,
                    const Tensor& bias, const ConvGeometry& g) {
  const GroupSizes s(g);
  const int64_t tasks = g.batch * g.groups;
  const int64_t work = s.out_channels * s.patch * s.out_pixels;
  const int threads = task_threads(tasks, work);
  const Tensor scratch = columns_scratch<T>(g, s, threads);
  const T *x = input.data<T>(), *w = weight.data<T>();
  const T* b = bias.defined() ? bias.data<T>() : nullptr;
  T* y = out.data<T>();
  run_tasks(tasks, threads, work, [&](int64_t task, int thread) {
    conv_task(x, w, b, y, g, s, task / g.groups, task % g.groups, scratch, thread);
  });
}

// ---------------------------------------------------------------- kernel-mixture convolution
//
// DY-Conv and the compacted PAD-Net layer convolve every sample with its own kernel, a mixture of
// K kernels (or of K sets of values at some positions of a fixed base kernel). Composed from ops,
// the N mixed kernels are written out for the whole batch ([N, C_out, C_in / groups, kH, kW], 9 MiB
// for 64 samples of a 64 -> 64 3x3 layer) and read back by the grouped convolution. Here a task is
// one sample: its kernel is mixed into the thread's own buffer, where it stays in cache for the
// sample's GEMMs. With a base kernel, the buffer starts as the base once per call and each sample
// overwrites only the D mixed positions, always the same ones, so the base's other values stay;
// in float, eight lanes at a time (engine/cpu/lane_placement.h).

// The per-thread buffers of the kernel-mixture convolution: one kernel (m values) and, with a base
// kernel, a block of mixed values before they are placed.
template <class T>
struct MixtureScratch {
  int64_t kernel_size, mixed_size;
  Tensor buffers;  // [threads, kernel_size + mixed_size]
  MixtureScratch(int threads, int64_t kernel_size, int64_t mixed_size, const T* base)
      : kernel_size(kernel_size), mixed_size(mixed_size) {
    buffers = Tensor::empty({threads, kernel_size + mixed_size}, dtype_of<T>());
    if (base)
      for (int t = 0; t < threads; ++t) std::copy_n(base, kernel_size, kernel(t));
  }
  T* kernel(int thread) const { return buffers.data<T>() + thread * (kernel_size + mixed_size); }
  T* mixed(int thread) const { return kernel(thread) + kernel_size; }
};

// Values are mixed in blocks this long: a block of the result stays in L1 while the K factor rows
// are added onto it, so the result is written once instead of K times.
constexpr int64_t kMixBlock = 512;

// dst[0, count) = sum_k weights[k] * factors[k, 0, count) (factor rows `stride` apart).
template <class T>
void mix_rows(T* dst, const T* weights, const T* factors, int64_t num_kernels, int64_t count,
              int64_t stride) {
  using Row = Eigen::Array<T, Eigen::Dynamic, 1>;
  for (int64_t from = 0; from < count; from += kMixBlock) {
    const int64_t len = std::min(kMixBlock, count - from);
    Eigen::Map<Row> out(dst + from, len);
    out = weights[0] * Eigen::Map<const Row>(factors + from, len);
    for (int64_t k = 1; k < num_kernels; ++k)
      out += weights[k] * Eigen::Map<const Row>(factors + k * stride + from, len);
  }
}

template <class T>
void kernel_mixture_conv2d_forward(const Tensor& out, const Tensor& input, const Tensor& mixing,
                                   const Tensor& factors, const Tensor& biases,
                                   const Tensor& base_kernel, const Tensor& positions,
                                   const ConvGeometry& g) {
  const GroupSizes s(g);
  const int64_t num_kernels = mixing.shape()[1];
  const int64_t kernel_size = g.out_channels * s.patch;
  const bool placed = base_kernel.defined();
  const int64_t mixed_size = placed ? positions.numel() : 0;
  // Float values at increasing positions are placed eight lanes at a time; a block of the plan
  // holds up to kMixBlock + 7 values and its last chunk reads 7 past them.
  std::shared_ptr<const LanePlacement> plan;
  if constexpr (std::is_same_v<T, float>) {
    if (placed) plan = lane_placement(positions, kernel_size, kMixBlock);
  }
  const int64_t block_size = placed ? std::min(kMixBlock, mixed_size) + (plan ? 16 : 0) : 0;
  const T *x = input.data<T>(), *w = mixing.data<T>(), *f = factors.data<T>();
  const T* b = biases.defined() ? biases.data<T>() : nullptr;
  const int64_t* at = placed ? positions.data<int64_t>() : nullptr;
  T* y = out.data<T>();

  // Sample n's kernel, mixed into `kernel` (which holds the base when `placed`). Placed values are
  // mixed a block at a time into `mixed` (L1-sized) and stored at their positions.
  auto mix_sample = [&](int64_t n, T* kernel, T* mixed) {
    const T* weights = w + n * num_kernels;
    if (!placed) return mix_rows(kernel, weights, f, num_kernels, kernel_size, kernel_size);
    if constexpr (std::is_same_v<T, float>) {
      if (plan) {
        for (size_t i = 0; i < plan->blocks.size(); ++i) {
          const LanePlacement::Block& block = plan->blocks[i];
          mix_rows(mixed, weights, f + block.value_begin, num_kernels,
                   block.value_end - block.value_begin, mixed_size);
          place_block(*plan, i, mixed, kernel);
        }
        return;
      }
    }
    for (int64_t from = 0; from < mixed_size; from += kMixBlock) {
      const int64_t len = std::min(kMixBlock, mixed_size - from);
      mix_rows(mixed, weights, f + from, num_kernels, len, mixed_size);
      const int64_t* block_at = at + from;
      for (int64_t i = 0; i < len; ++i) kernel[block_at[i]] = mixed[i];
    }
  };
  const T* base = placed ? base_kernel.data<T>() : nullptr;

  if (g.batch == 1) {
    // One sample: mix on this thread, then convolve as conv2d does (its GEMM, or its groups,
    // split over the threads).
    const int64_t work = s.out_channels * s.patch * s.out_pixels;
    const int threads = task_threads(g.groups, work);
    const MixtureScratch<T> kernels(1, kernel_size, block_size, base);
    mix_sample(0, kernels.kernel(0), kernels.mixed(0));
    const Tensor scratch = columns_scratch<T>(g, s, threads);
    run_tasks(g.groups, threads, work, [&](int64_t group, int thread) {
      conv_task(x, kernels.kernel(0), b, y, g, s, 0, group, scratch, thread);
    });
    return;
  }
  const int64_t work = g.out_channels * s.patch * s.out_pixels;
  const int threads = task_threads(g.batch, work);
  const MixtureScratch<T> kernels(threads, kernel_size, block_size, base);
  const Tensor scratch = columns_scratch<T>(g, s, threads);
  run_tasks(g.batch, threads, work, [&](int64_t n, int thread) {
    T* kernel = kernels.kernel(thread);
    mix_sample(n, kernel, kernels.mixed(thread));
    const T* b_row = b ? b + n * g.out_channels : nullptr;
    for (int64_t group = 0; group < g.groups; ++group)
      conv_task(x, kernel, b_row, y, g, s, n, group, scratch, thread);
  });
}

template <class T>
void conv2d_input_grad_impl(const Tensor& grad_input, const Tensor& grad_out,
                            const Tensor& weight, const ConvGeometry& g) {
  const GroupSizes s(g);
  const int64_t tasks = g.batch * g.groups;
  const int64_t work = s.out_channels * s.patch * s.out_pixels;
  const int threads = task_threads(tasks, work);
  const Tensor scratch = columns_scratch<T>(g, s, threads);
  const T *gy = grad_out.data<T>(), *w = weight.data<T>();
  T* gx = grad_input.data<T>();
  run_tasks(tasks, threads, work, [&](int64_t task, int thread) {
    const int64_t n = task / g.groups, group = task % g.groups;
    const T* gy_group = gy + (n * g.out_channels + group * s.out_channels) * s.out_pixels;
    const T* w_group = w + group * s.out_channels * s.patch;
    T* gx_group = gx + (n * g.in_channels + group * s.in_channels) * s.in_plane;
    if (s.depthwise)
      return depthwise_input_grad_plane(gy_group, w_group, gx_group, g, depthwise_buffers<T>(scratch, thread));
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
  if (s.depthwise) {
    if (!accumulate) std::fill_n(gw_group, s.patch, T(0));
    add_depthwise_weight_grad_plane(gy_group, x + (n * g.in_channels + group) * s.in_plane, gw_group, g,
                                    depthwise_buffers<T>(scratch, thread));
    return;
  }
  const T* columns = task_columns(x, g, s, n, group, scratch, thread);
  gemm<T>(false, true, s.out_channels, s.patch, s.out_pixels, gy_group, s.out_pixels, columns,
          s.out_pixels, accumulate ? T(1) : T(0), gw_group, s.patch);
}

// The few-groups weight gradient sums the batch in this many fixed runs of samples.
constexpr int64_t kWeightGradChunks = 8;

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
  if (g.groups >= kWeightGradChunks) {
    // Enough groups: a task is one group over all samples, so no two threads write the same rows.
    // (The choice depends on the shapes only, never on the thread count: both ways give the same
    // result however many threads run them, but not the same as each other.)
    const int threads = task_threads(g.groups, work * g.batch);
    const Tensor scratch = columns_scratch<T>(g, s, threads);
    run_tasks(g.groups, threads, work * g.batch, [&](int64_t group, int thread) {
      for (int64_t n = 0; n < g.batch; ++n)
        add_weight_grad(gw + group * group_size, gy, x, g, s, n, group, n > 0, scratch, thread);
    });
    return;
  }
  // Few groups: the samples are cut into kWeightGradChunks fixed, consecutive runs; a task sums
  // one run's share (all groups) into that run's own copy of grad_weight, and the copies are
  // added up in run order at the end. The runs do not depend on which thread takes them, so the
  // sum is the same every time (a per-thread copy filled by whichever samples a thread claimed
  // would change the rounding, and a training run's result, from run to run).
  const int64_t chunks = std::min(g.batch, kWeightGradChunks);
  const int threads = task_threads(chunks, work * g.groups * g.batch / chunks);
  const Tensor scratch = columns_scratch<T>(g, s, threads);
  const int64_t size = grad_weight.numel();
  const Tensor partial = chunks > 1 ? Tensor::empty({chunks, size}, dtype_of<T>()) : grad_weight;
  run_tasks(chunks, threads, work * g.groups * g.batch / chunks, [&](int64_t chunk, int thread) {
    const int64_t first = g.batch * chunk / chunks, last = g.batch * (chunk + 1) / chunks;
    for (int64_t n = first; n < last; ++n)
      for (int64_t group = 0; group < g.groups; ++group)
        add_weight_grad(partial.data<T>() + chunk * size + group * group_size, gy, x, g, s, n,
                        group, n > first, scratch, thread);
  });
  if (chunks == 1) return;
  std::copy_n(partial.data<T>(), size, gw);
  for (int64_t c = 1; c < chunks; ++c) {
    const T* p = partial.data<T>() + c * size;
    for (int64_t i = 0; i < size; ++i) gw[i] += p[i];
  }
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

void CpuBackend::kernel_mixture_conv2d(const Tensor& out, const Tensor& input,
                                       const Tensor& mixing, const Tensor& factors,
                                       const Tensor& biases, const Tensor& base_kernel,
                                       const Tensor& positions, const Conv2dGeometry& g) {
  if (out.numel() == 0) return;
  visit_floating(out.dtype(), "kernel_mixture_conv2d", [&]<class T>() {
    kernel_mixture_conv2d_forward<T>(out, input, mixing, factors, biases, base_kernel, positions, g);
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

}  // namespace dg::cpu
