// Random numbers that are the same on every run and every platform. A Generator is xoshiro256**
// (Blackman and Vigna) seeded through splitmix64, written out by hand; everything built on it
// (uniform and normal floats, bounded integers) uses only integer arithmetic, IEEE-exact float
// operations (+ - * / sqrt, fma) and a logarithm implemented here with those operations, never
// libm's transcendental functions or std::*_distribution, whose results differ between libraries.
// So a seed fixes every bit of every tensor below, on any compiler and CPU.
//
// The creation ops (rand, randn, randint, bernoulli, randperm) draw from the Generator passed in,
// or from the process-wide default one that dg::manual_seed reseeds. Values are generated on the
// CPU, in row-major order, and copied to the requested device afterwards, so a CUDA tensor holds
// exactly the numbers its CPU twin would.
#pragma once

#include <array>
#include <cstdint>

#include "engine/tensor.h"

namespace dg {

class Generator {
 public:
  static constexpr uint64_t kDefaultSeed = 0x9E3779B97F4A7C15ull;

  explicit Generator(uint64_t seed = kDefaultSeed) { manual_seed(seed); }

  // Restarts the stream: the same seed gives the same numbers from here on.
  void manual_seed(uint64_t seed);
  uint64_t initial_seed() const { return seed_; }

  // 64 uniformly random bits (xoshiro256**).
  uint64_t next_u64();
  // Uniform in [0, 1): the top 53 bits (double) or 24 bits (float) of next_u64, scaled exactly.
  double next_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  float next_float() { return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f; }
  // Uniform in [0, bound), without modulo bias; bound must be > 0.
  uint64_t next_below(uint64_t bound);
  // Standard normal, by Marsaglia's polar method: each accepted pair of uniforms gives two
  // normals; the second is kept for the next call.
  double next_normal();

  // A Generator is a plain value: copy it to save its state, assign the copy back to restore it.

 private:
  std::array<uint64_t, 4> s_{};
  uint64_t seed_ = kDefaultSeed;
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

// The process-wide generator used when no Generator is passed. The creation ops below lock it
// while they draw, so they may be called from several threads; code that calls its methods
// directly must not share it between threads.
Generator& default_generator();
// Reseeds the default generator.
void manual_seed(uint64_t seed);

// Uniform in [0, 1); dtype f32 or f64.
Tensor rand(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::f32,
            Device device = Device::cpu());
// Standard normal (mean 0, variance 1); dtype f32 or f64.
Tensor randn(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32,
             Device device = Device::cpu());
// Integers uniform in [low, high), as i64.
Tensor randint(int64_t low, int64_t high, const Shape& shape, Device device = Device::cpu());
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen,
               Device device = Device::cpu());
// 1 with probability p, else 0, in `dtype` (any dtype: bool gives true/false); p in [0, 1].
Tensor bernoulli(const Shape& shape, double p, DType dtype = DType::f32,
                 Device device = Device::cpu());
Tensor bernoulli(const Shape& shape, double p, Generator& gen, DType dtype = DType::f32,
                 Device device = Device::cpu());
// Elementwise: out[i] is 1 with probability probs[i] (each in [0, 1]), else 0; same shape, dtype
// (f32 or f64) and device as probs. Not differentiable (the result does not require grad).
Tensor bernoulli(const Tensor& probs);
Tensor bernoulli(const Tensor& probs, Generator& gen);
// A random permutation of 0 .. n-1 (i64), by Fisher-Yates.
Tensor randperm(int64_t n, Device device = Device::cpu());
Tensor randperm(int64_t n, Generator& gen, Device device = Device::cpu());

namespace detail {
// Natural logarithm of a positive finite x built from IEEE-exact operations only, so its result is
// the same on every platform (within 1 ulp of the true value). Used by next_normal; exposed for
// its test.
double portable_log(double x);
}  // namespace detail

}  // namespace dg
