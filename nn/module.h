// Module: the base of every layer. A module owns named parameters (leaf tensors that require
// grad), named buffers (state that is saved but not trained, e.g. BatchNorm's running mean) and
// named child modules; names compose into hierarchical keys like "layer1.0.conv1.weight" for
// state_dict / load_state_dict. Layers register what they own in their constructors and keep
// handles to the same tensors as members, so `weight` in a layer and "weight" in its state dict
// are one tensor: loading copies values into it in place.
//
// Modules with one tensor in and one out derive from UnaryModule, which Sequential chains.
// Other layers (LSTM, attention, ...) define their own forward signatures.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"
#include "nn/state_dict.h"

namespace dg::nn {

class Module {
 public:
  using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The layer's kind, for printing ("Linear", "Conv2d", ...).
  virtual std::string type_name() const { return "Module"; }
  // Extra information printed after the type name, e.g. "in=784, out=256".
  virtual std::string extra_repr() const { return ""; }

  // In registration order; with recurse, children's entries follow under "child.name".
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const {
    return children_;
  }
  // This module (named "") and all its descendants, depth first.
  std::vector<std::pair<std::string, Module*>> named_modules();

  int64_t num_parameters() const;

  // Training mode (dropout active, batch norm on batch statistics) for this module and all
  // descendants.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Calls fn on every descendant, then on this module (as PyTorch's Module.apply).
  void apply(const std::function<void(Module&)>& fn);

  // Clears .grad of every parameter.
  void zero_grad();

  // Parameters and buffers (detached handles onto the same storage).
  StateDict state_dict() const;
  // Copies values into this module's tensors. Every entry is checked first (missing and, with
  // strict, unexpected names; shape and dtype mismatches): on any error nothing is modified.
  void load_state_dict(const StateDict& state, bool strict = true);

  // A tree of the module and its children, one per line.
  std::string to_string() const;

 protected:
  // Registers a parameter (made a leaf that requires grad) and returns the handle to keep.
  Tensor register_parameter(const std::string& name, Tensor value, bool requires_grad = true);
  Tensor register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  // Removes the child registered under `name` (its parameters leave this module's state dict),
  // for layers whose parts can be swapped after construction (a BERT layer's feed-forward block
  // replaced by a mixture of experts).
  void unregister_module(const std::string& name);

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name) const;
  void collect(NamedTensors& out, const std::string& prefix, bool params, bool recurse) const;
  void print(std::string& out, const std::string& name, int indent) const;

  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// A module with one tensor in and one tensor out.
class UnaryModule : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

}  // namespace dg::nn
