// The whole op layer on the reference backend (engine/reference/): under a HostBackendOverride
// every op on CPU tensors runs the reference kernels, so a small CNN's training steps (conv,
// batch norm, relu, pooling, linear, cross-entropy, backward, Adam), a transformer block's
// inference (layer norm, linear epilogues, causal attention, GELU) and an LSTM step with its
// backward can be computed on the plain loops and on the CPU backend and compared end to end.
// The kernel-by-kernel comparison is test_backend_registry.cpp.
#include <functional>

#include "engine/autograd.h"
#include "engine/backend_override.h"
#include "engine/ops/functional.h"
#include "engine/reference/reference_backend.h"
#include "tests/engine/test_util.h"

using namespace dg;
using dg::reference::reference_backend;
using dg::test::max_abs_diff;

namespace {

// Runs `program` on fresh copies of `inputs`, once on the CPU backend and once on the reference
// backend, and returns both results.
using Program = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

std::vector<Tensor> copies(const std::vector<Tensor>& inputs) {
  std::vector<Tensor> out;
  for (const Tensor& t : inputs)
    out.push_back(clone(t).detach().set_requires_grad(t.requires_grad()));
  return out;
}

void check_same_on_both(const std::vector<Tensor>& inputs, const Program& program, double tol) {
  const std::vector<Tensor> on_cpu = program(copies(inputs));
  std::vector<Tensor> on_reference;
  {
    HostBackendOverride guard(reference_backend());
    REQUIRE(&backend(Device::cpu()) == &reference_backend());
    on_reference = program(copies(inputs));
  }
  REQUIRE(&backend(Device::cpu()) != &reference_backend());
  REQUIRE(on_cpu.size() == on_reference.size());
  for (size_t i = 0; i < on_cpu.size(); ++i) {
    INFO("result " << i);
    CHECK(max_abs_diff(on_cpu[i], on_reference[i]) < tol);
  }
}

}  // namespace

TEST_CASE("reference backend: three Adam steps of a small CNN match the CPU backend") {
  const std::vector<Tensor> inputs = {
      test::uniform_f64({4, 3, 8, 8}, 1),                          // images
      test::grad_input({6, 3, 3, 3}, 2, -0.5, 0.5),                // conv 1
      test::grad_input({6}, 3),                                    // its bias
      test::grad_input({6}, 4, 0.5, 1.5),                          // batch-norm scale
      test::grad_input({6}, 5),                                    // batch-norm shift
      test::grad_input({8, 6, 3, 3}, 6, -0.3, 0.3),                // conv 2
      test::grad_input({5, 8}, 7),                                 // classifier
      test::grad_input({5}, 8),
  };
  const Tensor labels = from_vector(std::vector<int64_t>{0, 3, 4, 1}, {4});
  check_same_on_both(inputs, [&](const std::vector<Tensor>& in) {
    std::vector<Tensor> params(in.begin() + 1, in.end()), exp_avg, exp_avg_sq, losses;
    for (const Tensor& p : params) {
      exp_avg.push_back(zeros_like(p));
      exp_avg_sq.push_back(zeros_like(p));
    }
    for (int step = 1; step <= 3; ++step) {
      Tensor h = conv2d(in[0], params[0], params[1], {.padding = {1, 1}});
      h = relu(batch_norm(h, Tensor(), Tensor(), params[2], params[3], /*training=*/true));
      h = max_pool2d(h, {.kernel = {2, 2}});
      h = relu(conv2d(h, params[4], Tensor(), {.padding = {1, 1}}));
      h = reshape(adaptive_avg_pool2d(h, {1, 1}), {4, 8});
      CrossEntropyOptions smoothed;
      smoothed.label_smoothing = 0.1;
      Tensor loss = cross_entropy(linear(h, params[5], params[6]), labels, smoothed);
      for (Tensor& p : params) p.zero_grad();
      loss.backward();
      losses.push_back(loss.detach());
      NoGradGuard no_grad;
      const double correction = std::sqrt(1 - std::pow(0.999, step));
      for (size_t i = 0; i < params.size(); ++i)
        adam_step_(
            params[i], params[i].grad(), exp_avg[i], exp_avg_sq[i],
            {.step_size = 0.01 / (1 - std::pow(0.9, step)), .bias_correction2_sqrt = correction});
    }
    losses.insert(losses.end(), params.begin(), params.end());
    return losses;
  }, 1e-10);
}

TEST_CASE("reference backend: a transformer block's inference matches the CPU backend") {
  const int64_t B = 2, L = 16, H = 4, D = 8, E = H * D;
  const std::vector<Tensor> inputs = {
      test::uniform_f32({B * L, E}, 10),          // tokens
      test::uniform_f32({E}, 11, 0.5, 1.5),       // layer-norm scale
      test::uniform_f32({E}, 12),                 // layer-norm shift
      test::uniform_f32({3 * E, E}, 13, -0.3, 0.3),  // packed q, k, v projection
      test::uniform_f32({3 * E}, 14),
      test::uniform_f32({E, E}, 15, -0.3, 0.3),   // output projection
      test::uniform_f32({E}, 16),
  };
  check_same_on_both(inputs, [&](const std::vector<Tensor>& in) {
    NoGradGuard no_grad;
    const Tensor x = in[0];
    const Tensor qkv =
        reshape(linear(layer_norm(x, {E}, in[1], in[2]), in[3], in[4]), {B, L, 3, H, D});
    auto heads = [&](int64_t which) { return permute(select(qkv, 2, which), {0, 2, 1, 3}); };
    const Tensor attended =
        scaled_dot_product_attention(heads(0), heads(1), heads(2), {.causal = true});
    const Tensor merged = reshape(permute(attended, {0, 2, 1, 3}), {B * L, E});
    const Tensor y = linear(merged, in[5], in[6], {.relu = false, .residual = x});
    return std::vector<Tensor>{y, gelu(y), softmax(y, 1)};
  }, 1e-4);
}

TEST_CASE("reference backend: an LSTM step and its backward match the CPU backend") {
  const std::vector<Tensor> inputs = {test::grad_input({3, 5}, 20), test::grad_input({20, 5}, 21),
                                      test::grad_input({3, 5}, 22)};
  check_same_on_both(inputs, [](const std::vector<Tensor>& in) {
    const LSTMCellOutput out = lstm_cell(linear(in[0], in[1]), in[2]);
    (sum(out.h * out.h) + sum(out.c)).backward();
    return std::vector<Tensor>{out.h.detach(), out.c.detach(), in[0].grad(), in[1].grad(),
                               in[2].grad()};
  }, 1e-12);
}
