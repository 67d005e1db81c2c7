// Gradient checks for the reductions (engine/ops/reduce.cpp): the primitives with their own node
// (sum, amax, amin, max_dim, min_dim, logsumexp, cumsum) over all dims, some dims, negative dims
// and keepdim, and the composed ones (mean, var, std, norm) under the op they mostly exercise.
// max/min are discontinuous at ties, so their inputs are spread-out distinct values.
#include <limits>

#include "tests/engine/gradcheck_registry.h"
#include "tests/engine/test_util.h"

namespace dg::test {
namespace {

using Inputs = std::vector<Tensor>;

// One input in [lo, hi).
std::function<Inputs()> input(Shape shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  return [=] { return Inputs{grad_input(shape, seed, lo, hi)}; };
}

// A shuffled evenly spaced grid in (-1, 1): neighbours are 2/n apart, far beyond the check's
// eps, so no max or min sits at a near-tie; the quarter-step offset keeps |x| free of ties too
// (and 0 out). i -> i * 7919 mod n is a permutation (7919 is prime, larger than any n used here).
std::function<Inputs()> distinct_input(Shape shape) {
  return [=] {
    const int64_t n = numel(shape);
    std::vector<double> v(n);
    for (int64_t i = 0; i < n; ++i) v[i] = -1.0 + (2.0 * static_cast<double>((i * 7919) % n) + 0.5) / n;
    return Inputs{from_vector(v, shape).set_requires_grad(true)};
  };
}

// ---- sum and mean
RegisterGradcheck sum_all{{OpId::sum, "sum [3,4] all dims", input({3, 4}, 1),
                           [](const Inputs& x) { return sum(x[0]); }}};
RegisterGradcheck sum_dim{{OpId::sum, "sum [2,3,4] dim 1", input({2, 3, 4}, 2),
                           [](const Inputs& x) { return sum(x[0], {1}); }}};
RegisterGradcheck sum_dims_keep{{OpId::sum, "sum [2,3,4] dims {0,-1} keepdim", input({2, 3, 4}, 3),
                                 [](const Inputs& x) { return sum(x[0], {0, -1}, true); }}};
RegisterGradcheck sum_transposed{{OpId::sum, "sum of transposed [3,4] dim 0", input({3, 4}, 4),
                                  [](const Inputs& x) { return sum(transpose(x[0], 0, 1), {0}); }}};
RegisterGradcheck mean_dims{{OpId::sum, "mean [2,3,4] dims {0,2} keepdim", input({2, 3, 4}, 5),
                             [](const Inputs& x) { return mean(x[0], {0, 2}, true); }}};

// ---- amax, amin, max(x), min(x)
RegisterGradcheck amax_all{{OpId::amax, "amax [3,4] all dims", distinct_input({3, 4}),
                            [](const Inputs& x) { return amax(x[0]); }}};
RegisterGradcheck amax_dim{{OpId::amax, "amax [2,3,4] dim -1", distinct_input({2, 3, 4}),
                            [](const Inputs& x) { return amax(x[0], {-1}); }}};
RegisterGradcheck amax_dims_keep{{OpId::amax, "amax [2,3,4] dims {0,2} keepdim",
                                  distinct_input({2, 3, 4}),
                                  [](const Inputs& x) { return amax(x[0], {0, 2}, true); }}};
RegisterGradcheck max_all{{OpId::amax, "max [5] (all elements)", distinct_input({5}),
                           [](const Inputs& x) { return max(x[0]); }}};
RegisterGradcheck amin_all{{OpId::amin, "amin [3,4] all dims", distinct_input({3, 4}),
                            [](const Inputs& x) { return amin(x[0]); }}};
RegisterGradcheck amin_dim{{OpId::amin, "amin [2,3,4] dim 1 keepdim", distinct_input({2, 3, 4}),
                            [](const Inputs& x) { return amin(x[0], {1}, true); }}};
RegisterGradcheck min_all{{OpId::amin, "min [2,3] (all elements)", distinct_input({2, 3}),
                           [](const Inputs& x) { return min(x[0]); }}};

// ---- max/min along a dim
RegisterGradcheck max_dim1{{OpId::max_dim, "max [3,4] dim 1", distinct_input({3, 4}),
                            [](const Inputs& x) { return std::get<0>(max(x[0], 1)); }}};
RegisterGradcheck max_dim0_keep{{OpId::max_dim, "max [3,4] dim 0 keepdim", distinct_input({3, 4}),
                                 [](const Inputs& x) { return std::get<0>(max(x[0], 0, true)); }}};
RegisterGradcheck max_dim_mid{{OpId::max_dim, "max [2,3,4] dim -2", distinct_input({2, 3, 4}),
                               [](const Inputs& x) { return std::get<0>(max(x[0], -2)); }}};
RegisterGradcheck max_dim_transposed{
    {OpId::max_dim, "max of transposed [3,4] dim 1", distinct_input({3, 4}),
     [](const Inputs& x) { return std::get<0>(max(transpose(x[0], 0, 1), 1)); }}};
RegisterGradcheck min_dim1{{OpId::min_dim, "min [3,4] dim 1", distinct_input({3, 4}),
                            [](const Inputs& x) { return std::get<0>(min(x[0], 1)); }}};
RegisterGradcheck min_dim_keep{{OpId::min_dim, "min [2,3,4] dim 0 keepdim",
                                distinct_input({2, 3, 4}),
                                [](const Inputs& x) { return std::get<0>(min(x[0], 0, true)); }}};

// ---- logsumexp
RegisterGradcheck lse_dim{{OpId::logsumexp, "logsumexp [3,4] dim 1", input({3, 4}, 11),
                           [](const Inputs& x) { return logsumexp(x[0], {1}); }, true}};
RegisterGradcheck lse_all_keep{{OpId::logsumexp, "logsumexp [3,4] dims {0,1} keepdim",
                                input({3, 4}, 12),
                                [](const Inputs& x) { return logsumexp(x[0], {0, 1}, true); }}};
RegisterGradcheck lse_large{{OpId::logsumexp, "logsumexp [2,3,4] dim -1, values near 500",
                             input({2, 3, 4}, 13, 500.0, 502.0),
                             [](const Inputs& x) { return logsumexp(x[0], {-1}); }}};

// ---- cumsum
RegisterGradcheck cumsum_1d{{OpId::cumsum, "cumsum [5] dim 0", input({5}, 21),
                             [](const Inputs& x) { return cumsum(x[0], 0); }}};
RegisterGradcheck cumsum_rows{{OpId::cumsum, "cumsum [3,4] dim 1", input({3, 4}, 22),
                               [](const Inputs& x) { return cumsum(x[0], 1); }}};
RegisterGradcheck cumsum_cols{{OpId::cumsum, "cumsum [3,4] dim 0", input({3, 4}, 23),
                               [](const Inputs& x) { return cumsum(x[0], 0); }}};
RegisterGradcheck cumsum_mid{{OpId::cumsum, "cumsum [2,3,4] dim -2", input({2, 3, 4}, 24),
                              [](const Inputs& x) { return cumsum(x[0], -2); }}};

// ---- second order. The linear and piecewise-linear ops above have gradients that do not depend
// on x, so here they act on x * x: the double backward then runs through their backward formulas.
RegisterGradcheck sum_sq{{OpId::sum, "sum(x*x) [2,3] dim 1, second order", input({2, 3}, 41),
                          [](const Inputs& x) { return sum(x[0] * x[0], {1}); }, true}};
RegisterGradcheck amax_sq{{OpId::amax, "amax(x*x) [3,4] dim 0, second order",
                           distinct_input({3, 4}),
                           [](const Inputs& x) { return amax(x[0] * x[0], {0}); }, true}};
RegisterGradcheck max_dim_sq{{OpId::max_dim, "max(x*x) [3,4] dim 1, second order",
                              distinct_input({3, 4}),
                              [](const Inputs& x) { return std::get<0>(max(x[0] * x[0], 1)); },
                              true}};
RegisterGradcheck cumsum_sq{{OpId::cumsum, "cumsum(x*x) [3,4] dim 1, second order",
                             input({3, 4}, 42),
                             [](const Inputs& x) { return cumsum(x[0] * x[0], 1); }, true}};

// ---- composed: var, std, norm
RegisterGradcheck var_all{{OpId::sum, "var [3,4] all dims", input({3, 4}, 31),
                           [](const Inputs& x) { return var(x[0]); }, true}};
RegisterGradcheck var_dim_pop{{OpId::sum, "var [3,4] dim 1 correction 0 keepdim",
                               input({3, 4}, 32),
                               [](const Inputs& x) { return var(x[0], {1}, 0, true); }}};
RegisterGradcheck std_dims{{OpId::sum, "std [2,3,4] dims {0,2}", input({2, 3, 4}, 33),
                            [](const Inputs& x) { return dg::std(x[0], {0, 2}); }}};
RegisterGradcheck norm2_all{{OpId::sum, "norm p=2 [3,4]", input({3, 4}, 34),
                             [](const Inputs& x) { return norm(x[0]); }, true}};
RegisterGradcheck norm2_dim{{OpId::sum, "norm p=2 [3,4] dim 1 keepdim", input({3, 4}, 35),
                             [](const Inputs& x) { return norm(x[0], 2.0, {1}, true); }}};
RegisterGradcheck norm1{{OpId::sum, "norm p=1 [3,4] dim 0", input({3, 4}, 36, 0.1, 1.0),
                         [](const Inputs& x) { return norm(x[0], 1.0, {0}); }}};
RegisterGradcheck norm3{{OpId::sum, "norm p=3 [2,3,4] dim -1", input({2, 3, 4}, 37),
                         [](const Inputs& x) { return norm(x[0], 3.0, {-1}); }}};
RegisterGradcheck norm_inf{{OpId::amax, "norm p=inf [3,4] dim 1", distinct_input({3, 4}),
                            [](const Inputs& x) {
                              return norm(x[0], std::numeric_limits<double>::infinity(), {1});
                            }}};

}  // namespace
}  // namespace dg::test
