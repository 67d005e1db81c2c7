// Tests of matmul, bmm and outer: NumPy shapes for every operand rank, values against a naive
// triple loop written from the definition, every operand layout the BLAS kernel distinguishes
// (row-major, column-major, a leading dimension larger than the row, neither layout, broadcast
// batch, folded batch), zero-size operands, FLOP counts, the error messages, and the backward's
// skipping of gradients nobody needs, and that the linked OpenBLAS survives calls from two threads
// at once. The float64 gradient checks are in gradcheck_cases_matmul.cpp.
#include <catch2/catch.hpp>
#include <cblas.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "engine/allocator.h"
#include "engine/cpu/blas.h"
#include "engine/flops.h"
#include "engine/cpu/parallel.h"
#include "tests/engine/test_util.h"

using namespace dg;
using dg::test::max_abs_diff;
using dg::test::uniform_f32;
using dg::test::uniform_f64;

namespace {

// NumPy's matmul written out from its definition, in double, independent of the engine's ops:
// promote 1-D operands, broadcast the batch dims, triple loop, drop the promoted dims.
Tensor naive_matmul(const Tensor& a_in, const Tensor& b_in) {
  const std::vector<double> av = a_in.to_vector<double>(), bv = b_in.to_vector<double>();
  std::vector<int64_t> as = a_in.shape().vec(), bs = b_in.shape().vec();
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  REQUIRE(bs[bs.size() - 2] == K);
  std::vector<int64_t> a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  const size_t nb = std::max(a_batch.size(), b_batch.size());
  a_batch.insert(a_batch.begin(), nb - a_batch.size(), 1);
  b_batch.insert(b_batch.begin(), nb - b_batch.size(), 1);
  std::vector<int64_t> batch(nb);
  int64_t B = 1;
  for (size_t i = 0; i < nb; ++i) {
    batch[i] = std::max(a_batch[i], b_batch[i]);
    B *= batch[i];
  }
  std::vector<double> out(B * M * N, 0.0);
  for (int64_t flat = 0; flat < B; ++flat) {
    // The batch multi-index of `flat`, mapped into each operand (size-1 dims broadcast).
    int64_t rem = flat, a_index = 0, b_index = 0, a_scale = 1, b_scale = 1;
    for (int64_t d = static_cast<int64_t>(nb) - 1; d >= 0; --d) {
      const int64_t i = rem % batch[d];
      rem /= batch[d];
      a_index += (a_batch[d] == 1 ? 0 : i) * a_scale;
      b_index += (b_batch[d] == 1 ? 0 : i) * b_scale;
      a_scale *= a_batch[d];
      b_scale *= b_batch[d];
    }
    const double* A = av.data() + a_index * M * K;
    const double* Bp = bv.data() + b_index * K * N;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += A[m * K + k] * Bp[k * N + n];
        out[(flat * M + m) * N + n] = s;
      }
  }
  Shape shape(batch);
  if (a_in.dim() > 1) shape.push_back(M);
  if (b_in.dim() > 1) shape.push_back(N);
  // from_vector reads an empty shape as "1-D", so the 0-dim dot result is a reshape.
  return from_vector(out, {static_cast<int64_t>(out.size())}).reshape(shape);
}

void check_against_naive(const Tensor& a, const Tensor& b, double tolerance) {
  const Tensor got = matmul(a, b);
  const Tensor want = naive_matmul(a, b);
  INFO(to_string(a.shape()) << " @ " << to_string(b.shape()));
  REQUIRE(got.shape() == want.shape());
  REQUIRE(got.dtype() == a.dtype());
  CHECK(max_abs_diff(got, want) < tolerance);
}

}  // namespace

TEST_CASE("matmul: result shapes follow NumPy for every operand rank") {
  struct Case {
    Shape a, b, out;
  };
  const std::vector<Case> cases = {
      {{3}, {3}, {}},                           // dot: a 0-dim result
      {{3}, {3, 4}, {4}},                       // vector @ matrix
      {{2, 3}, {3}, {2}},                       // matrix @ vector
      {{2, 3}, {3, 4}, {2, 4}},
      {{5, 2, 3}, {3, 4}, {5, 2, 4}},           // batch @ matrix
      {{2, 3}, {5, 3, 4}, {5, 2, 4}},           // matrix @ batch
      {{3}, {5, 3, 4}, {5, 4}},                 // vector @ batch
      {{5, 2, 3}, {3}, {5, 2}},                 // batch @ vector
      {{5, 2, 3}, {5, 3, 4}, {5, 2, 4}},
      {{2, 1, 3, 4}, {5, 4, 2}, {2, 5, 3, 2}},  // broadcast batch dims
      {{1, 2, 3}, {4, 3, 2}, {4, 2, 2}},
      {{6, 1, 2, 3}, {1, 7, 3, 1}, {6, 7, 2, 1}},
  };
  uint64_t seed = 0;
  for (const Case& c : cases) {
    INFO(to_string(c.a) << " @ " << to_string(c.b));
    seed += 2;
    const Tensor out = matmul(uniform_f32(c.a, seed), uniform_f32(c.b, seed + 1));
    CHECK(out.shape() == c.out);
    CHECK(out.is_contiguous());
  }
}

TEST_CASE("matmul: values match a naive triple loop in f32 and f64") {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{7}, {7}},          {{7}, {7, 5}},          {{4, 7}, {7}},
      {{4, 7}, {7, 5}},    {{3, 4, 7}, {7, 5}},    {{4, 7}, {3, 7, 5}},
      {{3, 4, 7}, {3, 7, 5}}, {{2, 1, 3, 4}, {5, 4, 2}}, {{7}, {2, 3, 7, 5}},
      {{2, 3, 4, 7}, {7}},  {{1, 1}, {1, 1}},       {{33, 65}, {65, 17}},
  };
  uint64_t seed = 100;
  for (const auto& [sa, sb] : shapes) {
    seed += 2;
    check_against_naive(uniform_f64(sa, seed), uniform_f64(sb, seed + 1), 1e-12);
    check_against_naive(uniform_f32(sa, seed), uniform_f32(sb, seed + 1), 1e-5);
  }
}

TEST_CASE("matmul: transposed, strided and broadcast operands give the same values") {
  SECTION("column-major operands (transposed views) on either side") {
    const Tensor at = uniform_f32({7, 4}, 1), bt = uniform_f32({5, 7}, 2);
    check_against_naive(at.transpose(0, 1), uniform_f32({7, 5}, 3), 1e-5);
    check_against_naive(uniform_f32({4, 7}, 4), bt.transpose(0, 1), 1e-5);
    check_against_naive(at.transpose(0, 1), bt.transpose(0, 1), 1e-5);
  }
  SECTION("batched column-major operands") {
    const Tensor a = uniform_f64({3, 7, 4}, 5).transpose(1, 2);  // [3,4,7]
    const Tensor b = uniform_f64({3, 5, 7}, 6).transpose(1, 2);  // [3,7,5]
    check_against_naive(a, b, 1e-12);
    check_against_naive(a, uniform_f64({7, 5}, 7), 1e-12);  // not foldable: a is column-major
  }
  SECTION("rows longer than the matrix (a leading dimension larger than K or N)") {
    const Tensor a = uniform_f32({4, 10}, 8).narrow(1, 2, 7);   // [4,7], row stride 10
    const Tensor b = uniform_f32({7, 9}, 9).narrow(1, 1, 5);    // [7,5], row stride 9
    check_against_naive(a, b, 1e-5);
    const Tensor batch = uniform_f32({3, 4, 10}, 10).narrow(2, 0, 7);  // batches not stacked rows
    check_against_naive(batch, b, 1e-5);
  }
  SECTION("inner matrices with neither unit stride are copied") {
    const Tensor a = select(uniform_f64({4, 7, 2}, 11), 2, 1);  // strides [14, 2]
    const Tensor b = select(uniform_f64({7, 5, 3}, 12), 2, 0);  // strides [15, 3]
    REQUIRE(a.strides() == Shape{14, 2});
    check_against_naive(a, b, 1e-12);
    check_against_naive(uniform_f64({2, 4, 7}, 13), b, 1e-12);
  }
  SECTION("expanded (stride 0) operands") {
    const Tensor row = uniform_f64({1, 7}, 14).expand({4, 7});   // every row the same
    check_against_naive(row, uniform_f64({7, 5}, 15), 1e-12);
    const Tensor batch = uniform_f64({4, 7}, 16).expand({3, 4, 7});  // batch stride 0
    check_against_naive(batch, uniform_f64({3, 7, 5}, 17), 1e-12);
  }
  SECTION("a non-contiguous 1-D operand") {
    const Tensor v = select(uniform_f64({7, 2}, 18), 1, 1);  // stride 2
    check_against_naive(v, uniform_f64({7, 5}, 19), 1e-12);
    check_against_naive(uniform_f64({4, 7}, 20), v, 1e-12);
    check_against_naive(v, v, 1e-12);
  }
}

TEST_CASE("matmul: products split over threads give the same values for every layout") {
  // Big enough (>= 2^18 multiply-adds) for engine/cpu/blas.h to cut them into blocks of 16-row or
  // 16-column panels per thread, with sizes that leave ragged last blocks; run at 1, 2 and 3
  // threads so both split directions and uneven shares are covered.
  const int previous = num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    INFO("threads " << threads);
    const Tensor tall = uniform_f64({150, 130}, 40), wide = uniform_f64({130, 70}, 41);
    check_against_naive(tall, wide, 1e-11);                                  // split rows
    check_against_naive(uniform_f64({37, 130}, 42), uniform_f64({130, 147}, 43), 1e-11);  // columns
    check_against_naive(uniform_f64({130, 150}, 44).transpose(0, 1), wide, 1e-11);
    check_against_naive(uniform_f64({37, 130}, 45), uniform_f64({147, 130}, 46).transpose(0, 1),
                        1e-11);
    check_against_naive(uniform_f32({3, 99, 80}, 47), uniform_f32({3, 80, 90}, 48), 1e-4);
    check_against_naive(uniform_f32({40, 20, 80}, 49), uniform_f32({40, 80, 30}, 50), 1e-4);
  }
  set_num_threads(previous);
}

TEST_CASE("matmul: transposed operands are read in place, not copied") {
  const Tensor a = uniform_f32({64, 32}, 1).transpose(0, 1);  // [32,64], column-major
  const Tensor b = uniform_f32({48, 64}, 2).transpose(0, 1);  // [64,48], column-major
  const size_t out_bytes = 32 * 48 * sizeof(float);
  Tensor warm = matmul(a, b);  // the first call may allocate BLAS buffers of its own
  warm = Tensor();
  CpuAllocator::reset_peak();
  const size_t before = CpuAllocator::stats().bytes_in_use;
  const Tensor out = matmul(a, b);
  CHECK(CpuAllocator::stats().peak_bytes_in_use - before == out_bytes);

  // By contrast an operand with neither layout needs a temporary copy.
  const Tensor strided = select(uniform_f32({32, 64, 2}, 3), 2, 0);
  CpuAllocator::reset_peak();
  const size_t before2 = CpuAllocator::stats().bytes_in_use;
  const Tensor out2 = matmul(strided, b);
  CHECK(CpuAllocator::stats().peak_bytes_in_use - before2 == out_bytes + 32 * 64 * sizeof(float));
}

TEST_CASE("matmul: bmm and outer") {
  const Tensor a = uniform_f64({3, 4, 5}, 1), b = uniform_f64({3, 5, 2}, 2);
  const Tensor got = bmm(a, b);
  CHECK(got.shape() == Shape{3, 4, 2});
  CHECK(max_abs_diff(got, naive_matmul(a, b)) < 1e-12);

  const Tensor u = tensor_f64({1, 2, 3}), v = tensor_f64({4, 5});
  const Tensor o = outer(u, v);
  CHECK(o.shape() == Shape{3, 2});
  CHECK(o.to_vector<double>() == std::vector<double>{4, 5, 8, 10, 12, 15});
}

TEST_CASE("matmul: a dot product is a 0-dim tensor") {
  const Tensor d = matmul(tensor({1, 2, 3}), tensor({4, 5, 6}));
  CHECK(d.dim() == 0);
  CHECK(d.item<float>() == 32.0f);
}

TEST_CASE("matmul: zero-size operands") {
  SECTION("K = 0 gives zeros") {
    const Tensor out = matmul(ones({3, 0}), ones({0, 4}));
    CHECK(out.shape() == Shape{3, 4});
    CHECK(out.to_vector<float>() == std::vector<float>(12, 0.0f));
    CHECK(matmul(ones({0}), ones({0})).item<float>() == 0.0f);
  }
  SECTION("an empty M, N or batch gives an empty result") {
    CHECK(matmul(ones({0, 3}), ones({3, 4})).shape() == Shape{0, 4});
    CHECK(matmul(ones({2, 3}), ones({3, 0})).shape() == Shape{2, 0});
    CHECK(matmul(ones({0, 2, 3}), ones({3, 4})).shape() == Shape{0, 2, 4});
  }
}

TEST_CASE("matmul: counts B*M*N*K multiply-adds") {
  const Tensor a = uniform_f32({2, 3, 4}, 1), b = uniform_f32({4, 5}, 2);
  FlopScope scope;
  matmul(a, b);
  CHECK(scope.count() == 2 * 3 * 5 * 4);
  FlopScope dot_scope;
  matmul(tensor({1, 2}), tensor({3, 4}));
  CHECK(dot_scope.count() == 2);
}

TEST_CASE("matmul: error messages name the op and the shapes") {
  SECTION("inner dimensions") {
    CHECK_THROWS_WITH(matmul(zeros({32, 64}), zeros({32, 10})),
                      "matmul: [32,64] @ [32,10]: inner dimensions 64 and 32 differ");
    CHECK_THROWS_WITH(matmul(zeros({3}), zeros({4})),
                      "matmul: [3] @ [4]: inner dimensions 3 and 4 differ");
    CHECK_THROWS_WITH(matmul(zeros({2, 3}), zeros({4})),
                      "matmul: [2,3] @ [4]: inner dimensions 3 and 4 differ");
    CHECK_THROWS_WITH(matmul(zeros({5, 2, 3}), zeros({5, 4, 2})),
                      "matmul: [5,2,3] @ [5,4,2]: inner dimensions 3 and 4 differ");
  }
  SECTION("batch dimensions that do not broadcast") {
    CHECK_THROWS_WITH(matmul(zeros({2, 3, 4}), zeros({5, 4, 2})),
                      Catch::Contains("matmul: [2,3,4] @ [5,4,2]: batch dimensions [2] and [5] "
                                      "do not broadcast"));
  }
  SECTION("0-dim operands") {
    CHECK_THROWS_WITH(matmul(scalar(2.0), zeros({3})),
                      Catch::Contains("matmul: [] @ [3]: both operands need at least 1 dim"));
    CHECK_THROWS_WITH(matmul(zeros({3}), scalar(2.0)), Catch::Contains("matmul: [3] @ []"));
  }
  SECTION("dtypes") {
    CHECK_THROWS_WITH(matmul(zeros({2, 3}), zeros({3, 4}, DType::f64)),
                      Catch::Contains("matmul: dtype mismatch: f32 [2,3] and f64 [3,4]"));
    CHECK_THROWS_WITH(matmul(zeros({2, 3}, DType::i64), zeros({3, 4}, DType::i64)),
                      Catch::Contains("matmul: i64 [2,3] @ i64 [3,4]: only f32 and f64 are "
                                      "supported (integer and bool matmul are not"));
    CHECK_THROWS_WITH(matmul(zeros({2, 3}, DType::b8), zeros({3, 4}, DType::b8)),
                      Catch::Contains("matmul: bool [2,3] @ bool [3,4]"));
  }
  SECTION("bmm is strict") {
    CHECK_THROWS_WITH(bmm(zeros({2, 3}), zeros({3, 4})),
                      Catch::Contains("bmm: [2,3] @ [3,4]: expected two 3-D tensors"));
    CHECK_THROWS_WITH(bmm(zeros({2, 3, 4}), zeros({1, 4, 5})),
                      Catch::Contains("bmm: [2,3,4] @ [1,4,5]: batch sizes 2 and 1 differ"));
    CHECK_THROWS_WITH(bmm(zeros({2, 3, 4}), zeros({2, 3, 5})),
                      "bmm: [2,3,4] @ [2,3,5]: inner dimensions 4 and 3 differ");
  }
  SECTION("outer takes vectors") {
    CHECK_THROWS_WITH(outer(zeros({2, 3}), zeros({3})),
                      Catch::Contains("outer: [2,3] and [3]: expected two 1-D tensors"));
    CHECK_THROWS_WITH(outer(zeros({2}), zeros({3}, DType::f64)),
                      Catch::Contains("outer: dtype mismatch"));
  }
}

TEST_CASE("matmul: backward gives the textbook gradients and skips unneeded ones") {
  SECTION("2-D: grad_a = g @ b^T, grad_b = a^T @ g") {
    const Tensor a = uniform_f64({3, 4}, 1).set_requires_grad();
    const Tensor b = uniform_f64({4, 2}, 2).set_requires_grad();
    const Tensor g = uniform_f64({3, 2}, 3);
    matmul(a, b).backward(g);
    CHECK(max_abs_diff(a.grad(), naive_matmul(g, b.detach().transpose(0, 1))) < 1e-12);
    CHECK(max_abs_diff(b.grad(), naive_matmul(a.detach().transpose(0, 1), g)) < 1e-12);
  }
  SECTION("a broadcast batch is summed back to each input's shape") {
    const Tensor a = uniform_f64({2, 1, 3, 4}, 4).set_requires_grad();
    const Tensor b = uniform_f64({5, 4, 2}, 5).set_requires_grad();
    matmul(a, b).sum().backward();
    CHECK(a.grad().shape() == a.shape());
    CHECK(b.grad().shape() == b.shape());
    // d(sum(a @ b))/da[i,0,m,k] = sum over the 5 batches of b and n of b[j,k,n].
    const Tensor expected_a = expand(unsqueeze(sum(b.detach(), {0, 2}), 0), {3, 4});
    CHECK(max_abs_diff(a.grad().reshape({2, 3, 4}).narrow(0, 0, 1).reshape({3, 4}),
                       expected_a) < 1e-12);
  }
  SECTION("1-D operands get 1-D gradients") {
    const Tensor v = uniform_f64({4}, 6).set_requires_grad();
    const Tensor m = uniform_f64({3, 4, 2}, 7).set_requires_grad();
    matmul(v, m).sum().backward();
    CHECK(v.grad().shape() == Shape{4});
    CHECK(m.grad().shape() == Shape{3, 4, 2});
  }
  SECTION("an input that needs no gradient costs no GEMM") {
    const Tensor a = uniform_f64({3, 4}, 8).set_requires_grad();
    const Tensor b = uniform_f64({4, 5}, 9);
    const Tensor out = matmul(a, b);
    FlopScope scope;
    out.backward(ones_like(out));
    CHECK(scope.count() == 3 * 4 * 5);  // only grad_a = g @ b^T
    CHECK(a.grad().defined());
    CHECK_FALSE(b.grad().defined());
  }
  SECTION("batched @ matrix: dL/db is one folded GEMM equal to the summed batch") {
    const Tensor a = uniform_f64({3, 4, 5}, 10).set_requires_grad();
    const Tensor b = uniform_f64({5, 2}, 11).set_requires_grad();
    const Tensor g = uniform_f64({3, 4, 2}, 12);
    matmul(a, b).backward(g);
    const Tensor expected = naive_matmul(a.detach().transpose(1, 2), g);  // [3,5,2]
    CHECK(max_abs_diff(b.grad(), sum(expected, {0})) < 1e-12);
  }
}

TEST_CASE("the linked OpenBLAS is safe to call from several threads at once") {
  // The engine calls single-threaded sgemm from every thread of its pool at once
  // (engine/cpu/blas.h). OpenBLAS's single-threaded build shares its packing buffers without a
  // lock: two threads calling 256^3 sgemm got wrong products in about 1 call in 600. The build
  // must link a threaded one (CMakeLists.txt).
  CHECK(openblas_get_parallel() != OPENBLAS_SEQUENTIAL);
  // And two threads multiplying at once get the single-threaded product, bit for bit. (A race
  // shows up only now and then, so this alone could miss one; the check above cannot.)
  const int n = 256;
  const std::vector<double> a64 = test::hashed_values(n * n, 1, -1, 1);
  const std::vector<double> b64 = test::hashed_values(n * n, 2, -1, 1);
  const std::vector<float> a(a64.begin(), a64.end()), b(b64.begin(), b64.end());
  auto product = [&](std::vector<float>& c) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
                0.0f, c.data(), n);
  };
  // Every thread runs BLAS at one thread of its own, as the engine's pool threads do
  // (keep_blas_on_this_thread): a thread left at OpenMP's default would split its product over a
  // team, whose results need not match the one-thread product bit for bit.
  cpu::keep_blas_on_this_thread();
  std::vector<float> expected(n * n);
  product(expected);
  std::atomic<int> wrong{0};
  auto worker = [&] {
    cpu::keep_blas_on_this_thread();
    std::vector<float> c(n * n);
    for (int i = 0; i < 200; ++i) {
      product(c);
      if (c != expected) ++wrong;
    }
  };
  std::thread first(worker), second(worker);
  first.join();
  second.join();
  CHECK(wrong == 0);
}

TEST_CASE("BLAS runs on the calling thread: products on the pool start no threads of their own") {
  // OpenBLAS's OpenMP build would start an OpenMP team for a call from a thread whose OpenMP
  // setting was left at its default (engine/cpu/blas.h keeps every calling thread at one).
  auto threads_in_process = [] {
    int n = 0;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) n += task.exists();
    return n;
  };
  const int saved_threads = num_threads();
  set_num_threads(2);
  const Tensor a = test::uniform_f32({512, 256}, 1), b = test::uniform_f32({256, 384}, 2);
  (void)(test::uniform_f32({2048, 1024}, 3) * 2.0);  // the pool is started, without BLAS
  const int before = threads_in_process();
  // Products big enough to be split over the pool, from the pool's worker too.
  for (int i = 0; i < 3; ++i) matmul(a, b);
  std::thread user([&] { matmul(a, b); });  // and from a thread of the user's
  user.join();
  CHECK(threads_in_process() == before);
  set_num_threads(saved_threads);
}
