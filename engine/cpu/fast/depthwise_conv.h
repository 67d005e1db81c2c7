// Direct loops for depthwise convolution (one input and one output channel per group), forward and
// both backward planes, used by the convolution kernels (engine/cpu/conv_kernels.cpp).
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
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>

#include "engine/backend.h"
#include "engine/cpu/window_range.h"
#include "engine/tensor.h"

namespace dg::cpu {

using ConvGeometry = Backend::Conv2dGeometry;

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

inline bool padded_width_path(const ConvGeometry& g) {
  return g.stride_h == 1 && g.stride_w == 1 && g.kernel_h * g.kernel_w <= kMaxDepthwiseTaps;
}

// Per thread: a padded input (or input-gradient) plane and an output (or output-gradient) plane in
// padded-width layout, zeroed once: the borders, margins, slack and the dropped columns of the
// gradient are never written.
// Each of the two buffers holds a padded plane, a margin of up to one plane before it and a block
// of slack after it (sum_taps rounds its run up to whole blocks).
inline int64_t depthwise_buffer_size(const ConvGeometry& g) {
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

}  // namespace dg::cpu
