// CPU kernels for 2-D max, average and adaptive average pooling.
//
// Pooling loops over contiguous [H, W] planes, split over threads; the window bounds come from
// Backend::Pool2dGeometry so every backend computes the same windows. Fixed windows are walked one
// output row at a time, one branch-free (vectorisable) pass per kernel tap; adaptive windows,
// whose sizes vary, one window at a time. Max pooling without indices (nothing will route a
// gradient back: inference) writes the maxima only, in passes that vectorise fully.
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/strided_loop.h"
#include "engine/cpu/window_range.h"

namespace dg::cpu {

namespace {

using PoolGeometry = Backend::Pool2dGeometry;

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

// The common 2x2 window with stride 2 and no padding, every window inside the plane.
inline bool whole_2x2_windows(const PoolGeometry& g) {
  return !g.adaptive && g.kernel_h == 2 && g.kernel_w == 2 && g.stride_h == 2 && g.stride_w == 2 &&
         g.pad_h == 0 && g.pad_w == 0 && g.out_h * 2 <= g.in_h && g.out_w * 2 <= g.in_w;
}

// The common 2x2 window with stride 2 and no padding (every window whole), in two branch-free
// passes over each plane: the first pairs off neighbouring columns of every row (keeping which of
// the two won), the second pairs off rows. Pairing columns first keeps the window's row-major
// order (a, b of the top row before c, d of the bottom one), so ties and NaNs resolve as in the
// general path. Both passes vectorise; when the rows hold no extra column (in_w == 2 out_w) the
// first pass is one run along the whole plane. A single pass choosing among all four at once does
// not vectorise (docs/performance.md, "Batch-1 inference").
template <class T>
bool max_pool_2x2(const T* x, T* y, int64_t* idx, const PoolGeometry& g) {
  if (!whole_2x2_windows(g) || g.in_h * g.in_w > std::numeric_limits<int32_t>::max()) return false;
  const int64_t in_w = g.in_w, in_plane = g.in_h * g.in_w, out_h = g.out_h, out_w = g.out_w;
  const int32_t out_w32 = static_cast<int32_t>(out_w);
  const bool flat = in_w == 2 * out_w;
  const int64_t runs = flat ? 1 : 2 * out_h, run_length = flat ? 2 * out_h * out_w : out_w;
  for_planes(g, [=](int64_t begin, int64_t end) {
    // Loop bounds as locals: read from the closure, an int64 bound could alias the int64 index
    // stores, and the compiler would neither hoist it nor vectorise the widening loop.
    const int64_t row_count = out_w, run_count = runs, run_size = run_length;
    std::vector<T> column_max(2 * out_h * out_w);
    std::vector<int32_t> right_won(2 * out_h * out_w);  // 1 where a row's right column won
    std::vector<int32_t> position(out_w);               // an output row's window maxima
    for (int64_t p = begin; p < end; ++p) {
      const T* plane = x + p * in_plane;
      for (int64_t r = 0; r < run_count; ++r) {
        const T* __restrict row = plane + r * in_w;
        T* __restrict m = column_max.data() + r * out_w;
        int32_t* __restrict right = right_won.data() + r * out_w;
        for (int64_t ow = 0; ow < run_size; ++ow) {
          const T a = row[2 * ow], b = row[2 * ow + 1];
          const bool take = (b > a) | ((b != b) & (a == a));
          m[ow] = take ? b : a;
          right[ow] = take;
        }
      }
      for (int64_t oh = 0; oh < out_h; ++oh) {
        const T* __restrict top = column_max.data() + 2 * oh * out_w;
        const T* __restrict bottom = top + out_w;
        const int32_t* __restrict top_right = right_won.data() + 2 * oh * out_w;
        const int32_t* __restrict bottom_right = top_right + out_w;
        T* __restrict best = y + (p * out_h + oh) * out_w;
        int32_t* __restrict at = position.data();
        // Positions in 32 bits (the plane is smaller than 2^31), so that this loop runs on one
        // vector width; widened to the int64 indices in a loop of their own.
        const int32_t row = static_cast<int32_t>(2 * oh * in_w), width = static_cast<int32_t>(in_w);
        for (int32_t ow = 0; ow < out_w32; ++ow) {
          const T t = top[ow], b = bottom[ow];
          const bool take = (b > t) | ((b != b) & (t == t));
          best[ow] = take ? b : t;
          at[ow] = row + 2 * ow + (take ? width + bottom_right[ow] : top_right[ow]);
        }
        int64_t* __restrict best_at = idx + (p * out_h + oh) * out_w;
        for (int64_t ow = 0; ow < row_count; ++ow) best_at[ow] = at[ow];
      }
    }
  });
  return true;
}

// max(value, candidate), propagating NaN: a NaN candidate wins over a number, and a NaN value
// stays. The same value the index-keeping passes select, as a branch-free blend.
template <class T>
inline T max_or_nan(T value, T candidate) {
  return ((candidate > value) | (candidate != candidate)) ? candidate : value;
}

// Max pooling without indices (inference: nothing will route a gradient back). Fixed windows in
// one pass per (input row, kernel tap) along an output row, the common 2x2 / stride 2 window as
// two contiguous reads per output; every pass is branch-free and vectorises, which the passes that
// also keep an index do not (see max_pool_2x2).
template <class T>
void max_pool_values(const T* x, T* y, const PoolGeometry& g) {
  const int64_t in_w = g.in_w, in_plane = g.in_h * g.in_w, out_h = g.out_h, out_w = g.out_w;
  const bool two_by_two = whole_2x2_windows(g);
  constexpr int64_t kScratch = 4096;
  if (two_by_two && in_w == 2 * out_w && g.in_h == 2 * out_h && out_h * in_w <= kScratch) {
    // Even planes that fit the scratch run: the maxima of each pair of rows go to the scratch,
    // then neighbouring columns pair off along the whole plane. Two long loops, instead of rows
    // only a few vectors long with a scalar tail each.
    for_planes(g, [=](int64_t begin, int64_t end) {
      alignas(32) T scratch[kScratch];
      for (int64_t p = begin; p < end; ++p) {
        const T* __restrict plane = x + p * in_plane;
        T* __restrict m = scratch;
        for (int64_t r = 0; r < out_h; ++r) {
          const T* __restrict r0 = plane + 2 * r * in_w;
          const T* __restrict r1 = r0 + in_w;
          T* __restrict m_row = m + r * in_w;
          for (int64_t i = 0; i < in_w; ++i) m_row[i] = max_or_nan(r0[i], r1[i]);
        }
        T* __restrict best = y + p * out_h * out_w;
        for (int64_t o = 0; o < out_h * out_w; ++o) best[o] = max_or_nan(m[2 * o], m[2 * o + 1]);
      }
    });
    return;
  }
  if (two_by_two) {
    for_planes(g, [=](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        for (int64_t oh = 0; oh < out_h; ++oh) {
          const T* __restrict r0 = x + p * in_plane + 2 * oh * in_w;
          const T* __restrict r1 = r0 + in_w;
          T* __restrict best = y + (p * out_h + oh) * out_w;
          for (int64_t ow = 0; ow < out_w; ++ow) {
            T v = r0[2 * ow];
            v = max_or_nan(v, r0[2 * ow + 1]);
            v = max_or_nan(v, r1[2 * ow]);
            best[ow] = max_or_nan(v, r1[2 * ow + 1]);
          }
        }
      }
    });
    return;
  }
  const PoolWindows win(g);
  for_planes(g, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T* plane = x + p * in_plane;
      for (int64_t oh = 0; oh < out_h; ++oh) {
        T* __restrict best = y + (p * out_h + oh) * out_w;
        std::fill_n(best, out_w, -std::numeric_limits<T>::infinity());
        for (int64_t ih = win.row_begin[oh]; ih < win.row_end[oh]; ++ih) {
          const T* __restrict row = plane + ih * in_w;
          for (int64_t j = 0; j < g.kernel_w; ++j) {
            const ValidRange range = win.tap_outputs[j];
            const int64_t stride = g.stride_w, offset = j - g.pad_w;
            for (int64_t ow = range.lo; ow < range.hi; ++ow)
              best[ow] = max_or_nan(best[ow], row[ow * stride + offset]);
          }
        }
      }
    }
  });
}

// Max pooling: the maxima alone, the 2x2 passes, or one output row at a time: for each kernel tap
// (i, j), in the window's row-major order (so the first maximum is kept), one max_pool_tap pass
// along the output row.
template <class T>
void max_pool_planes(const Tensor& out, const Tensor& indices, const Tensor& input,
                     const PoolGeometry& g) {
  const int64_t in_w = g.in_w, in_plane = g.in_h * g.in_w, out_w = g.out_w;
  const T* x = input.data<T>();
  T* y = out.data<T>();
  if (!indices.defined()) {
    max_pool_values(x, y, g);
    return;
  }
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
