// Inference linear layers on a packed weight: out = rows @ weight^T + bias in float32 when no graph
// is recorded (CpuBackend::inference_linear, called by the linear op).
//
// Why: OpenBLAS packs both operands into panels on every call. For a weight that serves call after
// call (a model in eval mode) re-packing it is repeated work, a large share of a batch-1
// transformer's time (docs/performance.md, "Batch-1 inference"). Here a
// weight is packed once into panels of 16 output features, each laid out [in_features][16], and the
// panels are kept in its Storage's derived-data cache together with the version they were packed
// from. Any write to the weight (an optimizer step, load_state_dict) bumps the version, and the
// next call packs again. A weight is packed on its second call at one version, so a matrix used
// once (an activation passed as the weight) never pays for packing and goes to BLAS as before.
//
// The product is a 6x16 register tile: per step of the inner dimension, two 8-wide vectors of the
// panel and one broadcast input value for each of 6 rows feed 12 FMAs into 12 accumulators. The
// bias is where the accumulators start, so it costs no pass of its own; likewise an activation
// (relu) and a residual to add, applied to the accumulators before their last store (the linear
// op's epilogue: a transformer's feed-forward block in inference). Loops are blocked so a
// panel's slice of the inner dimension (256 x 16 floats) stays in L1 while every row tile of a
// 96-row block streams past it. Panel groups are split over the engine's threads.
//
// Rows fewer than kMinRows (a batch-1 MLP's single row) stay with BLAS: there the weight is read
// once per call, nothing is reused, and BLAS's GEMV is faster than a one-row tile. Built only for
// AVX2 with FMA (the default x86-64-v3 target); elsewhere inference_linear returns false.
#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include "engine/cpu/blas.h"  // kParallelGemmWork: when a product is worth splitting
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/parallel.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace dg::cpu {

#if defined(__AVX2__) && defined(__FMA__)

namespace {

constexpr int64_t kPanelWidth = 16;      // output features per panel: two 8-float vectors
constexpr int kTileRows = 6;             // rows of one register tile
constexpr int64_t kInnerBlock = 256;     // inner-dimension slice kept in L1
constexpr int64_t kRowBlock = 96;        // rows per block (a multiple of kTileRows)
constexpr int64_t kPanelsPerChunk = 4;   // panels one thread claims at a time
constexpr int64_t kMinRows = 8;
// Distinct views of one storage kept packed at once (a cross-attention layer calls linear on two
// row ranges of one in_proj_weight).
constexpr size_t kMaxViewsPerStorage = 4;

// One weight view, packed: panel p holds features [16p, 16p + 16) as [in_features][16] floats,
// zero past out_features. `packed` is false for a view seen once at this version and not packed.
struct PackedWeight {
  int64_t offset = 0, out_features = 0, in_features = 0;
  uint64_t version = 0;
  bool packed = false;
  std::vector<float> panels;

  bool describes(const Tensor& weight) const {
    return offset == weight.offset() && out_features == weight.shape()[0] &&
           in_features == weight.shape()[1] && version == weight.version();
  }
};

// What a weight's Storage caches: its recently used views. Immutable once published.
struct PackedViews final : DerivedData {
  std::vector<std::shared_ptr<const PackedWeight>> views;
};

// An entry for `weight` as it is now, not packed.
std::shared_ptr<PackedWeight> entry_for(const Tensor& weight) {
  auto entry = std::make_shared<PackedWeight>();
  entry->offset = weight.offset();
  entry->out_features = weight.shape()[0];
  entry->in_features = weight.shape()[1];
  entry->version = weight.version();
  return entry;
}

std::shared_ptr<const PackedWeight> pack(const Tensor& weight) {
  std::shared_ptr<PackedWeight> result = entry_for(weight);
  result->packed = true;
  const int64_t N = result->out_features, K = result->in_features;
  const int64_t panels = (N + kPanelWidth - 1) / kPanelWidth;
  result->panels.assign(static_cast<size_t>(panels * K * kPanelWidth), 0.0f);
  const float* w = weight.data<float>();
  for (int64_t n = 0; n < N; ++n) {
    float* panel = result->panels.data() + (n / kPanelWidth) * K * kPanelWidth + n % kPanelWidth;
    for (int64_t k = 0; k < K; ++k) panel[k * kPanelWidth] = w[n * K + k];
  }
  return result;
}

// The packed form of `weight`, or nullptr when this is the first call at its current version (the
// view is then remembered, so the next call packs it).
std::shared_ptr<const PackedWeight> find_or_pack(const Tensor& weight) {
  Storage& storage = *weight.storage();
  const auto cached = std::dynamic_pointer_cast<const PackedViews>(storage.derived_cache());
  const std::vector<std::shared_ptr<const PackedWeight>> no_views;
  const auto& views = cached ? cached->views : no_views;
  std::shared_ptr<const PackedWeight> seen;
  for (const auto& view : views)
    if (view->describes(weight)) seen = view;
  if (seen && seen->packed) return seen;
  const std::shared_ptr<const PackedWeight> entry = seen ? pack(weight) : entry_for(weight);
  // Publish a new list: this entry first, then the other views still current, oldest dropped.
  auto updated = std::make_shared<PackedViews>();
  updated->views.push_back(entry);
  for (const auto& view : views) {
    const bool same_view = view->offset == entry->offset &&
                           view->out_features == entry->out_features &&
                           view->in_features == entry->in_features;
    if (!same_view && view->version == weight.version() &&
        updated->views.size() < kMaxViewsPerStorage)
      updated->views.push_back(view);
  }
  storage.set_derived_cache(std::move(updated));
  return entry->packed ? entry : nullptr;
}

// What follows the product on the last inner block: relu, then + residual (rows `ld` apart,
// already offset to the tile's first row and column), either left out.
struct Epilogue {
  bool relu = false;
  const float* residual = nullptr;
  int64_t ld = 0;

  Epilogue at(int64_t row, int64_t column) const {
    return {relu, residual ? residual + row * ld + column : nullptr, ld};
  }
};

// C[r, 0:16] (r < R) = start[r] + sum_k A[r, k] * panel[k, 0:16] over kc steps of k. `start` is
// the 16 bias values (the first inner block) or nullptr to continue from what C holds; `last`
// (the last inner block) applies the epilogue before the store.
template <int R>
void tile(const float* a, int64_t lda, const float* panel, int64_t kc, float* c, int64_t ldc,
          const float* start, const Epilogue* last) {
  static_assert(R >= 1 && R <= kTileRows);
  __m256 lo[R], hi[R];
  for (int r = 0; r < R; ++r) {
    lo[r] = _mm256_loadu_ps(start ? start : c + r * ldc);
    hi[r] = _mm256_loadu_ps(start ? start + 8 : c + r * ldc + 8);
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b_lo = _mm256_loadu_ps(panel + k * kPanelWidth);
    const __m256 b_hi = _mm256_loadu_ps(panel + k * kPanelWidth + 8);
    // Unrolled by the compiler (R is a constant); the accumulators stay in registers.
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 a_rk = _mm256_broadcast_ss(a + r * lda + k);
      lo[r] = _mm256_fmadd_ps(a_rk, b_lo, lo[r]);
      hi[r] = _mm256_fmadd_ps(a_rk, b_hi, hi[r]);
    }
  }
  if (last && last->relu) {
    const __m256 zero = _mm256_setzero_ps();
    for (int r = 0; r < R; ++r) lo[r] = _mm256_max_ps(lo[r], zero), hi[r] = _mm256_max_ps(hi[r], zero);
  }
  if (last && last->residual) {
    for (int r = 0; r < R; ++r) {
      lo[r] = _mm256_add_ps(lo[r], _mm256_loadu_ps(last->residual + r * last->ld));
      hi[r] = _mm256_add_ps(hi[r], _mm256_loadu_ps(last->residual + r * last->ld + 8));
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(c + r * ldc, lo[r]);
    _mm256_storeu_ps(c + r * ldc + 8, hi[r]);
  }
}

void run_tile(int rows, const float* a, int64_t lda, const float* panel, int64_t kc, float* c,
              int64_t ldc, const float* start, const Epilogue* last) {
  switch (rows) {
    case 6: tile<6>(a, lda, panel, kc, c, ldc, start, last); break;
    case 5: tile<5>(a, lda, panel, kc, c, ldc, start, last); break;
    case 4: tile<4>(a, lda, panel, kc, c, ldc, start, last); break;
    case 3: tile<3>(a, lda, panel, kc, c, ldc, start, last); break;
    case 2: tile<2>(a, lda, panel, kc, c, ldc, start, last); break;
    default: tile<1>(a, lda, panel, kc, c, ldc, start, last); break;
  }
}

// Output columns [16 p_begin, 16 p_end) for all M rows, the epilogue applied as the last inner
// block is stored.
void panels_product(const float* a, int64_t lda, int64_t M, const PackedWeight& w,
                    const float* bias, const Epilogue& epilogue, int64_t p_begin, int64_t p_end,
                    float* out) {
  const int64_t N = w.out_features, K = w.in_features;
  for (int64_t i0 = 0; i0 < M; i0 += kRowBlock) {
    const int64_t i1 = std::min(M, i0 + kRowBlock);
    for (int64_t k0 = 0; k0 < K; k0 += kInnerBlock) {
      const int64_t kc = std::min(K, k0 + kInnerBlock) - k0;
      const bool last_block = k0 + kc == K;
      for (int64_t p = p_begin; p < p_end; ++p) {
        const int64_t n0 = p * kPanelWidth, width = std::min(kPanelWidth, N - n0);
        const float* panel = w.panels.data() + (p * K + k0) * kPanelWidth;
        std::array<float, kPanelWidth> start{};  // the bias of these 16 columns, zero past N
        if (bias) std::copy(bias + n0, bias + n0 + width, start.begin());
        const float* tile_start = k0 == 0 ? start.data() : nullptr;
        for (int64_t i = i0; i < i1; i += kTileRows) {
          const int rows = static_cast<int>(std::min<int64_t>(kTileRows, i1 - i));
          const float* a_tile = a + i * lda + k0;
          if (width == kPanelWidth) {
            const Epilogue here = epilogue.at(i, n0);
            run_tile(rows, a_tile, lda, panel, kc, out + i * N + n0, N, tile_start,
                     last_block ? &here : nullptr);
            continue;
          }
          // The last, partial panel: through a full-width scratch tile, with the epilogue applied
          // to the columns that exist as they are copied out.
          std::array<float, kTileRows * kPanelWidth> scratch{};
          for (int r = 0; r < rows; ++r)
            std::copy_n(out + (i + r) * N + n0, width, scratch.data() + r * kPanelWidth);
          run_tile(rows, a_tile, lda, panel, kc, scratch.data(), kPanelWidth, tile_start, nullptr);
          for (int r = 0; r < rows; ++r) {
            float* row = scratch.data() + r * kPanelWidth;
            if (last_block && epilogue.relu)
              for (int64_t j = 0; j < width; ++j) row[j] = std::max(row[j], 0.0f);
            if (last_block && epilogue.residual)
              for (int64_t j = 0; j < width; ++j) row[j] += epilogue.residual[(i + r) * epilogue.ld + n0 + j];
            std::copy_n(row, width, out + (i + r) * N + n0);
          }
        }
      }
    }
  }
}

}  // namespace

bool holds_packed_weight(const Tensor& weight) {
  auto cached = std::dynamic_pointer_cast<const PackedViews>(weight.storage()->derived_cache());
  if (!cached || weight.dim() != 2) return false;
  return std::any_of(cached->views.begin(), cached->views.end(), [&](const auto& view) {
    return view->packed && view->describes(weight);
  });
}

Tensor CpuBackend::inference_linear(const Tensor& rows, const Tensor& weight, const Tensor& bias,
                                    bool relu, const Tensor& residual) {
  if (rows.dtype() != DType::f32 || rows.dim() != 2 || weight.dim() != 2) return Tensor();
  const int64_t M = rows.shape()[0], K = rows.shape()[1], N = weight.shape()[0];
  const int64_t lda = rows.strides()[0];
  if (M < kMinRows || K == 0 || N == 0 || rows.strides()[1] != 1 || lda < K ||
      !weight.is_contiguous() || (bias.defined() && !bias.is_contiguous()))
    return Tensor();
  // The residual is read a tile row at a time: its rows must be runs of N floats.
  if (residual.defined() && (residual.dtype() != DType::f32 || residual.shape() != Shape{M, N} ||
                             residual.strides()[1] != 1 || residual.strides()[0] < N))
    return Tensor();
  const std::shared_ptr<const PackedWeight> packed = find_or_pack(weight);
  if (!packed) return Tensor();

  Tensor out = Tensor::empty({M, N}, DType::f32);
  const float* a = rows.data<float>();
  const float* bias_data = bias.defined() ? bias.data<float>() : nullptr;
  float* c = out.data<float>();
  const Epilogue epilogue{relu, residual.defined() ? residual.data<float>() : nullptr,
                          residual.defined() ? residual.strides()[0] : 0};
  const int64_t panels = (N + kPanelWidth - 1) / kPanelWidth;
  const int64_t chunks = (panels + kPanelsPerChunk - 1) / kPanelsPerChunk;
  const int threads = worth_splitting(M * N * K, kParallelGemmWork) ? num_threads() : 1;
  parallel_chunks(chunks, threads, [&](int64_t chunk, int) {
    const int64_t p_begin = chunk * kPanelsPerChunk;
    const int64_t p_end = std::min(panels, p_begin + kPanelsPerChunk);
    panels_product(a, lda, M, *packed, bias_data, epilogue, p_begin, p_end, c);
  });
  return out;
}

#else  // no AVX2 + FMA: every linear layer goes through BLAS

bool holds_packed_weight(const Tensor&) { return false; }

Tensor CpuBackend::inference_linear(const Tensor&, const Tensor&, const Tensor&, bool,
                                    const Tensor&) {
  return Tensor();
}

#endif

}  // namespace dg::cpu
