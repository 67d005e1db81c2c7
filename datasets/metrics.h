// Evaluation metrics as plain functions of predictions and labels, computed in double precision:
// accuracy, binary F1 (GLUE's MRPC and QQP metric), macro-averaged F1, Matthews correlation (binary, GLUE's CoLA metric), and Pearson and
// Spearman correlation (STS-B). Definitions follow scikit-learn and SciPy, so figures are
// comparable with published ones. Each has a vector form and a Tensor form (any dtype, on any
// device; values are copied to the host).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/tensor.h"

namespace dg::data {

// Fraction of positions where prediction == label.
double accuracy(std::span<const int64_t> predictions, std::span<const int64_t> labels);
// F1 of class 1 for 0/1 predictions and labels: 2 TP / (2 TP + FP + FN), 0 when there is no
// positive among either (scikit-learn's f1_score with its defaults, average="binary", pos_label=1,
// zero_division giving 0).
double binary_f1(std::span<const int64_t> predictions, std::span<const int64_t> labels);
// Mean over classes of F1 = 2 TP / (2 TP + FP + FN), over the classes that occur among the labels
// or the predictions (scikit-learn's f1_score(average="macro") without a `labels` argument).
double macro_f1(std::span<const int64_t> predictions, std::span<const int64_t> labels);
// (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) for 0/1 predictions and labels; 0 when
// the denominator is 0 (as scikit-learn's matthews_corrcoef).
double matthews_corrcoef(std::span<const int64_t> predictions, std::span<const int64_t> labels);
// Pearson's r; NaN when either input is constant (as SciPy).
double pearson(std::span<const double> x, std::span<const double> y);
// Spearman's rho: Pearson's r of the ranks, ties sharing their average rank.
double spearman(std::span<const double> x, std::span<const double> y);
// 1-based ranks with ties given the average of the ranks they span (SciPy's rankdata "average").
std::vector<double> average_ranks(std::span<const double> x);

// Tensor forms. `predictions` are class ids (integer or bool dtype, shape [N]) or scores of shape
// [N, C] (floating), turned into ids by argmax over dim 1; labels are [N].
double accuracy(const Tensor& predictions, const Tensor& labels);
double binary_f1(const Tensor& predictions, const Tensor& labels);
double macro_f1(const Tensor& predictions, const Tensor& labels);
double matthews_corrcoef(const Tensor& predictions, const Tensor& labels);
// x and y with the same number of elements (read in row-major order).
double pearson(const Tensor& x, const Tensor& y);
double spearman(const Tensor& x, const Tensor& y);

}  // namespace dg::data
