// Attention without a graph (CpuBackend::inference_attention, called by
// scaled_dot_product_attention when nothing is recorded and no dropout is drawn).
//
// Why: composed from ops, attention is a scale, two batched products, a softmax and the copies
// that split the heads out of the projection and merge them back: at a batch-1 transformer's
// sizes these ran one after another on one thread between the projections, while the other core
// waited. Here one task takes a block of queries of one (batch, head): it multiplies q by k^T with
// one small GEMM reading both where they lie (any row stride, so the heads need not be copied out
// of the packed projection), scales, masks and soft-maxes each row of scores in place, and
// multiplies by v straight into an output laid out [B, Lq, H, D], so merging the heads again is
// a free reshape. Tasks are spread over the engine's threads.
//
// The numbers are the composed path's: scores scaled by `scale`, a float mask added, bool-masked
// positions at exactly 0 probability; a row whose every position is masked is all zeros when a
// bool mask is given (the composed masked softmax) and NaN otherwise (as dg::softmax gives for a
// row of -inf). exp's result is flushed to 0 below the smallest normal, as in softmax_kernels.cpp.
#include <Eigen/Core>

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/cpu/blas.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/parallel.h"

namespace dg::cpu {

namespace {

constexpr int64_t kQueryBlock = 32;  // queries per task: Lq = 64 gives two tasks per head

// Below this argument exp is flushed to 0 (its result would be subnormal).
template <class T>
constexpr T kExpFloor = std::is_same_v<T, float> ? T(-87.33) : T(-708.39);

// The strides of a 4-D operand: q, k, v [B, H, L, D], or the mask [B, H, Lq, Lk].
struct Strided4 {
  int64_t batch = 0, head = 0, row = 0, column = 0;
  Strided4() = default;
  explicit Strided4(const Tensor& t) {
    const Shape& s = t.strides();
    batch = s[0], head = s[1], row = s[2], column = s[3];
  }
};

// The leading dimension BLAS is given for `rows` rows of D contiguous values `row_stride` apart,
// or 0 where BLAS cannot read them so (rows overlap). A single row's stride is never used.
int64_t leading_dim(int64_t rows, int64_t row_stride, int64_t D) {
  if (rows == 1) return D;
  return row_stride >= D ? row_stride : 0;
}

template <class T>
struct AttentionArgs {
  const T *q, *k, *v;
  Strided4 qs, ks, vs;
  int64_t k_ld, v_ld;
  const bool* mask = nullptr;  // [B, H, Lq, Lk] (expanded: broadcast dims have stride 0)
  Strided4 ms{};
  const T* additive = nullptr;  // [Lq, Lk]
  int64_t add_row = 0, add_column = 0;
  int64_t B, H, Lq, Lk, D;
  T scale;
  T* out;  // [B, Lq, H, D]
};

// One row of scores, in place: scaled, the float mask added, bool-masked positions at -inf, then
// soft-maxed. `arg` is scratch of Lk values.
template <class T>
void softmax_scores(const AttentionArgs<T>& a, int64_t b, int64_t h, int64_t i, T* row, T* arg) {
  const int64_t n = a.Lk;
  const T scale = a.scale;
  for (int64_t j = 0; j < n; ++j) row[j] *= scale;
  if (a.additive) {
    const T* add = a.additive + i * a.add_row;
    for (int64_t j = 0; j < n; ++j) row[j] += add[j * a.add_column];
  }
  if (a.mask) {
    const bool* masked = a.mask + b * a.ms.batch + h * a.ms.head + i * a.ms.row;
    const int64_t step = a.ms.column;
    constexpr T minus_inf = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < n; ++j) row[j] = masked[j * step] ? minus_inf : row[j];
  }
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> y(row, n), x(arg, n);
  const T shift = y.maxCoeff();
  if (a.mask && shift == -std::numeric_limits<T>::infinity()) {  // every key masked
    y.setZero();
    return;
  }
  x = y - shift;
  y = x.exp();
  for (int64_t j = 0; j < n; ++j) row[j] = arg[j] < kExpFloor<T> ? T(0) : row[j];
  double total = 0;  // in blocks of 4096, as the softmax kernel sums
  for (int64_t j = 0; j < n; j += 4096)
    total += static_cast<double>(y.segment(j, std::min<int64_t>(4096, n - j)).sum());
  y *= static_cast<T>(1.0 / total);
}

// Queries [i0, i0 + rows) of (batch b, head h). `scores` is scratch of kQueryBlock x Lk values,
// `arg` of Lk.
template <class T>
void attention_block(const AttentionArgs<T>& a, int64_t b, int64_t h, int64_t i0, int64_t rows,
                     T* scores, T* arg) {
  const T* q = a.q + b * a.qs.batch + h * a.qs.head + i0 * a.qs.row;
  const T* k = a.k + b * a.ks.batch + h * a.ks.head;
  const T* v = a.v + b * a.vs.batch + h * a.vs.head;
  T* out = a.out + ((b * a.Lq + i0) * a.H + h) * a.D;
  const int64_t q_ld = leading_dim(rows, a.qs.row, a.D);
  gemm_serial<T>(false, true, rows, a.Lk, a.D, q, q_ld, k, a.k_ld, T(0), scores, a.Lk);
  for (int64_t r = 0; r < rows; ++r) softmax_scores(a, b, h, i0 + r, scores + r * a.Lk, arg);
  gemm_serial<T>(false, false, rows, a.D, a.Lk, scores, a.Lk, v, a.v_ld, T(0), out, a.H * a.D);
}

template <class T>
void run_attention(const AttentionArgs<T>& a) {
  const int64_t blocks = (a.Lq + kQueryBlock - 1) / kQueryBlock;
  const int64_t tasks = a.B * a.H * blocks;
  const int64_t work = 2 * a.B * a.H * a.Lq * a.Lk * a.D;
  const int threads = worth_splitting(work, kParallelGemmWork) ? num_threads() : 1;
  std::vector<std::vector<T>> scratch(std::max(1, threads));
  parallel_chunks(tasks, threads, [&](int64_t task, int thread) {
    std::vector<T>& s = scratch[thread];
    s.resize((kQueryBlock + 1) * a.Lk);
    const int64_t block = task % blocks, bh = task / blocks;
    const int64_t i0 = block * kQueryBlock, rows = std::min(kQueryBlock, a.Lq - i0);
    attention_block(a, bh / a.H, bh % a.H, i0, rows, s.data(), s.data() + kQueryBlock * a.Lk);
  });
}

bool fits_blas(int64_t n) { return n <= INT_MAX; }

}  // namespace

Tensor CpuBackend::inference_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                       const Tensor& masked, const Tensor& additive,
                                       double scale) {
  const int64_t B = q.shape()[0], H = q.shape()[1], Lq = q.shape()[2], D = q.shape()[3];
  const int64_t Lk = k.shape()[2];
  // BLAS reads each row of q, k and v as D contiguous values.
  if (D == 0 || q.strides()[3] != 1 || k.strides()[3] != 1 || v.strides()[3] != 1) return Tensor();
  const int64_t k_ld = leading_dim(Lk, k.strides()[2], D);
  const int64_t v_ld = leading_dim(Lk, v.strides()[2], D);
  const bool q_rows_ok = Lq <= 1 || q.strides()[2] >= D;
  if (!q_rows_ok || k_ld == 0 || v_ld == 0) return Tensor();
  if (!fits_blas(Lk) || !fits_blas(H * D) || !fits_blas(q.strides()[2]) || !fits_blas(k_ld) ||
      !fits_blas(v_ld))
    return Tensor();

  Tensor out = Tensor::empty({B, Lq, H, D}, q.dtype(), q.device());
  if (out.numel() == 0) return out;
  visit_floating(q.dtype(), "inference_attention", [&]<class T>() {
    AttentionArgs<T> a{.q = q.data<T>(),
                       .k = k.data<T>(),
                       .v = v.data<T>(),
                       .qs = Strided4(q),
                       .ks = Strided4(k),
                       .vs = Strided4(v),
                       .k_ld = k_ld,
                       .v_ld = v_ld,
                       .B = B,
                       .H = H,
                       .Lq = Lq,
                       .Lk = Lk,
                       .D = D,
                       .scale = static_cast<T>(scale),
                       .out = out.data<T>()};
    if (masked.defined()) {
      a.mask = masked.data<bool>();
      a.ms = Strided4(masked);
    }
    if (additive.defined()) {
      a.additive = additive.data<T>();
      a.add_row = additive.strides()[0];
      a.add_column = additive.strides()[1];
    }
    run_attention(a);
  });
  return out;
}

}  // namespace dg::cpu
