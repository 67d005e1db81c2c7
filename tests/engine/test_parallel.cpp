// Tests of the engine's thread pool (engine/cpu/parallel.h): every chunk runs exactly once, on one or
// two threads and from inside a region; an exception in a chunk reaches the caller; and the work
// threshold kernels split at (worth_splitting), the near-cores figure until the pool measures its
// threads far apart, then sixteen times more except for the probes that keep it measuring, with
// the kernels' results unchanged either way.
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "engine/ops/functional.h"
#include "engine/cpu/parallel.h"
#include "tests/engine/test_util.h"

using namespace dg;
using dg::test::max_abs_diff;

TEST_CASE("parallel_chunks runs every chunk once, nested regions on their caller") {
  const int saved_threads = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    std::vector<std::atomic<int>> runs(1000);
    parallel_chunks(1000, threads, [&](int64_t chunk, int thread) {
      CHECK(thread < threads);
      runs[chunk].fetch_add(1);
      if (chunk == 7) {  // a region inside a region runs serially on this thread
        parallel_chunks(4, threads, [&](int64_t, int inner_thread) { CHECK(inner_thread == 0); });
      }
    });
    for (const auto& r : runs) CHECK(r.load() == 1);
  }
  CHECK_THROWS_WITH(parallel_chunks(8, 2, [](int64_t chunk, int) {
                      if (chunk == 5) throw std::runtime_error("chunk 5 failed");
                    }),
                    "chunk 5 failed");
  set_num_threads(saved_threads);
}

TEST_CASE("worth_splitting: the near threshold, or sixteen times it while the cores are far apart") {
  detail::override_cores_far_apart(false);
  CHECK_FALSE(cores_far_apart());
  for (int i = 0; i < 100; ++i) {
    CHECK_FALSE(worth_splitting(999, 1000));
    CHECK(worth_splitting(1000, 1000));
  }

  detail::override_cores_far_apart(true);
  CHECK(cores_far_apart());
  CHECK_FALSE(worth_splitting(999, 1000));
  CHECK(worth_splitting(16000, 1000));
  // Between the thresholds, of any 64 consecutive questions, 4 are probes that split.
  int near = 0, far = 0;
  for (int i = 0; i < 64 * 5; ++i) (worth_splitting(5000, 1000) ? near : far)++;
  CHECK(near == 4 * 5);
  CHECK(far == 60 * 5);
  detail::override_cores_far_apart(std::nullopt);
}

TEST_CASE("kernels give the same results with the cores near or far apart") {
  // Sizes between the near and the far thresholds: split over threads in one case, whole in the
  // other.
  const int saved_threads = num_threads();
  set_num_threads(2);
  NoGradGuard no_grad;
  const Tensor a = test::uniform_f32({96, 200}, 1), b = test::uniform_f32({200, 80}, 2);
  const Tensor x = test::uniform_f32({1, 16, 20, 20}, 3), w = test::uniform_f32({32, 16, 3, 3}, 4);
  const Tensor big = test::uniform_f32({300, 400}, 5);
  auto run = [&] {
    return std::vector<Tensor>{matmul(a, b), conv2d(x, w, Tensor(), {.padding = {1, 1}}),
                               exp(big) * 0.5};
  };
  detail::override_cores_far_apart(false);
  const std::vector<Tensor> near = run();
  detail::override_cores_far_apart(true);
  for (int i = 0; i < 3; ++i) {  // probes included
    const std::vector<Tensor> far = run();
    for (size_t k = 0; k < near.size(); ++k) CHECK(max_abs_diff(far[k], near[k]) < 1e-5);
  }
  detail::override_cores_far_apart(std::nullopt);
  set_num_threads(saved_threads);
}
