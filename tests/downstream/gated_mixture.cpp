// A dynamic layer defined outside dyngrad, as a downstream project would write one: a gated
// mixture of two linear maps, y = g(x) A(x) + (1 - g(x)) B(x) with g(x) = sigmoid(w.x / T), whose
// gate's temperature T anneals from 5 to 1 (dynamic/temperature_schedule.h). It is trained for a
// few Adam steps on a piecewise-linear regression (one linear map where x0 > 0, another elsewhere),
// which one linear map cannot fit, and the program fails (exit 1) unless the loss falls to under a
// third of its start. It also checks the layer's defining property (the output is the gated
// combination of the two maps, per sample), round-trips the weights through a safetensors file,
// and touches every dyngrad library, so linking it checks the package's whole link interface.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "datasets/metrics.h"
#include "dynamic/temperature_schedule.h"
#include "engine/autograd.h"
#include "engine/ops/functional.h"
#include "engine/ops/ops.h"
#include "engine/random.h"
#include "nn/checkpoint.h"
#include "nn/linear.h"
#include "nn/optim.h"
#include "partition/report.h"

using namespace dg;

class GatedMixture : public nn::UnaryModule {
 public:
  GatedMixture(int64_t in, int64_t out) {
    map_a_ = register_module("map_a", std::make_shared<nn::Linear>(in, out));
    map_b_ = register_module("map_b", std::make_shared<nn::Linear>(in, out));
    gate_ = register_module("gate", std::make_shared<nn::Linear>(in, 1));
  }
  std::string type_name() const override { return "GatedMixture"; }

  void set_temperature(double t) { temperature_ = t; }
  Tensor gate(const Tensor& x) { return sigmoid((*gate_)(x) / temperature_); }  // [N, 1]
  Tensor forward(const Tensor& x) override {
    const Tensor g = gate(x);
    return g * (*map_a_)(x) + (1.0 - g) * (*map_b_)(x);
  }
  nn::Linear& map_a() { return *map_a_; }
  nn::Linear& map_b() { return *map_b_; }

 private:
  std::shared_ptr<nn::Linear> map_a_, map_b_, gate_;
  double temperature_ = 1.0;
};

int main() {
  constexpr int64_t kIn = 4, kOut = 2, kSamples = 256, kSteps = 150;
  Generator gen(7);
  const Tensor x = randn({kSamples, kIn}, gen);
  const Tensor a = randn({kIn, kOut}, gen), b = randn({kIn, kOut}, gen);
  const Tensor target = where(gt(x.narrow(1, 0, 1), 0.0), matmul(x, a), matmul(x, b));

  GatedMixture model(kIn, kOut);
  nn::Adam optimizer(model.parameters(), {.lr = 0.03});
  const dynamic::TemperatureSchedule temperature(kSteps / 3, 5.0);
  double first_loss = 0.0, loss_value = 0.0;
  for (int64_t step = 0; step < kSteps; ++step) {
    model.set_temperature(temperature.at(step));
    const Tensor loss = mse_loss(model(x), target);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    loss_value = loss.item<double>();
    if (step == 0) first_loss = loss_value;
    if (step % 50 == 0 || step == kSteps - 1)
      std::printf("step %3lld  T %.2f  loss %.4f\n", static_cast<long long>(step),
                  temperature.at(step), loss_value);
  }

  NoGradGuard no_grad;
  int failures = 0;
  auto expect = [&](bool ok, const char* what) {
    std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
    failures += ok ? 0 : 1;
  };
  expect(std::isfinite(loss_value) && loss_value < first_loss / 3.0, "the loss fell to under a third");

  // The defining property: per sample, the output is g A(x) + (1 - g) B(x) with that sample's g.
  const Tensor g = model.gate(x), y = model(x);
  const Tensor mixed = g * model.map_a()(x) + (1.0 - g) * model.map_b()(x);
  expect(max(abs(y - mixed)).item<double>() < 1e-5, "output is the gated mix of the two maps");
  expect((max(g) - min(g)).item<double>() > 0.5, "the gate differs between samples");

  // The fit, as the datasets library's Pearson correlation between prediction and target.
  const double r = data::pearson(y.reshape({-1}).to(DType::f64), target.reshape({-1}).to(DType::f64));
  std::printf("pearson(prediction, target) = %.3f\n", r);
  expect(r > 0.9, "prediction correlates with the target");

  // The partition library's parameter count, and a safetensors round trip (nn).
  expect(partition::parameter_report(model).total.intrinsic() == model.num_parameters(),
         "parameter_report counts every parameter");
  const auto path = std::filesystem::temp_directory_path() / "gated_mixture.safetensors";
  nn::save_safetensors(path.string(), model.state_dict(), {{"step", std::to_string(kSteps)}});
  nn::Metadata metadata;
  const nn::StateDict loaded = nn::load_safetensors(path.string(), &metadata);
  std::filesystem::remove(path);
  expect(loaded.size() == 6 && metadata.at("step") == std::to_string(kSteps) &&
             max(abs(loaded.at("gate.weight") - model.state_dict().at("gate.weight"))).item<double>() == 0.0,
         "safetensors round trip");
  return failures == 0 ? 0 : 1;
}
