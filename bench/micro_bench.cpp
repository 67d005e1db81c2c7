// The engine micro-benchmark: how close the engine's mechanism (op layer, allocator, dispatch,
// threading) comes to the raw libraries underneath it. In one run it prints
//   1. GFLOP/s of dg::matmul next to a raw cblas_sgemm call on the same f32 buffers (square 128 to
//      1024, plus two inference shapes), and raw sgemm forced onto one thread, which shows what
//      OpenBLAS's threads are worth on this machine at this moment;
//   2. GB/s of a broadcast add ([4096,4096] + [4096]) and a full sum over the same 16M floats,
//      next to a plain (one-thread) memcpy of the same 64 MiB;
//   3. the time of a small MLP training step (GEMMs and elementwise ops taking turns), where
//      OpenBLAS's threads and OpenMP's threads share the cores.
// Competitors are timed in alternation (engine, raw, engine, raw, ...) after a warm-up, so a load
// change on a shared machine hits both alike, and medians are compared. docs/performance.md
// records the figures and how to read them.
//
// Usage: micro_bench [seconds per row, default 1]
#include <cblas.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench/timing.h"
#include "engine/ops/ops.h"
#include "engine/cpu/parallel.h"

namespace {

using dg::bench::Timing;
using dg::bench::time_alternating;

dg::Tensor random_f32(const dg::Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> values(dg::numel(shape));
  for (float& v : values) v = dist(rng);
  return dg::from_vector(values, shape);
}

// ---------------------------------------------------------------- 1. matmul

// One row of the matmul table: [M,K] @ [K,N] through the engine, through cblas_sgemm on the same
// buffers with OpenBLAS's thread count as configured, and through cblas_sgemm on one thread.
void matmul_row(const std::string& label, int64_t M, int64_t K, int64_t N, double budget_s) {
  const dg::Tensor a = random_f32({M, K}, 1), b = random_f32({K, N}, 2);
  const dg::Tensor raw_out = dg::Tensor::empty({M, N});
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* pc = raw_out.data<float>();
  const int m = static_cast<int>(M), k = static_cast<int>(K), n = static_cast<int>(N);
  auto sgemm = [=] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, pa, k, pb, n, 0.0f, pc,
                n);
  };
  // Engine and sgemm alternate with each other only: each call then follows a call with the same
  // thread count, so neither pays more often for waking OpenBLAS's worker thread.
  const auto t = time_alternating({[&] { dg::matmul(a, b); }, sgemm}, budget_s);
  const int configured_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  const Timing one_thread = time_alternating({sgemm}, budget_s / 2)[0];
  openblas_set_num_threads(configured_threads);
  const double gflop = 2.0 * M * N * K * 1e-9;
  fmt::print("{:>18} {:>14.1f} {:>14.1f} {:>14.1f} {:>13.0f}%\n", label, gflop / t[0].median,
             gflop / t[1].median, gflop / one_thread.median, 100.0 * t[1].median / t[0].median);
}

void bench_matmul(double budget_s) {
  fmt::print("1. matmul, f32 row-major; GFLOP/s = 2 M N K / median seconds\n");
  fmt::print("{:>18} {:>14} {:>14} {:>14} {:>14}\n", "shape", "engine GFLOP/s", "sgemm GFLOP/s",
             "sgemm 1 thread", "engine/sgemm");
  for (int64_t n : {128, 256, 512, 1024}) matmul_row(fmt::format("n = {}", n), n, n, n, budget_s);
  // Batch-1 and small-batch inference, where per-call overhead and thread start-up show.
  matmul_row("[1,512]@[512,512]", 1, 512, 512, budget_s);
  matmul_row("[32,512]@[512,512]", 32, 512, 512, budget_s);
}

// ---------------------------------------------------------------- 2. bandwidth

void bench_bandwidth(double budget_s) {
  const int64_t rows = 4096, cols = 4096, n = rows * cols;
  const double f = sizeof(float);
  fmt::print("\n2. bandwidth over {} floats ({} MiB); bytes = bytes read + bytes written, each "
             "element counted once (no write-allocate traffic)\n",
             n, n * sizeof(float) >> 20);
  const dg::Tensor x = random_f32({rows, cols}, 3), bias = random_f32({cols}, 4);
  const dg::Tensor copy_dst = dg::zeros({rows, cols});  // touched, so no page faults when timed
  const auto t = time_alternating(
      {[&] { std::memcpy(copy_dst.raw_data(), x.raw_data(), n * sizeof(float)); },
       [&] { dg::add(x, bias); },  // allocates its output, as a real add does
       [&] { dg::sum(x); }},
      budget_s);
  struct Row {
    const char* name;
    double bytes;
    Timing time;
  };
  const Row table[] = {
      {"memcpy (one thread)", 2 * n * f, t[0]},                // read n, write n
      {"add [4096,4096] + [4096]", (2 * n + cols) * f, t[1]},  // read x and bias, write n
      {"sum [4096,4096] -> []", (n + 1) * f, t[2]},            // read n, write 1
  };
  const double memcpy_gbs = table[0].bytes / table[0].time.median * 1e-9;
  fmt::print("{:>26} {:>9} {:>8} {:>10}\n", "", "MB moved", "GB/s", "of memcpy");
  for (const Row& r : table) {
    const double gbs = r.bytes / r.time.median * 1e-9;
    fmt::print("{:>26} {:>9.1f} {:>8.2f} {:>9.0f}%\n", r.name, r.bytes * 1e-6, gbs,
               100.0 * gbs / memcpy_gbs);
  }
}

// ---------------------------------------------------------------- 3. GEMM and elementwise mixed

// CPU time this process has used (all its threads), in seconds.
double process_cpu_seconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// One training step of a 784-512-10 MLP: two GEMMs forward, four backward, bias adds, relu and
// its mask, sum; OpenBLAS and OpenMP take turns on the cores many times per step. The CPU time per
// step next to the wall time shows threads that burn CPU while waiting (spin-waiting pools).
void bench_mlp_step(double budget_s) {
  fmt::print("\n3. MLP training step [B,784] -> 512 -> relu -> 10, forward + backward\n");
  fmt::print("{:>8} {:>16} {:>16} {:>20}\n", "B", "median wall ms", "min wall ms",
             "process CPU ms/step");
  for (int64_t B : {1, 64, 256}) {
    const dg::Tensor x = random_f32({B, 784}, 5);
    dg::Tensor w1 = random_f32({784, 512}, 6).set_requires_grad();
    dg::Tensor b1 = random_f32({512}, 7).set_requires_grad();
    dg::Tensor w2 = random_f32({512, 10}, 8).set_requires_grad();
    dg::Tensor b2 = random_f32({10}, 9).set_requires_grad();
    auto step = [&] {
      for (dg::Tensor* p : {&w1, &b1, &w2, &b2}) p->zero_grad();
      const dg::Tensor h = dg::relu(dg::matmul(x, w1) + b1);
      const dg::Tensor out = dg::matmul(h, w2) + b2;
      dg::sum(out * out).backward();
    };
    const double cpu_start = process_cpu_seconds();
    const Timing t = time_alternating({step}, budget_s)[0];
    const double cpu_per_step = (process_cpu_seconds() - cpu_start) / t.calls;
    fmt::print("{:>8} {:>16.3f} {:>16.3f} {:>20.3f}\n", B, t.median * 1e3, t.min * 1e3,
               cpu_per_step * 1e3);
  }
}

std::string env_or_unset(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "unset";
}

}  // namespace

int main(int argc, char** argv) {
  const double budget_s = argc > 1 ? std::atof(argv[1]) : 1.0;
  fmt::print("dyngrad micro_bench: {}\n", openblas_get_config());
  fmt::print("OpenBLAS threads {}, engine threads {}; DG_NUM_THREADS={} OMP_NUM_THREADS={} "
             "OPENBLAS_NUM_THREADS={}\n",
             openblas_get_num_threads(), dg::num_threads(), env_or_unset("DG_NUM_THREADS"),
             env_or_unset("OMP_NUM_THREADS"), env_or_unset("OPENBLAS_NUM_THREADS"));
  fmt::print("medians over alternating timings after warm-up, ~{} s per row\n\n", budget_s);
  bench_matmul(budget_s);
  bench_bandwidth(budget_s);
  bench_mlp_step(budget_s);
  return 0;
}
