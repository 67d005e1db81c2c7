// The seeded Generator and the random creation ops: the raw stream matches an independent
// implementation of xoshiro256** (so it is the same on every platform), the same seed gives
// bit-identical tensors, and the distributions have the right moments, ranges and frequencies.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "engine/ops/ops.h"
#include "engine/random.h"

using namespace dg;

namespace {

// Bit-exact equality of two tensors' contents (NaN-safe, and -0 differs from +0).
bool bit_identical(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), ca.numel() * itemsize(ca.dtype())) == 0;
}

struct Moments {
  double mean, var;
};

Moments moments(const Tensor& t) {
  const std::vector<double> v = t.to_vector<double>();
  double mean = 0;
  for (double x : v) mean += x;
  mean /= v.size();
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  return {mean, var / v.size()};
}

}  // namespace

TEST_CASE("random: the raw stream is xoshiro256** seeded by splitmix64") {
  // Reference values from an independent (Python) implementation of the two published algorithms.
  Generator g0(0);
  CHECK(g0.next_u64() == 0x99EC5F36CB75F2B4ull);
  CHECK(g0.next_u64() == 0xBF6E1F784956452Aull);
  CHECK(g0.next_u64() == 0x1A5F849D4933E6E0ull);
  CHECK(g0.next_u64() == 0x6AA594F1262D2D2Cull);
  Generator g42(42);
  CHECK(g42.next_u64() == 0x15780B2E0C2EC716ull);
  CHECK(g42.next_u64() == 0x6104D9866D113A7Eull);
  CHECK(g42.initial_seed() == 42);
}

TEST_CASE("random: normals match the polar method computed with the platform's log") {
  // The same reference implementation, with Python's math.log instead of portable_log.
  Generator g(42);
  const double expected[] = {-0.7262191382447857, -0.21119691823195985, 0.2216227015035933,
                             0.5227716877560146};
  for (double e : expected) CHECK(g.next_normal() == Approx(e).epsilon(1e-14));
}

TEST_CASE("random: portable_log is within an ulp of std::log") {
  CHECK(detail::portable_log(1.0) == 0.0);
  std::vector<double> xs = {std::numeric_limits<double>::min(),
                            std::numeric_limits<double>::denorm_min(),
                            std::numeric_limits<double>::max(), 0.5, 2.0, 0.7071, 1.4142,
                            1.0 + 1e-12, 1.0 - 1e-12};
  Generator g(3);
  for (int i = 0; i < 20000; ++i) xs.push_back(std::ldexp(g.next_double() + 1e-300, -int(i % 60)));
  for (double x : xs) {
    const double mine = detail::portable_log(x), ref = std::log(x);
    INFO("x = " << x);
    CHECK(std::abs(mine - ref) <= 2 * std::abs(std::nextafter(ref, 0.0) - ref) + 1e-300);
  }
  CHECK_THROWS_WITH(detail::portable_log(0.0), Catch::Contains("positive finite"));
}

TEST_CASE("random: the same seed gives bit-identical tensors, different seeds differ") {
  auto draw_all = [](uint64_t seed) {
    Generator g(seed);
    return std::vector<Tensor>{rand({3, 50}, g),          rand({7}, g, DType::f64),
                               randn({4, 25}, g),         randn({101}, g, DType::f64),
                               randint(-5, 5, {60}, g),   bernoulli({40}, 0.3, g),
                               bernoulli(full({30}, 0.5, DType::f64), g), randperm(50, g)};
  };
  const auto a = draw_all(123), b = draw_all(123), c = draw_all(124);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("tensor " << i);
    CHECK(bit_identical(a[i], b[i]));
    CHECK_FALSE(bit_identical(a[i], c[i]));
  }
}

TEST_CASE("random: manual_seed restarts the default generator and a copied Generator replays") {
  manual_seed(7);
  const Tensor first = randn({64});
  const Tensor second = randn({64});
  CHECK_FALSE(bit_identical(first, second));
  manual_seed(7);
  CHECK(bit_identical(randn({64}), first));
  CHECK(default_generator().initial_seed() == 7);

  Generator g(99);
  g.next_normal();  // leaves a spare normal, which the copy must replay too
  Generator saved = g;
  const Tensor x = randn({33}, g);
  g = saved;
  CHECK(bit_identical(randn({33}, g), x));

  g.manual_seed(99);
  Generator fresh(99);
  CHECK(bit_identical(rand({10}, g), rand({10}, fresh)));
}

TEST_CASE("random: an explicit generator does not touch the default one") {
  manual_seed(5);
  const Tensor expected = rand({16});
  manual_seed(5);
  Generator other(5);
  rand({1000}, other);
  CHECK(bit_identical(rand({16}), expected));
}

TEST_CASE("random: rand is uniform, 0 <= x < 1") {
  Generator g(1);
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO(dtype_name(dtype));
    const Tensor t = rand({100000}, g, dtype);
    CHECK(t.dtype() == dtype);
    CHECK(t.shape() == Shape{100000});
    const std::vector<double> v = t.to_vector<double>();
    CHECK(*std::min_element(v.begin(), v.end()) >= 0.0);
    CHECK(*std::max_element(v.begin(), v.end()) < 1.0);
    const Moments m = moments(t);
    CHECK(m.mean == Approx(0.5).margin(0.005));
    CHECK(m.var == Approx(1.0 / 12).margin(0.002));
  }
  CHECK_THROWS_WITH(rand({2}, g, DType::i64), Catch::Contains("rand: expected a floating dtype"));
}

TEST_CASE("random: randn is standard normal") {
  Generator g(2);
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO(dtype_name(dtype));
    const Tensor t = randn({100000}, g, dtype);
    const Moments m = moments(t);
    CHECK(m.mean == Approx(0.0).margin(0.01));
    CHECK(m.var == Approx(1.0).margin(0.02));
    // The shape of the distribution, not only its moments: P(|z| < 1) = 0.6827, P(|z| < 2) = 0.9545.
    const std::vector<double> v = t.to_vector<double>();
    const double within1 = std::count_if(v.begin(), v.end(), [](double z) { return std::abs(z) < 1; });
    const double within2 = std::count_if(v.begin(), v.end(), [](double z) { return std::abs(z) < 2; });
    CHECK(within1 / v.size() == Approx(0.6827).margin(0.005));
    CHECK(within2 / v.size() == Approx(0.9545).margin(0.003));
  }
  CHECK_THROWS_WITH(randn({2}, g, DType::b8), Catch::Contains("randn: expected a floating dtype"));
}

TEST_CASE("random: randint stays within low <= x < high and hits every value") {
  Generator g(3);
  const Tensor t = randint(-3, 4, {2, 5000}, g);
  CHECK(t.dtype() == DType::i64);
  CHECK(t.shape() == Shape{2, 5000});
  const std::vector<int64_t> v = t.to_vector<int64_t>();
  const std::set<int64_t> seen(v.begin(), v.end());
  CHECK(seen == std::set<int64_t>{-3, -2, -1, 0, 1, 2, 3});
  // Each of the 7 values about 1/7 of the time.
  for (int64_t k = -3; k <= 3; ++k)
    CHECK(std::count(v.begin(), v.end(), k) / 10000.0 == Approx(1.0 / 7).margin(0.02));

  CHECK(randint(5, 6, {10}, g).to_vector<int64_t>() == std::vector<int64_t>(10, 5));
  // The full int64 range does not overflow.
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  const std::vector<int64_t> wide = randint(lo, hi, {200}, g).to_vector<int64_t>();
  CHECK(std::any_of(wide.begin(), wide.end(), [](int64_t x) { return x < 0; }));
  CHECK(std::any_of(wide.begin(), wide.end(), [](int64_t x) { return x > 0; }));
  CHECK_THROWS_WITH(randint(3, 3, {1}, g), Catch::Contains("randint: low (3) must be less than high (3)"));
}

TEST_CASE("random: bernoulli with a scalar probability") {
  Generator g(4);
  const Tensor t = bernoulli({100000}, 0.3, g);
  CHECK(t.dtype() == DType::f32);
  const Moments m = moments(t);
  CHECK(m.mean == Approx(0.3).margin(0.005));
  const std::vector<double> v = t.to_vector<double>();
  CHECK(std::all_of(v.begin(), v.end(), [](double x) { return x == 0.0 || x == 1.0; }));

  CHECK(sum(bernoulli({100}, 0.0, g)).item<double>() == 0.0);
  CHECK(sum(bernoulli({100}, 1.0, g)).item<double>() == 100.0);
  const Tensor mask = bernoulli({1000}, 0.5, g, DType::b8);
  CHECK(mask.dtype() == DType::b8);
  CHECK(sum(mask).item<int64_t>() == Approx(500).margin(60));
  CHECK_THROWS_WITH(bernoulli({3}, 1.5, g), Catch::Contains("bernoulli: probability 1.5 is outside [0, 1]"));
  CHECK_THROWS_WITH(bernoulli({3}, std::nan(""), g), Catch::Contains("outside [0, 1]"));
}

TEST_CASE("random: bernoulli with a tensor of probabilities") {
  Generator g(5);
  // Column j has probability j/4; 20000 rows.
  const Tensor probs = expand(linspace(0, 1, 5, DType::f64).reshape({1, 5}), {20000, 5});
  const Tensor draws = bernoulli(probs, g);
  CHECK(draws.dtype() == DType::f64);
  CHECK(draws.shape() == Shape{20000, 5});
  CHECK_FALSE(draws.requires_grad());
  const std::vector<double> freq = mean(draws, {0}).to_vector<double>();
  for (int j = 0; j < 5; ++j) CHECK(freq[j] == Approx(j / 4.0).margin(0.015));
  CHECK(freq[0] == 0.0);
  CHECK(freq[4] == 1.0);

  CHECK_THROWS_WITH(bernoulli(tensor({0.5f, -0.1f}), g),
                    Catch::Contains("bernoulli: probability -0.1") && Catch::Contains("flat index 1"));
  CHECK_THROWS_WITH(bernoulli(tensor_i64({0, 1}), g), Catch::Contains("bernoulli: probabilities must be f32 or f64"));
}

TEST_CASE("random: randperm is a permutation") {
  Generator g(6);
  for (int64_t n : {0, 1, 2, 17, 1000}) {
    INFO("n = " << n);
    const Tensor p = randperm(n, g);
    CHECK(p.dtype() == DType::i64);
    CHECK(p.shape() == Shape{n});
    std::vector<int64_t> v = p.to_vector<int64_t>();
    std::sort(v.begin(), v.end());
    std::vector<int64_t> expected(n);
    for (int64_t i = 0; i < n; ++i) expected[i] = i;
    CHECK(v == expected);
  }
  // Shuffled, not the identity; and every position sees many values across draws.
  CHECK(randperm(1000, g).to_vector<int64_t>() != arange(1000).to_vector<int64_t>());
  std::set<int64_t> first_values;
  for (int i = 0; i < 200; ++i) first_values.insert(randperm(5, g).to_vector<int64_t>()[0]);
  CHECK(first_values == std::set<int64_t>{0, 1, 2, 3, 4});
  CHECK_THROWS_WITH(randperm(-1, g), Catch::Contains("randperm: n must be non-negative"));
}
