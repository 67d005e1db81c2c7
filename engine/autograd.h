// Reverse-mode autograd, define-by-run. Every differentiable op that sees an input requiring grad
// calls record(): a Node is attached to its output holding edges to its inputs' nodes, the tensors
// its backward needs (version-checked when used) and the backward formula, written with ordinary
// engine ops so that it runs on any backend and can itself be differentiated.
//
// backward() sorts the reachable nodes by dependency count (iteratively, so depth is unbounded),
// runs each once with the sum of the gradients flowing into it, reduces every input gradient back
// to its input's shape (the one central place where broadcasting is undone), accumulates into
// leaves' .grad and frees the graph unless asked to retain it.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/tensor.h"

namespace dg {

// The table of differentiable ops: each names one kind of Node. The gradient-check test walks the
// same table, so an op without a check cannot be added silently.
enum class OpId : uint16_t {
#define DG_OP(name) name,
#include "engine/ops/ops.def"
#undef DG_OP
  accumulate_grad,  // the node that adds into a leaf's .grad
};
std::string_view op_name(OpId op);
// Every differentiable op in ops.def (accumulate_grad excluded).
std::vector<OpId> all_differentiable_ops();

// ---- grad mode ----
bool grad_enabled();
void set_grad_enabled(bool enabled);

class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

class EnableGradGuard {
 public:
  EnableGradGuard() : previous_(grad_enabled()) { set_grad_enabled(true); }
  ~EnableGradGuard() { set_grad_enabled(previous_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and any of the tensors requires grad: the condition for recording.
template <class... Ts>
bool needs_grad(const Ts&... tensors) {
  return grad_enabled() && (tensors.requires_grad() || ...);
}

// ---- nodes ----
using Grads = std::vector<Tensor>;

// What a backward formula receives.
struct BackwardArgs {
  Tensor grad;                 // dL/d(output), already in the output's shape
  Tensor output;               // the op's output, when the op asked to save it
  std::vector<Tensor> saved;   // the tensors the op saved, in the order it gave them
  const std::vector<bool>* input_needs_grad = nullptr;
  // Whether input i needs a gradient; formulas skip work for inputs that do not.
  bool needs(int i) const { return (*input_needs_grad)[i]; }
};

// Returns one gradient per input, in the input's shape or any shape that broadcasts to it (the
// engine sums it down); an undefined Tensor means zero.
using BackwardFn = std::function<Grads(const BackwardArgs&)>;

class Node : public std::enable_shared_from_this<Node> {
 public:
  // For a node whose output is the slice [start, start + length) along `dim` of its one input
  // (narrow): the engine adds the incoming gradient straight into that region of the input's
  // gradient buffer instead of padding it to the input's size. Many slices of one tensor (a loop
  // over time steps, chunked LSTM gates) then cost the size of their pieces, not the size of the
  // whole tensor per piece.
  struct SliceOfInput {
    int dim = 0;
    int64_t start = 0, length = 0;
  };

  struct Input {
    std::shared_ptr<Node> node;  // null when the input needs no gradient
    Shape shape;
    DType dtype;
  };

  Node() = default;
  // Unlinks the graph behind this node iteratively: a long chain destroyed recursively would
  // overflow the stack.
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  OpId op() const { return op_; }
  std::string_view name() const { return op_name(op_); }
  const std::vector<Input>& inputs() const { return inputs_; }

 private:
  friend void record(OpId, Tensor&, const std::vector<Tensor>&, const std::vector<Tensor>&,
                     BackwardFn, bool);
  friend std::shared_ptr<Node> gradient_edge(const Tensor& t);
  friend class GraphTask;
  friend class Tensor;

  OpId op_ = OpId::accumulate_grad;
  std::vector<Input> inputs_;
  std::vector<bool> input_needs_grad_;
  BackwardFn backward_;
  std::vector<Tensor> saved_;
  std::vector<uint64_t> saved_versions_;
  std::shared_ptr<TensorImpl> saved_output_;  // data only (no grad_fn), to avoid a cycle
  uint64_t saved_output_version_ = 0;
  std::vector<GradHook> pre_hooks_;       // hooks on the tensor this node produced
  std::weak_ptr<TensorImpl> leaf_;        // accumulate_grad only
  std::optional<SliceOfInput> slice_;     // narrow only: see SliceOfInput
  bool released_ = false;

  friend void mark_slice_of_input(const Tensor& out, int dim, int64_t start, int64_t length);
};

// Declares that `out` (just recorded, one input) is a slice of its input along `dim`; see
// Node::SliceOfInput. The op's own backward still serves create_graph.
void mark_slice_of_input(const Tensor& out, int dim, int64_t start, int64_t length);

// Attaches a new node to `out` (which becomes a non-leaf requiring grad). `inputs` are the op's
// differentiable inputs, `saved` the tensors its backward reads; save_output=true makes the
// output available as BackwardArgs::output without a reference cycle.
void record(OpId op, Tensor& out, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& saved, BackwardFn backward, bool save_output = false);

// The node a gradient for `t` should flow into: its grad_fn, its leaf accumulator, or null.
std::shared_ptr<Node> gradient_edge(const Tensor& t);

// Functional gradients: d(sum_i <outputs_i, grad_outputs_i>)/d(inputs), without touching .grad.
// grad_outputs may be empty when every output has one element. With allow_unused, an input the
// outputs do not depend on gets an undefined Tensor; otherwise that is an error.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool create_graph = false, bool allow_unused = false);

// Sums `g` over broadcast dims so it has shape `shape` (the inverse of broadcasting).
Tensor sum_to(const Tensor& g, const Shape& shape);

}  // namespace dg
