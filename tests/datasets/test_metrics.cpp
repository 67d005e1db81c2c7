// Metrics against values computed by hand (the derivations are in the comments) and by scikit-learn
// / SciPy definitions: accuracy, macro-F1, Matthews correlation, Pearson, Spearman with ties.
#include <catch2/catch.hpp>
#include <cmath>

#include "datasets/metrics.h"
#include "engine/ops/ops.h"

using namespace dg;
using namespace dg::data;

using I = std::vector<int64_t>;
using D = std::vector<double>;

TEST_CASE("metrics: accuracy and macro-F1", "[datasets][metrics]") {
  const I labels = {0, 0, 1, 1, 2, 2};
  const I preds = {0, 1, 1, 1, 0, 2};
  CHECK(accuracy(preds, labels) == Approx(4.0 / 6.0));
  // Class 0: TP 1, FP 1, FN 1 -> F1 = 2/4. Class 1: TP 2, FP 1, FN 0 -> 4/5. Class 2: TP 1, FP 0,
  // FN 1 -> 2/3. Mean: (0.5 + 0.8 + 0.6667) / 3 = 0.65556.
  CHECK(macro_f1(preds, labels) == Approx((0.5 + 0.8 + 2.0 / 3.0) / 3.0));
  // A class that is only predicted counts with F1 = 0 (scikit-learn's default label set).
  CHECK(macro_f1(I{0, 3}, I{0, 0}) == Approx((2.0 / 3.0 + 0.0) / 2.0));
  CHECK(macro_f1(labels, labels) == 1.0);

  // Tensor forms: ids, or [N, C] scores through argmax.
  CHECK(accuracy(from_vector(preds), from_vector(labels)) == Approx(4.0 / 6.0));
  const Tensor scores = tensor({0.9f, 0.1f, 0.0f, 0.2f, 0.7f, 0.1f, 0.1f, 0.1f, 0.8f}, {3, 3});
  CHECK(accuracy(scores, tensor_i64({0, 1, 1})) == Approx(2.0 / 3.0));
  CHECK_THROWS_WITH(accuracy(tensor({1.0f, 0.0f}), tensor_i64({1, 0})), Catch::Contains("[N, C]"));
  CHECK_THROWS_WITH(accuracy(I{1, 2}, I{1}), Catch::Contains("2 predictions but 1 labels"));
  CHECK_THROWS_WITH(accuracy(I{}, I{}), Catch::Contains("no examples"));
}

TEST_CASE("metrics: binary F1 (of class 1)", "[datasets][metrics]") {
  // TP 3 (positions 0-2), FN 2 (3, 4), TN 2 (5, 6), FP 1 (7): F1 = 6 / (6 + 1 + 2) = 2/3;
  // precision 3/4, recall 3/5, harmonic mean 2 * (9/20) / (27/20) = 2/3 as well.
  const I labels = {1, 1, 1, 1, 1, 0, 0, 0};
  const I preds = {1, 1, 1, 0, 0, 0, 0, 1};
  CHECK(binary_f1(preds, labels) == Approx(2.0 / 3.0));
  CHECK(binary_f1(labels, labels) == 1.0);
  // Swapping roles of prediction and label leaves F1 unchanged (FP and FN trade places).
  CHECK(binary_f1(labels, preds) == Approx(2.0 / 3.0));
  // No positive predicted or present: 0 (scikit-learn's zero_division default).
  CHECK(binary_f1(I{0, 0, 0}, I{0, 0, 0}) == 0.0);
  CHECK(binary_f1(I{0, 0}, I{1, 1}) == 0.0);
  CHECK_THROWS_WITH(binary_f1(I{2, 0}, I{1, 0}), Catch::Contains("binary_f1: binary metric"));
  CHECK(binary_f1(from_vector(preds), from_vector(labels)) == Approx(2.0 / 3.0));
}

TEST_CASE("metrics: Matthews correlation", "[datasets][metrics]") {
  // TP 3, TN 2, FP 1, FN 2: (6 - 2) / sqrt(4 * 5 * 3 * 4) = 4 / sqrt(240) = 0.2581989.
  const I labels = {1, 1, 1, 1, 1, 0, 0, 0};
  const I preds = {1, 1, 1, 0, 0, 0, 0, 1};
  CHECK(matthews_corrcoef(preds, labels) == Approx(4.0 / std::sqrt(240.0)));
  CHECK(matthews_corrcoef(labels, labels) == Approx(1.0));
  I flipped;
  for (int64_t y : labels) flipped.push_back(1 - y);
  CHECK(matthews_corrcoef(flipped, labels) == Approx(-1.0));
  // Constant predictions: denominator 0, defined as 0 (as scikit-learn).
  CHECK(matthews_corrcoef(I(8, 1), labels) == 0.0);
  CHECK_THROWS_WITH(matthews_corrcoef(I{2, 0}, I{1, 0}), Catch::Contains("binary"));
  CHECK(matthews_corrcoef(from_vector(preds), from_vector(labels)) ==
        Approx(4.0 / std::sqrt(240.0)));
}

TEST_CASE("metrics: Pearson and Spearman (with ties)", "[datasets][metrics]") {
  // x = 1..5, y = 2, 4, 5, 4, 5: mean x 3, mean y 4; sxy = 6, sxx = 10, syy = 6 -> 6 / sqrt(60).
  const D x = {1, 2, 3, 4, 5};
  const D y = {2, 4, 5, 4, 5};
  CHECK(pearson(x, y) == Approx(6.0 / std::sqrt(60.0)));
  // Ranks of y with ties averaged: 1, 2.5, 4.5, 2.5, 4.5; Pearson with ranks of x (1..5):
  // mean 3; sxy = (-2)(-2) + (-1)(-0.5) + 0 + (1)(-0.5) + 2(1.5) = 7; syy = 4+0.25+2.25+0.25+2.25 =
  // 9
  // -> 7 / sqrt(10 * 9) = 0.7378648.
  CHECK(average_ranks(y) == D{1, 2.5, 4.5, 2.5, 4.5});
  CHECK(spearman(x, y) == Approx(7.0 / std::sqrt(90.0)));
  // A monotone but non-linear relation: Spearman 1, Pearson below 1.
  const D cubes = {1, 8, 27, 64, 125};
  CHECK(spearman(x, cubes) == Approx(1.0));
  CHECK(pearson(x, cubes) < 0.99);
  CHECK(pearson(x, D{5, 4, 3, 2, 1}) == Approx(-1.0));
  CHECK(std::isnan(pearson(x, D{1, 1, 1, 1, 1})));
  CHECK(spearman(tensor({1, 2, 3, 4, 5}), tensor({2, 4, 5, 4, 5})) ==
        Approx(7.0 / std::sqrt(90.0)));
  CHECK_THROWS_WITH(spearman(D{1, NAN}, D{1, 2}), Catch::Contains("NaN at position 1"));
}
