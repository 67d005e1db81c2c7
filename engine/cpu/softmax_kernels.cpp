// CPU kernels for softmax and log_softmax (forward and backward) and the fused cross-entropy.
// Each works along one dim of a tensor seen as [outer, n, inner], n being the softmax (or class)
// dim. When inner == 1 (the last dim, and the [N, C] logits of a classifier) a row is contiguous
// and every pass over it is one vectorised Eigen expression. Otherwise a task takes a block of up
// to 256 columns and walks the n rows in memory order, keeping a running max or sum per column in
// a small stack array, so memory is read in order whatever the dim. Strided inputs are copied into
// that layout once.
//
// Numerics: every row is shifted by its max before exp, so huge logits cannot overflow; log_softmax
// is computed as (x - max) - log(sum), never x - (max + log(sum)), which would round away the
// small differences of logits far from 0; long sums run in blocks of 4096 whose partial sums add
// in double. A probability that is written out is flushed to exactly 0 where exp's argument is
// below the smallest normal result: Eigen's vectorised exp clamps its argument, so a masked (-inf)
// logit would otherwise keep a tiny probability. (The flush is a plain loop that the compiler
// turns into vector blends; Eigen 3.4's select() would run element by element. Sums need no
// flush: the max's own term is 1, so the clamped terms cannot change them.)
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/strided_loop.h"
#include "engine/scalar_math.h"

namespace dg::cpu {

namespace {

template <class T>
using Vec = Eigen::Array<T, Eigen::Dynamic, 1>;
template <class T>
using VecMap = Eigen::Map<Vec<T>>;
template <class T>
using ConstVecMap = Eigen::Map<const Vec<T>>;

// Columns handled by one task of the strided path, and a stack array of one value per column.
constexpr int64_t kColumnBlock = 256;
template <class T>
using Lanes = Eigen::Array<T, Eigen::Dynamic, 1, Eigen::ColMajor, kColumnBlock, 1>;

constexpr int64_t kSumBlock = 4096;

// Below this argument exp is flushed to 0 (its result would be subnormal).
template <class T>
constexpr T kExpFloor = std::is_same_v<T, float> ? T(-87.33) : T(-708.39);

// Sets y[i] = 0 wherever exp's argument arg(i) was below kExpFloor (so wherever it was -inf).
template <class T, class Arg>
void flush_exp_underflow(T* y, int64_t n, Arg&& arg) {
  for (int64_t i = 0; i < n; ++i) y[i] = arg(i) < kExpFloor<T> ? T(0) : y[i];
}

// Sums block_sum(start, length) over [0, n) in blocks of kSumBlock: each block in T (vectorised),
// the block sums in double.
template <class BlockSum>
double blocked_sum(int64_t n, BlockSum&& block_sum) {
  double total = 0;
  for (int64_t start = 0; start < n; start += kSumBlock)
    total += static_cast<double>(block_sum(start, std::min(kSumBlock, n - start)));
  return total;
}

// sum_i exp(x_i - shift) over a contiguous run.
template <class T>
double sum_exp_shifted(const T* x, int64_t n, T shift) {
  return blocked_sum(
      n, [&](int64_t i, int64_t len) { return (ConstVecMap<T>(x + i, len) - shift).exp().sum(); });
}

// A tensor seen as [outer, n, inner] around one dim.
struct AroundDim {
  int64_t outer = 1, n = 1, inner = 1;
};

AroundDim around_dim(const Shape& shape, int dim) {
  AroundDim s;
  for (int d = 0; d < shape.size(); ++d) {
    if (d < dim) s.outer *= shape[d];
    if (d > dim) s.inner *= shape[d];
  }
  s.n = shape[dim];
  return s;
}

// Calls f(o, c0, c1) for every outer index o and block [c0, c1) of inner columns, in parallel over
// the (o, block) tasks when there is enough work. exp makes an element cost a few flops, hence the
// factor in the cost estimate.
template <class F>
void for_each_column_block(const AroundDim& s, F&& f) {
  const int64_t blocks = (s.inner + kColumnBlock - 1) / kColumnBlock;
  const int64_t cost = 4 * s.n * std::min(s.inner, kColumnBlock);
  parallel_for(s.outer * blocks, cost, [&](int64_t b, int64_t e) {
    for (int64_t task = b; task < e; ++task) {
      const int64_t o = task / blocks, c0 = (task % blocks) * kColumnBlock;
      f(o, c0, std::min(s.inner, c0 + kColumnBlock));
    }
  });
}

Tensor as_contiguous(CpuBackend& cpu, const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor c = Tensor::empty(t.shape(), t.dtype(), t.device());
  cpu.copy(c, t);
  return c;
}

// ---------------------------------------------------------------- softmax forward

template <class T>
void softmax_row(T* y_ptr, const T* x_ptr, int64_t n, bool log) {
  ConstVecMap<T> x(x_ptr, n);
  VecMap<T> y(y_ptr, n);
  // A NaN entry makes the sum NaN, and a NaN or infinite max makes every x - shift NaN: such rows
  // come out NaN, as in PyTorch.
  const T shift = x.maxCoeff();
  if (log) {
    y = (x - shift) - static_cast<T>(std::log(sum_exp_shifted(x_ptr, n, shift)));
    return;
  }
  y = (x - shift).exp();
  flush_exp_underflow(y_ptr, n, [&](int64_t i) { return x_ptr[i] - shift; });
  const double total =
      blocked_sum(n, [&](int64_t i, int64_t len) { return ConstVecMap<T>(y_ptr + i, len).sum(); });
  y *= static_cast<T>(1.0 / total);
}

// Columns [c0, c1) of one [n, inner] slab (x and y point at the slab's first element).
template <class T>
void softmax_columns(T* y, const T* x, int64_t n, int64_t inner, int64_t c0, int64_t c1, bool log) {
  const int64_t w = c1 - c0;
  auto row_in = [&](int64_t k) { return ConstVecMap<T>(x + k * inner + c0, w); };
  auto row_out = [&](int64_t k) { return VecMap<T>(y + k * inner + c0, w); };
  Lanes<T> shift = row_in(0);
  for (int64_t k = 1; k < n; ++k) shift = shift.max(row_in(k));
  Lanes<T> total = Lanes<T>::Zero(w);
  if (log) {
    for (int64_t k = 0; k < n; ++k) total += (row_in(k) - shift).exp();
    const Lanes<T> log_total = total.log();
    for (int64_t k = 0; k < n; ++k) row_out(k) = (row_in(k) - shift) - log_total;
    return;
  }
  for (int64_t k = 0; k < n; ++k) {
    row_out(k) = (row_in(k) - shift).exp();
    const T* in = x + k * inner + c0;
    flush_exp_underflow(y + k * inner + c0, w, [&](int64_t c) { return in[c] - shift[c]; });
    total += row_out(k);
  }
  const Lanes<T> inv_total = total.inverse();
  for (int64_t k = 0; k < n; ++k) row_out(k) *= inv_total;
}

// ---------------------------------------------------------------- softmax backward

template <class T>
void softmax_backward_row(T* gi_ptr, const T* g_ptr, const T* y_ptr, int64_t n, bool log) {
  ConstVecMap<T> g(g_ptr, n), y(y_ptr, n);
  VecMap<T> gi(gi_ptr, n);
  if (log) {  // g - exp(y) sum(g)
    const T total = static_cast<T>(blocked_sum(
        n, [&](int64_t i, int64_t len) { return ConstVecMap<T>(g_ptr + i, len).sum(); }));
    gi = y.exp();
    flush_exp_underflow(gi_ptr, n, [&](int64_t i) { return y_ptr[i]; });
    gi = g - gi * total;
  } else {  // y (g - sum(g y))
    const T dot = static_cast<T>(blocked_sum(n, [&](int64_t i, int64_t len) {
      return (ConstVecMap<T>(g_ptr + i, len) * ConstVecMap<T>(y_ptr + i, len)).sum();
    }));
    gi = y * (g - dot);
  }
}

template <class T>
void softmax_backward_columns(T* gi, const T* g, const T* y, int64_t n, int64_t inner, int64_t c0,
                              int64_t c1, bool log) {
  const int64_t w = c1 - c0;
  auto row = [&](const T* base, int64_t k) { return ConstVecMap<T>(base + k * inner + c0, w); };
  Lanes<T> total = Lanes<T>::Zero(w);
  for (int64_t k = 0; k < n; ++k) {
    if (log) {
      total += row(g, k);
    } else {
      total += row(g, k) * row(y, k);
    }
  }
  for (int64_t k = 0; k < n; ++k) {
    VecMap<T> out(gi + k * inner + c0, w);
    if (log) {
      out = row(y, k).exp();
      const T* yk = y + k * inner + c0;
      flush_exp_underflow(gi + k * inner + c0, w, [&](int64_t c) { return yk[c]; });
      out = row(g, k) - out * total;
    } else {
      out = row(y, k) * (row(g, k) - total);
    }
  }
}

// ---------------------------------------------------------------- cross-entropy

// The target distribution T of one position (see Backend::cross_entropy), as the constants the
// kernels need: math::TargetMass (engine/scalar_math.h, shared with the CUDA kernels).
using math::TargetMass;

// Reads a CrossEntropyTarget's weights and the per-position target distribution.
template <class T>
struct ClassTargets {
  const int64_t* target;
  const T* weight;  // null for all ones
  int64_t ignore_index, classes;
  double smoothing, weight_sum;

  ClassTargets(const Backend::CrossEntropyTarget& spec, int64_t C)
      : target(spec.target.data<int64_t>()),
        weight(spec.weight.defined() ? spec.weight.data<T>() : nullptr),
        ignore_index(spec.ignore_index),
        classes(C),
        smoothing(spec.label_smoothing),
        weight_sum(static_cast<double>(C)) {
    if (weight)
      weight_sum = blocked_sum(
          C, [&](int64_t i, int64_t len) { return ConstVecMap<T>(weight + i, len).sum(); });
  }
  double w(int64_t c) const { return weight ? static_cast<double>(weight[c]) : 1.0; }
  // All zero for an ignored target.
  TargetMass mass(int64_t t) const {
    if (t == ignore_index) return {};
    return math::target_mass(false, w(t), smoothing, classes, weight_sum);
  }
};

// One row of [N, C] logits: loss = on_target (shift - x_t + log_sum) + smooth sum_c w_c (shift -
// x_c + log_sum), each log-probability kept in its accurate form (x - shift) - log_sum.
template <class T>
void cross_entropy_row(T* loss, T* shift_out, T* log_sum_out, const T* x_ptr, int64_t t,
                       const ClassTargets<T>& ct) {
  const int64_t C = ct.classes;
  ConstVecMap<T> x(x_ptr, C);
  const T shift = x.maxCoeff();
  const double log_sum = std::log(sum_exp_shifted(x_ptr, C, shift));
  *shift_out = shift;
  *log_sum_out = static_cast<T>(log_sum);
  const TargetMass m = ct.mass(t);
  if (m.total == 0) {
    *loss = T(0);
    return;
  }
  double l = m.on_target * (static_cast<double>(shift - x_ptr[t]) + log_sum);
  if (m.smooth != 0) {
    const double gaps = blocked_sum(C, [&](int64_t i, int64_t len) {
      const auto gap = shift - ConstVecMap<T>(x_ptr + i, len);
      return ct.weight ? (gap * ConstVecMap<T>(ct.weight + i, len)).sum() : gap.sum();
    });
    l += m.smooth * (gaps + ct.weight_sum * log_sum);
  }
  *loss = static_cast<T>(l);
}

// Positions [s0, s1) of sample n of [N, C, S] logits (x points at the sample's first element).
template <class T>
void cross_entropy_columns(T* loss, T* shift_out, T* log_sum_out, const T* x, const int64_t* target,
                           int64_t S, int64_t s0, int64_t s1, const ClassTargets<T>& ct) {
  const int64_t w = s1 - s0, C = ct.classes;
  auto row = [&](int64_t c) { return ConstVecMap<T>(x + c * S + s0, w); };
  Lanes<T> shift = row(0);
  for (int64_t c = 1; c < C; ++c) shift = shift.max(row(c));
  // total = sum_c exp(x_c - shift); gaps = sum_c w_c (shift - x_c), needed only with smoothing.
  Lanes<T> total = Lanes<T>::Zero(w), gaps = Lanes<T>::Zero(w);
  for (int64_t c = 0; c < C; ++c) {
    total += (row(c) - shift).exp();
    if (ct.smoothing != 0) gaps += (shift - row(c)) * static_cast<T>(ct.w(c));
  }
  const Lanes<T> log_sum = total.log();
  for (int64_t j = 0; j < w; ++j) {
    shift_out[s0 + j] = shift[j];
    log_sum_out[s0 + j] = log_sum[j];
    const int64_t t = target[s0 + j];
    const TargetMass m = ct.mass(t);
    if (m.total == 0) {
      loss[s0 + j] = T(0);
      continue;
    }
    const double ls = log_sum[j];
    double l = m.on_target * (static_cast<double>(shift[j] - x[t * S + s0 + j]) + ls);
    if (m.smooth != 0) l += m.smooth * (static_cast<double>(gaps[j]) + ct.weight_sum * ls);
    loss[s0 + j] = static_cast<T>(l);
  }
}

// grad = g (softmax(x) * total - T) for one row of [N, C] logits.
template <class T>
void cross_entropy_backward_row(T* grad_ptr, const T* x_ptr, T shift, T log_sum, double g,
                                int64_t t, const ClassTargets<T>& ct) {
  const int64_t C = ct.classes;
  VecMap<T> grad(grad_ptr, C);
  const TargetMass m = ct.mass(t);
  if (m.total == 0) {
    grad.setZero();
    return;
  }
  grad = ((ConstVecMap<T>(x_ptr, C) - shift) - log_sum).exp();
  flush_exp_underflow(grad_ptr, C, [&](int64_t c) { return (x_ptr[c] - shift) - log_sum; });
  grad *= static_cast<T>(g * m.total);
  if (m.smooth != 0) {
    const T spread = static_cast<T>(g * m.smooth);
    if (ct.weight) {
      grad -= spread * ConstVecMap<T>(ct.weight, C);
    } else {
      grad -= spread;
    }
  }
  grad_ptr[t] -= static_cast<T>(g * m.on_target);
}

template <class T>
void cross_entropy_backward_columns(T* grad, const T* x, const T* shift, const T* log_sum,
                                    const T* g, int64_t g_stride, const int64_t* target, int64_t S,
                                    int64_t s0, int64_t s1, const ClassTargets<T>& ct) {
  const int64_t w = s1 - s0, C = ct.classes;
  // Per position: scale = g * total and spread = g * smooth (both 0 where ignored).
  Lanes<T> scale(w), spread(w);
  for (int64_t j = 0; j < w; ++j) {
    const TargetMass m = ct.mass(target[s0 + j]);
    const double gj = static_cast<double>(g[(s0 + j) * g_stride]);
    scale[j] = static_cast<T>(gj * m.total);
    spread[j] = static_cast<T>(gj * m.smooth);
  }
  const ConstVecMap<T> sh(shift + s0, w), ls(log_sum + s0, w);
  for (int64_t c = 0; c < C; ++c) {
    VecMap<T> out(grad + c * S + s0, w);
    const T* xc = x + c * S + s0;
    out = ((ConstVecMap<T>(xc, w) - sh) - ls).exp();
    flush_exp_underflow(out.data(), w, [&](int64_t j) { return (xc[j] - sh[j]) - ls[j]; });
    out = out * scale - spread * static_cast<T>(ct.w(c));
  }
  for (int64_t j = 0; j < w; ++j) {
    const int64_t t = target[s0 + j];
    const TargetMass m = ct.mass(t);
    if (m.total == 0) {
      for (int64_t c = 0; c < C; ++c) grad[c * S + s0 + j] = T(0);  // also clears NaN * 0
      continue;
    }
    const double gj = static_cast<double>(g[(s0 + j) * g_stride]);
    grad[t * S + s0 + j] -= static_cast<T>(gj * m.on_target);
  }
}

}  // namespace

void CpuBackend::softmax(const Tensor& out, const Tensor& in, int dim, bool log) {
  const Tensor x = as_contiguous(*this, in);
  const AroundDim s = around_dim(in.shape(), dim);
  visit_floating(in.dtype(), "softmax", [&]<class T>() {
    T* y = out.data<T>();
    const T* xp = x.data<T>();
    for_each_column_block(s, [&](int64_t o, int64_t c0, int64_t c1) {
      const int64_t slab = o * s.n * s.inner;
      if (s.inner == 1) {
        softmax_row(y + slab, xp + slab, s.n, log);
      } else {
        softmax_columns(y + slab, xp + slab, s.n, s.inner, c0, c1, log);
      }
    });
  });
}

void CpuBackend::softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out,
                                  int dim, bool log) {
  const Tensor g = as_contiguous(*this, grad_out), y = as_contiguous(*this, out);
  const AroundDim s = around_dim(out.shape(), dim);
  visit_floating(out.dtype(), "softmax_backward", [&]<class T>() {
    T* gi = grad_in.data<T>();
    const T* gp = g.data<T>();
    const T* yp = y.data<T>();
    for_each_column_block(s, [&](int64_t o, int64_t c0, int64_t c1) {
      const int64_t slab = o * s.n * s.inner;
      if (s.inner == 1) {
        softmax_backward_row(gi + slab, gp + slab, yp + slab, s.n, log);
      } else {
        softmax_backward_columns(gi + slab, gp + slab, yp + slab, s.n, s.inner, c0, c1, log);
      }
    });
  });
}

void CpuBackend::cross_entropy(const Tensor& loss, const Tensor& lse, const Tensor& logits,
                               const CrossEntropyTarget& spec) {
  const AroundDim s = around_dim(logits.shape(), 1);  // outer = N, n = C, inner = S
  const int64_t N = s.outer, C = s.n, S = s.inner;
  visit_floating(logits.dtype(), "cross_entropy", [&]<class T>() {
    const ClassTargets<T> ct(spec, C);
    const T* x = logits.data<T>();
    T* l = loss.data<T>();
    T* shift = lse.data<T>();
    T* log_sum = shift + N * S;
    for_each_column_block(s, [&](int64_t n, int64_t s0, int64_t s1) {
      if (S == 1) {
        cross_entropy_row(l + n, shift + n, log_sum + n, x + n * C, ct.target[n], ct);
      } else {
        cross_entropy_columns(l + n * S, shift + n * S, log_sum + n * S, x + n * C * S,
                              ct.target + n * S, S, s0, s1, ct);
      }
    });
  });
}

void CpuBackend::cross_entropy_backward(const Tensor& grad_logits, const Tensor& grad_loss,
                                        const Tensor& logits, const Tensor& lse,
                                        const CrossEntropyTarget& spec) {
  const AroundDim s = around_dim(logits.shape(), 1);
  const int64_t N = s.outer, C = s.n, S = s.inner;
  const int64_t g_stride_n = grad_loss.strides()[0], g_stride_s = grad_loss.strides()[1];
  visit_floating(logits.dtype(), "cross_entropy_backward", [&]<class T>() {
    const ClassTargets<T> ct(spec, C);
    const T* x = logits.data<T>();
    const T* g = grad_loss.data<T>();
    const T* shift = lse.data<T>();
    const T* log_sum = shift + N * S;
    T* grad = grad_logits.data<T>();
    for_each_column_block(s, [&](int64_t n, int64_t s0, int64_t s1) {
      if (S == 1) {
        cross_entropy_backward_row(grad + n * C, x + n * C, shift[n], log_sum[n],
                                   static_cast<double>(g[n * g_stride_n]), ct.target[n], ct);
      } else {
        cross_entropy_backward_columns(grad + n * C * S, x + n * C * S, shift + n * S,
                                       log_sum + n * S, g + n * g_stride_n, g_stride_s,
                                       ct.target + n * S, S, s0, s1, ct);
      }
    });
  });
}

}  // namespace dg::cpu
