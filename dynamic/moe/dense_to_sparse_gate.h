// The Dense-to-Sparse gate (DTS-Gate, Nie et al. 2021): g = softmax((logits + G) / tau), G
// Gumbel(0, 1) noise in training; every expert whose weight is at least `threshold` is used, with
// weight g_e. The temperature tau starts large (g near uniform: every expert used, dense) and is
// annealed (set_temperature, e.g. from a TemperatureSchedule) so the gate sharpens and routes each
// token to fewer experts: the layer grows sparse during training. At inference the noise is off.
// The decision has E slots per token (slot e is expert e or -1), so the layer computes exactly
// the experts above the threshold.
#pragma once

#include <memory>

#include "dynamic/moe/gate.h"
#include "nn/linear.h"

namespace dg::dynamic {

struct DenseToSparseOptions {
  double initial_temperature = 5.0;
  double threshold = 1e-3;
};

class DenseToSparseGate : public Gate {
 public:
  DenseToSparseGate(int64_t d_model, int64_t num_experts, const DenseToSparseOptions& gate = {},
                    const nn::ParamOptions& options = {});
  GateDecision route(const Tensor& x, const Tensor& token_ids) override;
  std::string type_name() const override { return "DenseToSparseGate"; }

  void set_temperature(double tau);
  double temperature() const { return temperature_; }

  std::shared_ptr<nn::Linear> router;
  const double threshold;

 private:
  double temperature_;
  Generator* generator_;
};

}  // namespace dg::dynamic
