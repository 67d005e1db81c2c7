// MoE: the mixture-of-experts feed-forward layer over tokens as rows. E experts, each a two-layer
// FFN  expert_e(x) = act(x W1_e + b1_e) W2_e + b2_e  (W1_e [d, d_ff], W2_e [d_ff, d]); a gate
// (gate.h) picks each token's experts and weights; the layer's output for token t is
//
//   y_t = sum over t's routed slots j of weight_tj * expert_{e_tj}(x_t)   (+ shared experts, below)
//
// computed with the routing primitive (dynamic/routing.h): the tokens of each expert gathered into
// one block, both FFN products of all experts as one grouped_matmul each, the results
// scatter-added back with their weights. An expert that receives no token computes nothing.
//
// Modes:
//   dropless  every routed slot is computed, however uneven the load.
//   capacity  each expert takes at most C = ceil(capacity_factor * T * k / E) slots; the others
//             are dropped, chosen by position (first choices before second ones, then token
//             order: Switch/GShard) or by gate probability (an expert keeps its C highest-weight
//             slots). A dropped slot contributes nothing; a token whose every slot was dropped
//             gets y_t = 0, so in a residual block x + MoE(x) it passes through unchanged.
//
// Shared experts (DeepSeekMoE, Dai et al. 2024): `shared_experts` FFNs that every token passes
// through, added to the routed output; they are held as one FFN of width shared_experts *
// shared_d_ff (the sum of K_s FFNs is one FFN of their concatenated widths). Fine-grained experts
// are the same layer with m times more experts, each d_ff / m wide, and top m * k.
//
// Upcycling (Komatsuzaki et al. 2022): MoE::upcycle builds the layer from a trained dense FFN,
// every expert a copy (plus optional Gaussian noise), the gate from scratch.
//
// After each forward, stats() holds what happened: tokens per expert, dropped slots and tokens,
// the load's coefficient of variation, the router's mean entropy and each auxiliary loss; and
// aux_loss() is the weighted sum of the gate's auxiliary losses, to add to the task loss.
//
// Parameter names: w1 [E, d, d_ff], b1 [E, d_ff], w2 [E, d_ff, d], b2 [E, d], gate.*,
// shared_fc1.*, shared_fc2.*.
//
// Layers built on this one (PAD-Net's partially dynamic experts, partition/) compute their own
// expert weights and pass them to forward_with, so the gate, capacity, dispatch, statistics and
// auxiliary losses are this layer's. A layer constructed with MoE::ExternalExperts holds no
// w1/b1/w2/b2 at all (its parameters are the gate's and the shared experts'): only forward_with
// runs it.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dynamic/moe/gate.h"
#include "nn/linear.h"

namespace dg::dynamic {

enum class MoEMode { dropless, capacity };
enum class DropPolicy { by_position, by_probability };
enum class ExpertActivation { relu, gelu, silu, tanh };

struct MoEOptions {
  MoEMode mode = MoEMode::dropless;
  double capacity_factor = 1.25;
  DropPolicy drop_policy = DropPolicy::by_position;
  ExpertActivation activation = ExpertActivation::gelu;
  int64_t shared_experts = 0;
  int64_t shared_d_ff = 0;  // width of one shared expert; 0 means d_ff
  std::string name = "moe";  // named in error messages
};

struct MoEStats {
  int64_t tokens = 0;
  std::vector<int64_t> tokens_per_expert;  // slots each expert computed (after drops)
  int64_t routed_slots = 0;                // slots computed
  int64_t dropped_slots = 0;               // slots the gate chose that capacity dropped
  int64_t dropped_tokens = 0;              // tokens that had a slot and lost all of them
  double load_cv = 0.0;                    // std / mean of tokens_per_expert (population std)
  double router_entropy = 0.0;             // mean over tokens of -sum_e p log p (0 without router)
  std::vector<std::pair<std::string, double>> aux_losses;  // unweighted values
};

// The expert weights one forward computes with: w1 [E, d, d_ff], b1 [E, d_ff], w2 [E, d_ff, d],
// b2 [E, d], in the layer's dtype.
struct ExpertWeights {
  Tensor w1, b1, w2, b2;
};

class MoE : public nn::Module {
 public:
  MoE(int64_t d_model, int64_t d_ff, std::shared_ptr<Gate> gate, const MoEOptions& moe = {},
      const nn::ParamOptions& options = {});
  // The routing part only: no expert weights are allocated or registered; run it with forward_with.
  struct ExternalExperts {};
  MoE(int64_t d_model, int64_t d_ff, std::shared_ptr<Gate> gate, ExternalExperts,
      const MoEOptions& moe = {}, const nn::ParamOptions& options = {});

  // An MoE whose every expert is a copy of the dense FFN fc2(act(fc1(x))) (fc1 [d_ff, d],
  // fc2 [d, d_ff]), plus N(0, noise_std^2) noise on each copy's weights when noise_std > 0.
  static std::shared_ptr<MoE> upcycle(const nn::Linear& fc1, const nn::Linear& fc2,
                                      std::shared_ptr<Gate> gate, const MoEOptions& moe = {},
                                      double noise_std = 0.0, const nn::ParamOptions& options = {});

  // x [..., d_model] -> [..., d_model]; token_ids (i64, one per token) for gates that need them.
  Tensor forward(const Tensor& x, const Tensor& token_ids = Tensor());
  Tensor operator()(const Tensor& x, const Tensor& token_ids = Tensor()) { return forward(x, token_ids); }
  // The same layer computed with `experts` in place of w1, b1, w2, b2 (checked against [E, d, d_ff],
  // [E, d_ff], [E, d_ff, d], [E, d]); only the experts that receive tokens are computed.
  Tensor forward_with(const Tensor& x, const Tensor& token_ids, const ExpertWeights& experts);
  // This layer's own expert weights (undefined for an ExternalExperts layer).
  ExpertWeights expert_weights() const { return {w1, b1, w2, b2}; }
  bool owns_experts() const { return w1.defined(); }

  // sum of coefficient * value over the last forward's auxiliary losses (0-dim; zero if none).
  Tensor aux_loss() const;
  const MoEStats& stats() const { return stats_; }
  // Slots per expert in capacity mode for a batch of T tokens.
  int64_t capacity(int64_t tokens) const;

  std::string type_name() const override { return "MoE"; }
  std::string extra_repr() const override;

  const int64_t d_model, d_ff, num_experts;
  const MoEOptions options;
  std::shared_ptr<Gate> gate;
  Tensor w1, b1, w2, b2;
  std::shared_ptr<nn::Linear> shared_fc1, shared_fc2;  // null without shared experts

 private:
  MoE(int64_t d_model, int64_t d_ff, std::shared_ptr<Gate> gate, bool with_experts,
      const MoEOptions& moe, const nn::ParamOptions& options);
  Tensor expert_activation(const Tensor& h) const;
  MoEStats stats_;
  std::vector<AuxLoss> last_losses_;
  DType dtype_;
};

// Which slots survive an expert capacity of `capacity` (see MoEOptions): experts [T, s] (-1 =
// none) and the slots' weights (host values, [T * s]); returns the experts with dropped slots set
// to -1.
std::vector<int64_t> apply_capacity(const std::vector<int64_t>& experts, const std::vector<double>& weights,
                                    int64_t tokens, int64_t slots, int64_t num_experts,
                                    int64_t capacity, DropPolicy policy);

}  // namespace dg::dynamic
