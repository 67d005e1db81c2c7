// Reference kernel for scaled dot-product attention without a graph (the inference_attention
// entry): for every batch b, head h and query i, the scores s_j = scale q_i . k_j + additive[i, j]
// over the keys j that are not masked, their softmax p_j, and the output sum_j p_j v_j, written
// to out[b, i, h, :]. A query whose every key is masked gets zeros when a bool mask is given; a
// row of scores that is all -inf, or holds NaN or +inf, comes out NaN, as the composed softmax
// gives.
#include <cmath>
#include <limits>
#include <vector>

#include "engine/reference/element_access.h"
#include "engine/reference/reference_backend.h"

namespace dg::reference {

Tensor ReferenceBackend::inference_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const Tensor& masked, const Tensor& additive,
                                             double scale) {
  const int64_t B = q.shape()[0], H = q.shape()[1], Lq = q.shape()[2], D = q.shape()[3];
  const int64_t Lk = k.shape()[2];
  Tensor out = Tensor::empty({B, Lq, H, D}, q.dtype(), q.device());
  visit_floating(q.dtype(), "inference_attention", [&]<class T>() {
    std::vector<double> score(Lk);
    std::vector<bool> kept(Lk);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < Lq; ++i) {
          // Scores of the kept keys, and their maximum (NaN if any score is NaN).
          double max_score = -std::numeric_limits<double>::infinity();
          bool any_kept = false;
          for (int64_t j = 0; j < Lk; ++j) {
            kept[j] = !masked.defined() || !at<bool>(masked, b, h, i, j);
            if (!kept[j]) continue;
            double s = 0;
            for (int64_t d = 0; d < D; ++d)
              s += static_cast<double>(at<T>(q, b, h, i, d)) *
                   static_cast<double>(at<T>(k, b, h, j, d));
            s *= scale;
            if (additive.defined()) s += static_cast<double>(at<T>(additive, i, j));
            score[j] = s;
            any_kept = true;
            max_score =
                std::isnan(s) || std::isnan(max_score) ? std::nan("") : std::max(max_score, s);
          }
          // Softmax over the kept keys (subtracting the maximum keeps exp in range).
          double total = 0;
          for (int64_t j = 0; j < Lk; ++j)
            if (kept[j]) total += std::exp(score[j] - max_score);
          for (int64_t d = 0; d < D; ++d) {
            double sum = 0;
            for (int64_t j = 0; j < Lk; ++j)
              if (kept[j])
                sum += std::exp(score[j] - max_score) / total *
                       static_cast<double>(at<T>(v, b, h, j, d));
            at<T>(out, b, i, h, d) = any_kept ? static_cast<T>(sum) : T(0);
          }
        }
  });
  return out;
}

}  // namespace dg::reference
