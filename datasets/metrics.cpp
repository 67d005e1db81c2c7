// Classification and correlation metrics (see metrics.h).
#include "datasets/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "engine/error.h"
#include "engine/ops/ops.h"

namespace dg::data {
namespace {

template <class A, class B>
void check_pair(std::span<A> a, std::span<B> b, const char* op) {
  check(a.size() == b.size(), "{}: {} predictions but {} labels", op, a.size(), b.size());
  check(!a.empty(), "{}: no examples", op);
}

std::vector<int64_t> class_ids(const Tensor& t, const char* op, const char* what) {
  if (is_floating(t.dtype())) {
    check(t.dim() == 2,
          "{}: floating {} must be scores of shape [N, C], got {}; pass class ids as "
          "an integer tensor of shape [N]",
          op, what, t.shape());
    return argmax(t, 1).to_vector<int64_t>();
  }
  check(t.dim() == 1, "{}: {} of class ids must have shape [N], got {}", op, what, t.shape());
  return t.to_vector<int64_t>();
}

}  // namespace

double accuracy(std::span<const int64_t> predictions, std::span<const int64_t> labels) {
  check_pair(predictions, labels, "accuracy");
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) correct += predictions[i] == labels[i];
  return static_cast<double>(correct) / static_cast<double>(labels.size());
}

double binary_f1(std::span<const int64_t> predictions, std::span<const int64_t> labels) {
  check_pair(predictions, labels, "binary_f1");
  int64_t tp = 0, fp = 0, fn = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const int64_t p = predictions[i], y = labels[i];
    check((p == 0 || p == 1) && (y == 0 || y == 1),
          "binary_f1: binary metric, but example {} has prediction {} and label {}", i, p, y);
    tp += p && y;
    fp += p && !y;
    fn += !p && y;
  }
  return tp == 0 ? 0.0 : 2.0 * tp / static_cast<double>(2 * tp + fp + fn);
}

double macro_f1(std::span<const int64_t> predictions, std::span<const int64_t> labels) {
  check_pair(predictions, labels, "macro_f1");
  struct Counts {
    int64_t tp = 0, fp = 0, fn = 0;
  };
  std::map<int64_t, Counts> per_class;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (predictions[i] == labels[i]) {
      ++per_class[labels[i]].tp;
    } else {
      ++per_class[predictions[i]].fp;
      ++per_class[labels[i]].fn;
    }
  }
  double sum = 0;
  for (const auto& [cls, c] : per_class)
    sum += 2.0 * c.tp / static_cast<double>(2 * c.tp + c.fp + c.fn);
  return sum / static_cast<double>(per_class.size());
}

double matthews_corrcoef(std::span<const int64_t> predictions, std::span<const int64_t> labels) {
  check_pair(predictions, labels, "matthews_corrcoef");
  double tp = 0, tn = 0, fp = 0, fn = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const int64_t p = predictions[i], y = labels[i];
    check((p == 0 || p == 1) && (y == 0 || y == 1),
          "matthews_corrcoef: binary metric, but example {} has prediction {} and label {}", i, p,
          y);
    tp += p && y;
    tn += !p && !y;
    fp += p && !y;
    fn += !p && y;
  }
  const double denominator = std::sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn));
  return denominator == 0 ? 0.0 : (tp * tn - fp * fn) / denominator;
}

double pearson(std::span<const double> x, std::span<const double> y) {
  check_pair(x, y, "pearson");
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx == 0 || syy == 0) return std::numeric_limits<double>::quiet_NaN();
  // Rounding can push |r| a hair past 1 for perfectly correlated inputs.
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

std::vector<double> average_ranks(std::span<const double> x) {
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> ranks(x.size());
  for (size_t start = 0; start < order.size();) {
    size_t end = start + 1;
    while (end < order.size() && x[order[end]] == x[order[start]]) ++end;
    // Positions start .. end-1 hold equal values: ranks start+1 .. end, averaged.
    const double rank = (static_cast<double>(start + 1) + static_cast<double>(end)) / 2.0;
    for (size_t k = start; k < end; ++k) ranks[order[k]] = rank;
    start = end;
  }
  return ranks;
}

double spearman(std::span<const double> x, std::span<const double> y) {
  check_pair(x, y, "spearman");
  for (size_t i = 0; i < x.size(); ++i)
    check(!std::isnan(x[i]) && !std::isnan(y[i]), "spearman: NaN at position {}", i);
  const std::vector<double> rx = average_ranks(x), ry = average_ranks(y);
  return pearson(rx, ry);
}

// ---------------------------------------------------------------- tensor forms

double accuracy(const Tensor& predictions, const Tensor& labels) {
  return accuracy(class_ids(predictions, "accuracy", "predictions"),
                  class_ids(labels, "accuracy", "labels"));
}

double binary_f1(const Tensor& predictions, const Tensor& labels) {
  return binary_f1(class_ids(predictions, "binary_f1", "predictions"),
                   class_ids(labels, "binary_f1", "labels"));
}

double macro_f1(const Tensor& predictions, const Tensor& labels) {
  return macro_f1(class_ids(predictions, "macro_f1", "predictions"),
                  class_ids(labels, "macro_f1", "labels"));
}

double matthews_corrcoef(const Tensor& predictions, const Tensor& labels) {
  return matthews_corrcoef(class_ids(predictions, "matthews_corrcoef", "predictions"),
                           class_ids(labels, "matthews_corrcoef", "labels"));
}

double pearson(const Tensor& x, const Tensor& y) {
  return pearson(x.to_vector<double>(), y.to_vector<double>());
}

double spearman(const Tensor& x, const Tensor& y) {
  return spearman(x.to_vector<double>(), y.to_vector<double>());
}

}  // namespace dg::data
