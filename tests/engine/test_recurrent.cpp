// The fused LSTM cell (engine/ops/recurrent.cpp) against the same step written with separate
// engine ops: outputs and every gradient, with and without a previous cell state, for gates that
// are strided views, and with the gradient flowing through h only, c only, or both.
#include <catch2/catch.hpp>

#include "engine/ops/functional.h"
#include "tests/engine/test_util.h"

using namespace dg;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

namespace {

LSTMCellOutput composed_lstm_cell(const Tensor& gates, const Tensor& c) {
  const std::vector<Tensor> parts = chunk(gates, 4, 1);
  const Tensor i = sigmoid(parts[0]), f = sigmoid(parts[1]), g = tanh(parts[2]);
  const Tensor o = sigmoid(parts[3]);
  const Tensor c_next = c.defined() ? f * c + i * g : i * g;
  return {o * tanh(c_next), c_next};
}

// Loss weights that differ per element, so a gradient routed to the wrong place shows.
Tensor loss_of(const LSTMCellOutput& out, double h_weight, double c_weight) {
  const Tensor wh = uniform_f64(out.h.shape(), 77, -1.0, 1.0);
  const Tensor wc = uniform_f64(out.c.shape(), 78, -1.0, 1.0);
  return sum(out.h * wh) * h_weight + sum(out.c * out.c * wc) * c_weight;
}

}  // namespace

TEST_CASE("lstm_cell: fused outputs and gradients equal the composed step") {
  const int64_t B = 5, H = 7;
  for (bool with_c : {true, false}) {
    for (auto [h_weight, c_weight] : {std::pair{1.0, 1.0}, std::pair{1.0, 0.0}, std::pair{0.0, 1.0}}) {
      INFO("with c " << with_c << ", h weight " << h_weight << ", c weight " << c_weight);
      // Gates as a strided view (rows of a wider matrix) and as a transposed copy.
      const Tensor wide = uniform_f64({B, 4 * H + 3}, 11, -3.0, 3.0);
      const Tensor gates_data = narrow(wide, 1, 2, 4 * H);
      for (bool transposed : {false, true}) {
        Tensor gates = transposed ? gates_data.contiguous().transpose(0, 1).contiguous().transpose(0, 1)
                                  : gates_data.clone();
        if (transposed) REQUIRE(gates.strides()[1] != 1);
        gates.set_requires_grad();
        Tensor c = with_c ? uniform_f64({B, H}, 12, -2.0, 2.0).set_requires_grad() : Tensor();

        const LSTMCellOutput fused = lstm_cell(gates, c);
        const LSTMCellOutput composed = composed_lstm_cell(gates, c);
        CHECK(max_abs_diff(fused.h, composed.h) < 1e-14);
        CHECK(max_abs_diff(fused.c, composed.c) < 1e-14);

        std::vector<Tensor> inputs{gates};
        if (with_c) inputs.push_back(c);
        const auto fused_grads =
            grad({loss_of(fused, h_weight, c_weight)}, inputs, {}, false, false, true);
        const auto composed_grads =
            grad({loss_of(composed, h_weight, c_weight)}, inputs, {}, false, false, true);
        for (size_t k = 0; k < inputs.size(); ++k) {
          REQUIRE(fused_grads[k].defined());
          CHECK(max_abs_diff(fused_grads[k], composed_grads[k]) < 1e-13);
        }
      }
    }
  }
}

TEST_CASE("lstm_cell: shape errors name the op and the shapes") {
  CHECK_THROWS_WITH(lstm_cell(zeros({2, 7})), Catch::Contains("lstm_cell: gates must be [B, 4 * hidden]"));
  CHECK_THROWS_WITH(lstm_cell(zeros({2, 8}), zeros({2, 3})),
                    Catch::Contains("lstm_cell: c must be [B, hidden] = [2, 2] for gates [2,8], got [2,3]"));
}
