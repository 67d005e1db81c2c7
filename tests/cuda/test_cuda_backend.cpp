// The CUDA backend's tests (built as dg_cuda_tests with DG_CUDA, tests/CMakeLists.txt). Where
// cudaGetDeviceCount reports a device they run:
//   - the cross-backend registry (tests/engine/backend_registry_*.cpp, one line per case family in
//     the ggml test-backend-ops style): every case of every Backend entry, over its shapes, dtypes
//     and layouts (contiguous, transposed, broadcast, sliced, strided), on CUDA and on the CPU
//     backend, outputs compared;
//   - forward and backward through the ops, on CUDA and on the CPU, outputs, gradients and FLOP
//     counts compared;
//   - every float64 gradient check of the gradcheck registry (tests/engine/gradcheck_cases_*.cpp)
//     with its inputs on CUDA;
//   - copies between host and device for every dtype, and the caching allocator.
// Without a device each of those reports WARN("skipped: no CUDA device") and passes. What needs no
// GPU (the errors a missing device gives, the refusal to move a tensor that needs a gradient)
// always runs. (That CudaBackend fills every required entry is checked by the compiler: the class
// is instantiated, and the table's required entries are pure virtual.)
#include <catch2/catch.hpp>

#include <string>

#include "cuda/allocator.h"
#include "cuda/cuda_backend.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "engine/transfer.h"
#include "tests/engine/backend_registry.h"
#include "tests/engine/gradcheck_registry.h"

using namespace dg;
using namespace dg::test::registry;

namespace dg::test {
std::vector<GradcheckCase>& gradcheck_registry() {  // filled by gradcheck_cases_*.cpp
  static std::vector<GradcheckCase> cases;
  return cases;
}
}  // namespace dg::test

namespace {

bool have_device() {
  static const bool present = cuda::device_count() > 0;
  return present;
}

#define DG_REQUIRE_CUDA_DEVICE()                                                        \
  do {                                                                                  \
    if (!have_device()) {                                                               \
      WARN("skipped: no CUDA device (cudaGetDeviceCount reports none); this test runs " \
           "where a GPU is present");                                                   \
      return;                                                                           \
    }                                                                                   \
  } while (false)

const std::vector<Case>& registry_cases() {
  if (table().empty()) {
    register_elementwise_cases();
    register_product_and_index_cases();
    register_nn_cases();
  }
  return table();
}

Tensor to_cuda(const Tensor& t) {
  NoGradGuard no_grad;
  return t.defined() ? copy_to_device(t, Device::cuda()) : t;
}
Tensor to_cpu(const Tensor& t) { return t.defined() ? copy_to_device(t, Device::cpu()) : t; }

}  // namespace

TEST_CASE("cuda: without a device, making a cuda tensor is a dg::Error naming the CUDA call") {
  CHECK_THROWS_WITH(Tensor::empty({2}, DType::f32, Device::cuda(1)),
                    Catch::Contains("serves cuda:0 only"));
  if (have_device()) {
    WARN("a CUDA device is present: the no-device error is not exercised");
    return;
  }
  CHECK(cuda::device_count() == 0);
  CHECK_THROWS_WITH(Tensor::empty({2}, DType::f32, Device::cuda()),
                    Catch::Contains("cudaMalloc") && Catch::Contains("failed"));
  // Moving a tensor that needs a gradient while recording is refused before any device work.
  const Tensor x = zeros({3}).set_requires_grad(true);
  CHECK_THROWS_WITH(copy_to_device(x, Device::cuda()),
                    Catch::Contains("not recorded in the graph"));
}

TEST_CASE("cuda: host <-> device copies of every dtype, and the caching allocator") {
  DG_REQUIRE_CUDA_DEVICE();
  for (DType dtype : {DType::f32, DType::f64, DType::i64, DType::b8}) {
    INFO("dtype " << dtype_name(dtype));
    const Tensor host = make_input({3, 5}, dtype, Layout::sliced, 7, -5, 5, true);
    const Tensor device = copy_to_device(host, Device::cuda());
    CHECK(device.device() == Device::cuda());
    const Tensor back = copy_to_device(device, Device::cpu());
    CHECK(mismatch(back, contiguous(host), {0, 0}) == "");
  }
  const AllocatorStats before = cuda::CudaAllocator::stats();
  { const Tensor a = Tensor::empty({1000}, DType::f32, Device::cuda()); }
  { const Tensor b = Tensor::empty({1000}, DType::f32, Device::cuda()); }
  CHECK(cuda::CudaAllocator::stats().cache_hits > before.cache_hits);
}

TEST_CASE("cuda: every registry case matches the CPU backend") {
  DG_REQUIRE_CUDA_DEVICE();
  int compared = 0;
  for (const Case& c : registry_cases()) {
    const std::string entry = entry_name(c.entry);
    INFO("cuda " << entry << ": " << c.name);
    const Tensors host = c.inputs();
    Tensors for_cpu, for_cuda;
    for (const Tensor& t : host) {
      for_cpu.push_back(to_device(t, Device::cpu()));
      for_cuda.push_back(to_device(t, Device::cuda()));
    }
    const Tensors want = c.run(backend(Device::cpu()), Device::cpu(), for_cpu);
    const Tensors got = c.run(backend(Device::cuda()), Device::cuda(), for_cuda);
    if (got.empty()) {  // declined: the optional fast paths only
      CHECK(is_optional(c.entry));
      continue;
    }
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      Tensor g = to_host(got[i]), w = to_host(want[i]);
      if (c.unordered_dim >= 0 && i == 0) {  // topk unsorted: the same k, in any order
        Tensor g_at = to_host(got[1]), w_at = to_host(want[1]);
        order_by_index(g, g_at, c.unordered_dim);
        order_by_index(w, w_at, c.unordered_dim);
        CHECK(mismatch(g_at, w_at, c.tolerance) == "");
      }
      if (c.unordered_dim >= 0 && i == 1) continue;  // compared with the values
      INFO("output " << i);
      CHECK(mismatch(g, w, c.tolerance) == "");
    }
    ++compared;
  }
  CHECK(compared > 0);
  WARN("cuda registry: " << compared << " cases compared with the CPU backend");
}

namespace {

// One op-level check: a function of some inputs, run on both devices; its output and the
// gradients of sum(output * projection) with respect to every floating input are compared.
struct OpCheck {
  const char* name;
  std::function<Tensors()> inputs;  // host tensors; floating ones get requires_grad
  std::function<Tensor(const Tensors&)> fn;
};

std::vector<OpCheck> op_checks() {
  auto f = [](const Shape& s, uint64_t seed) {
    return make_input(s, DType::f32, Layout::contiguous, seed);
  };
  return {
      {"gelu(x) * y + broadcast", [=] { return Tensors{f({4, 6}, 1), f({6}, 2)}; },
       [](const Tensors& x) { return gelu(x[0]) * x[1] + tanh(x[1]); }},
      {"sum, amax and mean over dims", [=] { return Tensors{f({3, 4, 5}, 3)}; },
       [](const Tensors& x) {
         return sum(x[0], {0, 2}) + amax(x[0], {0, 2}) + mean(x[0], {0, 2});
       }},
      {"cumsum along dim 1", [=] { return Tensors{f({3, 7}, 4)}; },
       [](const Tensors& x) { return cumsum(x[0], 1); }},
      {"matmul a @ b^T", [=] { return Tensors{f({5, 3}, 5), f({4, 3}, 6)}; },
       [](const Tensors& x) { return matmul(x[0], x[1].transpose(0, 1)); }},
      {"batched matmul, b broadcast", [=] { return Tensors{f({2, 5, 3}, 7), f({3, 4}, 8)}; },
       [](const Tensors& x) { return matmul(x[0], x[1]); }},
      {"softmax and log_softmax", [=] { return Tensors{f({4, 9}, 9)}; },
       [](const Tensors& x) { return softmax(x[0], 1) + log_softmax(x[0], 0); }},
      {"cross_entropy with smoothing",
       [=] { return Tensors{f({6, 5}, 10), indices({0, 4, 2, 1, 3, 4}, {6})}; },
       [](const Tensors& x) {
         CrossEntropyOptions o;
         o.label_smoothing = 0.1;
         return cross_entropy(x[0], x[1], o);
       }},
      {"lstm_cell", [=] { return Tensors{f({3, 8}, 11), f({3, 2}, 12)}; },
       [](const Tensors& x) {
         const LSTMCellOutput out = lstm_cell(x[0], x[1]);
         return out.h * 2.0 + out.c;
       }},
  };
}

}  // namespace

TEST_CASE("cuda: forward and backward through the ops match the CPU, FLOP counts included") {
  DG_REQUIRE_CUDA_DEVICE();
  for (const OpCheck& check_case : op_checks()) {
    INFO("op check " << check_case.name);
    const Tensors host = check_case.inputs();
    Tensors on_cpu, on_cuda;
    for (const Tensor& t : host) {
      const bool differentiable = is_floating(t.dtype());
      on_cpu.push_back(differentiable ? t.detach().clone().set_requires_grad(true) : t);
      on_cuda.push_back(differentiable ? to_cuda(t).set_requires_grad(true) : to_cuda(t));
    }
    // The FLOP counter is fed by the op layer, so both devices must count the same work.
    FlopScope cpu_flops;
    const Tensor want = check_case.fn(on_cpu);
    const int64_t cpu_count = cpu_flops.count();
    FlopScope cuda_flops;
    const Tensor got = check_case.fn(on_cuda);
    CHECK(cuda_flops.count() == cpu_count);
    CHECK(got.device() == Device::cuda());
    CHECK(mismatch(to_cpu(got), want, kSums) == "");
    const Tensor v = make_input(want.shape(), want.dtype(), Layout::contiguous, 99, 0.5, 1.5);
    sum(want * v).backward();
    sum(got * to_cuda(v)).backward();
    for (size_t i = 0; i < host.size(); ++i) {
      if (!on_cpu[i].requires_grad()) continue;
      INFO("gradient of input " << i);
      REQUIRE(on_cuda[i].grad().defined());
      CHECK(mismatch(to_cpu(on_cuda[i].grad()), on_cpu[i].grad(), kSums) == "");
    }
  }
}

TEST_CASE("cuda: the float64 gradient checks with inputs on the GPU") {
  DG_REQUIRE_CUDA_DEVICE();
  int passed = 0;
  for (const test::GradcheckCase& c : test::gradcheck_registry()) {
    INFO("gradcheck on cuda: " << op_name(c.op) << ": " << c.name);
    std::vector<Tensor> inputs;
    for (const Tensor& t : c.inputs()) {
      const bool leaf = t.defined() && t.requires_grad();
      inputs.push_back(leaf ? to_cuda(t.detach()).set_requires_grad(true) : to_cuda(t));
    }
    const GradcheckResult r = gradcheck(c.fn, inputs, c.options);
    INFO(r.message);
    CHECK(r.ok);
    passed += r.ok;
  }
  WARN("cuda gradchecks: " << passed << " of " << test::gradcheck_registry().size() << " passed");
}
