// The seeded Generator (xoshiro256** seeded by splitmix64), a portable logarithm for its normal
// numbers, and the random creation ops. See random.h for the determinism contract.
//
// Floating-point contraction (fusing a*b + c into one fma) is switched off for this file: GCC
// fuses by default wherever the CPU has fma, even across statements, which would make the
// logarithm below round differently from one -march to the next.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "engine/random.h"

#include <cmath>
#include <mutex>
#include <numeric>
#include <type_traits>
#include <utility>

#include "engine/backend.h"

namespace dg {

// ---------------------------------------------------------------- the generator

namespace {

// splitmix64 (Steele, Lea and Flood): spreads one 64-bit seed over xoshiro's 256 bits of state,
// so that nearby seeds (0, 1, 2, ...) give unrelated streams and the state is never all zero.
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

void Generator::manual_seed(uint64_t seed) {
  seed_ = seed;
  uint64_t x = seed;
  for (uint64_t& word : s_) word = splitmix64(x);
  has_spare_normal_ = false;
}

uint64_t Generator::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint64_t Generator::next_below(uint64_t bound) {
  check(bound > 0, "Generator::next_below: bound must be positive");
  // Draws below `threshold` (= 2^64 mod bound) are rejected, so that every residue is equally
  // likely; at most half of the draws are rejected, and for small bounds almost none.
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const uint64_t x = next_u64();
    if (x >= threshold) return x % bound;
  }
}

double Generator::next_normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  // Marsaglia's polar method: a point uniform in the unit disc (by rejection, accepting pi/4 of
  // the draws) gives two independent normals with one logarithm and one square root, both of
  // which are exact or portable here (std::sqrt is correctly rounded by IEEE 754).
  double u, v, s;
  do {
    u = 2.0 * next_double() - 1.0;
    v = 2.0 * next_double() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  const double factor = std::sqrt(-2.0 * detail::portable_log(s) / s);
  spare_normal_ = v * factor;
  has_spare_normal_ = true;
  return u * factor;
}

namespace detail {

// fdlibm's __ieee754_log (Sun Microsystems, 1993), whose error is below 1 ulp. x = 2^k (1 + f)
// with sqrt(2)/2 < 1 + f < sqrt(2); with s = f / (2 + f), log(1 + f) = 2 atanh(s)
// = f - hfsq + s (hfsq + R(s^2)), R a minimax polynomial. std::frexp splits x exactly.
double portable_log(double x) {
  check(x > 0 && std::isfinite(x), "portable_log: expected a positive finite value, got {}", x);
  constexpr double ln2_hi = 0x1.62e42feep-1, ln2_lo = 0x1.a39ef35793c76p-33;
  constexpr double Lg1 = 0x1.5555555555593p-1, Lg2 = 0x1.999999997fa04p-2,
                   Lg3 = 0x1.2492494229359p-2, Lg4 = 0x1.c71c51d8e78afp-3,
                   Lg5 = 0x1.7466496cb03dep-3, Lg6 = 0x1.39a09d078c69fp-3,
                   Lg7 = 0x1.2f112df3e5244p-3;
  int exponent = 0;
  double m = std::frexp(x, &exponent);  // x = m 2^exponent, m in [0.5, 1)
  if (m < 0x1.6a09e667f3bcdp-1) {       // sqrt(2)/2
    m *= 2.0;
    exponent -= 1;
  }
  const double k = exponent;
  const double f = m - 1.0;  // exact (Sterbenz)
  const double s = f / (2.0 + f);
  const double z = s * s;
  const double w = z * z;
  const double t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
  const double t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
  const double R = t2 + t1;
  const double hfsq = 0.5 * f * f;
  return k * ln2_hi - ((hfsq - (s * (hfsq + R) + k * ln2_lo)) - f);
}

}  // namespace detail

// ---------------------------------------------------------------- the default generator

namespace {

std::mutex& default_generator_mutex() {
  static std::mutex mutex;
  return mutex;
}

// Runs fill(generator) on the default generator while holding its lock.
template <class Fill>
Tensor with_default_generator(Fill&& fill) {
  std::lock_guard<std::mutex> lock(default_generator_mutex());
  return fill(default_generator());
}

}  // namespace

Generator& default_generator() {
  static Generator generator;
  return generator;
}

void manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(default_generator_mutex());
  default_generator().manual_seed(seed);
}

// ---------------------------------------------------------------- creation ops

namespace {

// Moves a freshly generated host tensor to `device` (a no-op on the CPU).
Tensor to_device(const Tensor& host, Device device) {
  if (device.is_cpu()) return host;
  Tensor out = Tensor::empty(host.shape(), host.dtype(), device);
  backend(device).copy_from_host(out.raw_data(), host.raw_data(),
                                 host.numel() * itemsize(host.dtype()));
  return out;
}

// A host tensor of `shape` and `dtype` whose i-th element (row-major) is next(T-tag) for i = 0, 1, ...
template <class Next>
Tensor generate(const Shape& shape, DType dtype, Next&& next) {
  Tensor t = Tensor::empty(shape, dtype);
  visit_dtype(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = next.template operator()<T>();
  });
  return t;
}

void check_probability(double p, std::string_view op) {
  check(p >= 0.0 && p <= 1.0, "{}: probability {} is outside [0, 1]", op, p);
}

}  // namespace

Tensor rand(const Shape& shape, Generator& gen, DType dtype, Device device) {
  check(is_floating(dtype), "rand: expected a floating dtype (f32 or f64), got {}", dtype);
  return to_device(generate(shape, dtype, [&]<class T>() -> T {
                     if constexpr (std::is_same_v<T, float>) return gen.next_float();
                     else return static_cast<T>(gen.next_double());
                   }),
                   device);
}

Tensor randn(const Shape& shape, Generator& gen, DType dtype, Device device) {
  check(is_floating(dtype), "randn: expected a floating dtype (f32 or f64), got {}", dtype);
  return to_device(
      generate(shape, dtype, [&]<class T>() -> T { return static_cast<T>(gen.next_normal()); }),
      device);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen, Device device) {
  check(low < high, "randint: low ({}) must be less than high ({})", low, high);
  // Unsigned arithmetic: the range of [INT64_MIN, INT64_MAX) does not fit in an int64_t.
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  return to_device(generate(shape, DType::i64,
                            [&]<class T>() -> T {
                              return static_cast<T>(static_cast<uint64_t>(low) +
                                                    gen.next_below(range));
                            }),
                   device);
}

Tensor bernoulli(const Shape& shape, double p, Generator& gen, DType dtype, Device device) {
  check_probability(p, "bernoulli");
  return to_device(generate(shape, dtype,
                            [&]<class T>() -> T { return static_cast<T>(gen.next_double() < p); }),
                   device);
}

Tensor bernoulli(const Tensor& probs, Generator& gen) {
  check(probs.defined(), "bernoulli: undefined tensor");
  check(is_floating(probs.dtype()), "bernoulli: probabilities must be f32 or f64, got {} {}",
        probs.dtype(), probs.shape());
  const std::vector<double> p = probs.to_vector<double>();
  for (size_t i = 0; i < p.size(); ++i)
    check(p[i] >= 0.0 && p[i] <= 1.0,
          "bernoulli: probability {} at flat index {} of a tensor of shape {} is outside [0, 1]",
          p[i], i, probs.shape());
  size_t i = 0;
  return to_device(generate(probs.shape(), probs.dtype(),
                            [&]<class T>() -> T { return static_cast<T>(gen.next_double() < p[i++]); }),
                   probs.device());
}

Tensor randperm(int64_t n, Generator& gen, Device device) {
  check(n >= 0, "randperm: n must be non-negative, got {}", n);
  Tensor t = Tensor::empty({n}, DType::i64);
  int64_t* p = t.data<int64_t>();
  std::iota(p, p + n, int64_t{0});
  // Fisher-Yates, from the back: position i takes a uniformly chosen element of p[0..i].
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(p[i], p[gen.next_below(static_cast<uint64_t>(i) + 1)]);
  return to_device(t, device);
}

// The same ops on the default generator.
Tensor rand(const Shape& shape, DType dtype, Device device) {
  return with_default_generator([&](Generator& g) { return rand(shape, g, dtype, device); });
}
Tensor randn(const Shape& shape, DType dtype, Device device) {
  return with_default_generator([&](Generator& g) { return randn(shape, g, dtype, device); });
}
Tensor randint(int64_t low, int64_t high, const Shape& shape, Device device) {
  return with_default_generator([&](Generator& g) { return randint(low, high, shape, g, device); });
}
Tensor bernoulli(const Shape& shape, double p, DType dtype, Device device) {
  return with_default_generator([&](Generator& g) { return bernoulli(shape, p, g, dtype, device); });
}
Tensor bernoulli(const Tensor& probs) {
  return with_default_generator([&](Generator& g) { return bernoulli(probs, g); });
}
Tensor randperm(int64_t n, Device device) {
  return with_default_generator([&](Generator& g) { return randperm(n, g, device); });
}

}  // namespace dg
