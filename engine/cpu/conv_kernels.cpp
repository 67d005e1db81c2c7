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
// Depthwise groups (one input and one output channel) skip im2col and BLAS: direct loops, in
// engine/cpu/fast/depthwise_conv.h.
//
// Threading: tasks run in parallel on the engine's threads, each with its own columns buffer and
// a GEMM that runs on its own thread (engine/cpu/blas.h). A single task (batch 1, groups 1) is
// split into blocks of output rows instead, one per thread, each im2col-ing and multiplying its
// own rows (conv2d_forward_row_blocks); its backward GEMMs are split over the threads. This is what makes a grouped convolution with
// groups = batch (DY-Conv's per-sample kernels) as fast as an ordinary batched one: the same
// loop of GEMMs, one per group, split over threads. grad_weight tasks that share a group would
// race on its rows, so they are split by group when there are enough groups, and otherwise into
// fixed runs of samples with one accumulator each, summed in order at the end: the result does
// not depend on which thread ran what, so training runs repeat exactly.
#include <Eigen/Core>

#include <algorithm>
#include <atomic>

#include "engine/cpu/blas.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/fast/depthwise_conv.h"
#include "engine/cpu/fast/lane_placement.h"
#include "engine/cpu/strided_loop.h"
#include "engine/cpu/window_range.h"
#include "engine/flops.h"

namespace dg::cpu {

namespace {

// ---------------------------------------------------------------- BLAS and threading

// How many threads to split `tasks` tasks of `work_per_task` multiply-adds over: 1 when there is
// a single task (its GEMM is then split over the threads) or too little work to pay for the fork.
int task_threads(int64_t tasks, int64_t work_per_task) {
  const int max_threads = num_threads();
  if (tasks < 2 || max_threads < 2 || !worth_splitting(tasks * work_per_task, kParallelGrain))
    return 1;
  return static_cast<int>(std::min<int64_t>(max_threads, tasks));
}

// A thread claims tasks from the shared counter in runs of about this much work (multiply-adds),
// so that tiny tasks (a depthwise channel: a few thousand) do not all contend for the counter.
constexpr int64_t kClaimWork = 1 << 16;

// Runs body(task, thread) for every task in [0, tasks) on at most `threads` of the engine's
// threads (engine/cpu/parallel.h); `thread` < `threads` indexes per-thread scratch. Tasks are handed
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

// The columns of output rows [oh0, oh1) only: a [patch, (oh1 - oh0) * out_w] matrix, every entry
// written (zero where the patch reads padding), so that a buffer can serve blocks of different
// rows in turn.
template <class T>
void im2col_rows(const T* x, T* columns, const ConvGeometry& g, int64_t channels, int64_t oh0,
                 int64_t oh1) {
  const int64_t out_w = g.out_w, block = (oh1 - oh0) * out_w;
  int64_t row = 0;
  for (int64_t c = 0; c < channels; ++c) {
    const T* plane = x + c * g.in_h * g.in_w;
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      const int64_t offset_h = i * g.dilation_h - g.pad_h;
      for (int64_t j = 0; j < g.kernel_w; ++j, ++row) {
        const int64_t offset = j * g.dilation_w - g.pad_w;
        const ValidRange cols = valid_outputs(offset, g.stride_w, g.in_w, out_w);
        T* dst = columns + row * block;
        for (int64_t oh = oh0; oh < oh1; ++oh, dst += out_w) {
          const int64_t ih = oh * g.stride_h + offset_h;
          if (ih < 0 || ih >= g.in_h || cols.lo == cols.hi) {
            std::fill_n(dst, out_w, T(0));
            continue;
          }
          std::fill_n(dst, cols.lo, T(0));
          gather_run(dst + cols.lo, plane + ih * g.in_w + cols.lo * g.stride_w + offset,
                     cols.hi - cols.lo, g.stride_w);
          std::fill_n(dst + cols.hi, out_w - cols.hi, T(0));
        }
      }
    }
  }
}

// ---------------------------------------------------------------- convolution

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

// A single (sample, group) task split into blocks of output rows, one per thread: each block
// im2cols its own rows into its thread's buffer and multiplies them by the whole weight, writing
// its columns of the output. Splitting the finished GEMM instead (what a lone task would do)
// leaves the whole im2col, and the zeroing of its buffer, to the calling thread, and has the
// other thread read columns the calling thread just wrote (docs/performance.md, "Batch-1
// inference").
template <class T>
void conv2d_forward_row_blocks(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g,
                               const GroupSizes& s, int threads) {
  const int64_t blocks = std::min<int64_t>(threads, g.out_h);
  const int64_t rows_per_block = (g.out_h + blocks - 1) / blocks;
  const Tensor scratch = Tensor::empty({threads, s.patch * rows_per_block * g.out_w}, dtype_of<T>());
  parallel_chunks(blocks, threads, [&](int64_t block, int thread) {
    const int64_t oh0 = block * rows_per_block, oh1 = std::min(g.out_h, oh0 + rows_per_block);
    if (oh0 >= oh1) return;
    const int64_t p0 = oh0 * g.out_w, pixels = (oh1 - oh0) * g.out_w;
    if (b) {
      for (int64_t co = 0; co < s.out_channels; ++co)
        std::fill_n(y + co * s.out_pixels + p0, pixels, b[co]);
    }
    T* columns = scratch.data<T>() + thread * s.patch * rows_per_block * g.out_w;
    im2col_rows(x, columns, g, s.in_channels, oh0, oh1);
    gemm_serial<T>(false, false, s.out_channels, pixels, s.patch, w, s.patch, columns, pixels,
                   b ? T(1) : T(0), y + p0, s.out_pixels);
  });
}

template <class T>
void conv2d_forward(const Tensor& out, const Tensor& input, const Tensor& weight,
                    const Tensor& bias, const ConvGeometry& g) {
  const GroupSizes s(g);
  const int64_t tasks = g.batch * g.groups;
  const int64_t work = s.out_channels * s.patch * s.out_pixels;
  if (tasks == 1 && !s.depthwise && !s.pointwise && num_threads() > 1 && g.out_h > 1 &&
      worth_splitting(work, kParallelGemmWork)) {
    conv2d_forward_row_blocks(input.data<T>(), weight.data<T>(),
                              bias.defined() ? bias.data<T>() : nullptr, out.data<T>(), g, s,
                              num_threads());
    return;
  }
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
// in float, eight lanes at a time (engine/cpu/fast/lane_placement.h).

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

  // The multiply-adds executed, counted where they run (FLOP counting, engine/flops.h): K per
  // mixed value and C_out/g * patch * pixels per convolved (sample, group); added to the calling
  // thread's counter at the end.
  std::atomic<int64_t> executed{0};
  const int64_t group_macs = s.out_channels * s.patch * s.out_pixels;
  auto convolve = [&](const T* kernel, const T* b_row, int64_t n, int64_t group, int thread,
                      const Tensor& scratch) {
    conv_task(x, kernel, b_row, y, g, s, n, group, scratch, thread);
    executed.fetch_add(group_macs, std::memory_order_relaxed);
  };

  // Sample n's kernel, mixed into `kernel` (which holds the base when `placed`). Placed values are
  // mixed a block at a time into `mixed` (L1-sized) and stored at their positions.
  auto mix_rows_counted = [&](T* into, const T* weights, const T* from, int64_t k, int64_t len,
                              int64_t stride) {
    mix_rows(into, weights, from, k, len, stride);
    executed.fetch_add(k * len, std::memory_order_relaxed);
  };
  auto mix_sample = [&](int64_t n, T* kernel, T* mixed) {
    const T* weights = w + n * num_kernels;
    if (!placed) return mix_rows_counted(kernel, weights, f, num_kernels, kernel_size, kernel_size);
    if constexpr (std::is_same_v<T, float>) {
      if (plan) {
        for (size_t i = 0; i < plan->blocks.size(); ++i) {
          const LanePlacement::Block& block = plan->blocks[i];
          mix_rows_counted(mixed, weights, f + block.value_begin, num_kernels,
                           block.value_end - block.value_begin, mixed_size);
          place_block(*plan, i, mixed, kernel);
        }
        return;
      }
    }
    for (int64_t from = 0; from < mixed_size; from += kMixBlock) {
      const int64_t len = std::min(kMixBlock, mixed_size - from);
      mix_rows_counted(mixed, weights, f + from, num_kernels, len, mixed_size);
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
      convolve(kernels.kernel(0), b, 0, group, thread, scratch);
    });
    flops::add(executed.load());
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
      convolve(kernel, b_row, n, group, thread, scratch);
  });
  flops::add(executed.load());
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

bool CpuBackend::kernel_mixture_conv2d(const Tensor& out, const Tensor& input,
                                       const Tensor& mixing, const Tensor& factors,
                                       const Tensor& biases, const Tensor& base_kernel,
                                       const Tensor& positions, const Conv2dGeometry& g) {
  if (out.numel() == 0) return true;
  visit_floating(out.dtype(), "kernel_mixture_conv2d", [&]<class T>() {
    kernel_mixture_conv2d_forward<T>(out, input, mixing, factors, biases, base_kernel, positions, g);
  });
  return true;
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
