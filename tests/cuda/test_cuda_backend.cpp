// The CUDA backend's tests (built as dg_cuda_tests with DG_CUDA, tests/CMakeLists.txt). Where
// cudaGetDeviceCount reports a device they run:
//   - the cross-backend registry (tests/engine/backend_registry_*.cpp, one line per case family in
//     the ggml test-backend-ops style): every case of every Backend entry, over its shapes, dtypes
//     and layouts (contiguous, transposed, broadcast, sliced, strided), on CUDA and on the CPU
//     backend, outputs compared; an entry the CUDA backend does not implement must refuse with
//     "not implemented yet";
//   - forward and backward through the ops, on CUDA and on the CPU, outputs and gradients compared;
//   - every float64 gradient check of the gradcheck registry (tests/engine/gradcheck_cases_*.cpp)
//     with its inputs on CUDA;
//   - copies between host and device for every dtype, and the caching allocator.
// Without a device each of those reports WARN("skipped: no CUDA device") and passes. The tests of
// what needs no GPU (the table's refusals, the errors a missing device gives) always run.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "cuda/allocator.h"
#include "cuda/cuda_backend.h"
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

// The entries with a CUDA kernel (or, for the grouped products and the optional fast paths, the
// table's default); every other entry of backend_entries.def throws "not implemented yet".
const std::set<std::string> kImplemented = {
    "allocate", "deallocate", "fill", "copy", "copy_from_host", "copy_to_host", "unary", "binary",
    "where", "adam_step", "reduce", "arg_reduce", "cumsum", "matmul", "grouped_matmul",
    "grouped_matmul_weight_grad", "inference_linear", "inference_attention", "index_select",
    "gather", "scatter", "index_add", "kernel_mixture_conv2d", "softmax", "softmax_backward",
    "cross_entropy", "cross_entropy_backward", "layer_norm", "layer_norm_backward",
    "batch_norm_stats", "channel_affine", "batch_norm_backward_reduce", "lstm_cell",
    "lstm_cell_state_backward", "lstm_cell_output_backward"};

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

bool is_not_implemented(const std::string& message) {
  return message.find("CUDA backend:") != std::string::npos &&
         message.find("not implemented yet") != std::string::npos;
}

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

TEST_CASE("cuda: every Backend entry is implemented or refuses with 'not implemented yet'") {
  Backend& cuda_table = *cuda::cuda_backend();
  std::set<std::string> refused;
  // The refusals come before any device work, so host tensors do as arguments and no GPU is needed.
  const Tensor t = zeros({2, 2});
  const Tensor ix = zeros({2, 2}, DType::i64);
  const Backend::Conv2dGeometry conv;
  const Backend::Pool2dGeometry pool;
  auto refuses = [&](const char* entry, auto&& call) {
    INFO("entry " << entry);
    try {
      call();
      FAIL("returned instead of refusing");
    } catch (const Error& e) {
      CHECK(is_not_implemented(e.what()));
      CHECK(std::string(e.what()).find(entry) != std::string::npos);
      refused.insert(entry);
    }
  };
  refuses("topk", [&] { cuda_table.topk(t, ix, t, 1, 0, true, true); });
  refuses("sort", [&] { cuda_table.sort(t, ix, t, 0, false); });
  refuses("conv2d", [&] { cuda_table.conv2d(t, t, t, Tensor(), conv); });
  refuses("conv2d_input_grad", [&] { cuda_table.conv2d_input_grad(t, t, t, conv); });
  refuses("conv2d_weight_grad", [&] { cuda_table.conv2d_weight_grad(t, t, t, conv); });
  refuses("max_pool2d", [&] { cuda_table.max_pool2d(t, ix, t, pool); });
  refuses("max_pool2d_backward", [&] { cuda_table.max_pool2d_backward(t, t, ix, pool); });
  refuses("avg_pool2d", [&] { cuda_table.avg_pool2d(t, t, pool); });
  refuses("avg_pool2d_backward", [&] { cuda_table.avg_pool2d_backward(t, t, pool); });
  // Together, the implemented and the refusing entries are exactly the table's.
  for (const std::string& name : entry_names()) {
    INFO("entry " << name);
    CHECK(kImplemented.count(name) + refused.count(name) == 1);
  }
  CHECK(kImplemented.size() + refused.size() == entry_names().size());
}

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

TEST_CASE("cuda: every registry case matches the CPU backend; unimplemented entries refuse") {
  DG_REQUIRE_CUDA_DEVICE();
  int compared = 0, refused = 0;
  for (const Case& c : registry_cases()) {
    const std::string entry = entry_name(c.entry);
    INFO("cuda " << entry << ": " << c.name);
    const Tensors host = c.inputs();
    Tensors for_cpu, for_cuda;
    for (const Tensor& t : host) {
      for_cpu.push_back(to_device(t, Device::cpu()));
      for_cuda.push_back(to_device(t, Device::cuda()));
    }
    if (!kImplemented.count(entry)) {
      try {
        c.run(backend(Device::cuda()), Device::cuda(), for_cuda);
        FAIL("an unimplemented entry returned");
      } catch (const Error& e) {
        CHECK(is_not_implemented(e.what()));
      }
      ++refused;
      continue;
    }
    const Tensors want = c.run(backend(Device::cpu()), Device::cpu(), for_cpu);
    const Tensors got = c.run(backend(Device::cuda()), Device::cuda(), for_cuda);
    if (got.empty()) {  // declined: the optional fast paths only
      CHECK(is_optional(c.entry));
      continue;
    }
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      if (c.unordered_dim >= 0) continue;  // topk unsorted: not implemented on CUDA yet
      INFO("output " << i);
      CHECK(mismatch(to_host(got[i]), to_host(want[i]), c.tolerance) == "");
    }
    ++compared;
  }
  CHECK(compared > 0);
  WARN("cuda registry: " << compared << " cases compared with the CPU backend, " << refused
                         << " refused as not implemented");
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
  auto f = [](const Shape& s, uint64_t seed) { return make_input(s, DType::f32, Layout::contiguous, seed); };
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

TEST_CASE("cuda: forward and backward through the ops match the CPU") {
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
    const Tensor want = check_case.fn(on_cpu), got = check_case.fn(on_cuda);
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
  std::vector<std::string> not_implemented;
  for (const test::GradcheckCase& c : test::gradcheck_registry()) {
    INFO("gradcheck on cuda: " << op_name(c.op) << ": " << c.name);
    std::vector<Tensor> inputs;
    for (const Tensor& t : c.inputs()) {
      const bool leaf = t.defined() && t.requires_grad();
      inputs.push_back(leaf ? to_cuda(t.detach()).set_requires_grad(true) : to_cuda(t));
    }
    try {
      const GradcheckResult r = gradcheck(c.fn, inputs, c.options);
      CHECK(r.ok);
      if (!r.ok) FAIL_CHECK(r.message);
      ++passed;
    } catch (const Error& e) {
      if (!is_not_implemented(e.what())) FAIL_CHECK(e.what());
      else not_implemented.push_back(c.name);
    }
  }
  CHECK(passed > 0);
  WARN("cuda gradchecks: " << passed << " passed, " << not_implemented.size()
                           << " use an entry not implemented on CUDA yet");
}
