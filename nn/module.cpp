// Module: registration, traversal, train/eval, state dicts and printing. See module.h.
#include "nn/module.h"

#include <fmt/ranges.h>

#include <set>

#include "engine/autograd.h"
#include "engine/ops/ops.h"

namespace dg::nn {

void Module::check_new_name(const std::string& name) const {
  check(!name.empty() && name.find('.') == std::string::npos,
        "{}: invalid name '{}' (must be non-empty and contain no '.')", type_name(), name);
  auto taken = [&](const auto& list) {
    for (const auto& [n, _] : list)
      if (n == name) return true;
    return false;
  };
  check(!taken(parameters_) && !taken(buffers_) && !taken(children_),
        "{}: the name '{}' is already registered", type_name(), name);
}

Tensor Module::register_parameter(const std::string& name, Tensor value, bool requires_grad) {
  check_new_name(name);
  check(value.defined(), "{}: parameter '{}' is undefined", type_name(), name);
  check(value.is_leaf(), "{}: parameter '{}' must be a leaf tensor (detach it first)", type_name(),
        name);
  value.set_requires_grad(requires_grad);
  parameters_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name);
  check(value.defined(), "{}: buffer '{}' is undefined", type_name(), name);
  buffers_.emplace_back(name, value);
  return value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name);
  check(module != nullptr, "{}: child module '{}' is null", type_name(), name);
  module->train(training_);
  children_.emplace_back(name, std::move(module));
}

void Module::unregister_module(const std::string& name) {
  for (auto it = children_.begin(); it != children_.end(); ++it) {
    if (it->first == name) {
      children_.erase(it);
      return;
    }
  }
  throw Error(fmt::format("{}: no child module named '{}'", type_name(), name));
}

void Module::collect(NamedTensors& out, const std::string& prefix, bool params, bool recurse) const {
  for (const auto& [name, t] : params ? parameters_ : buffers_) out.emplace_back(prefix + name, t);
  if (!recurse) return;
  for (const auto& [name, child] : children_) child->collect(out, prefix + name + ".", params, true);
}

Module::NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect(out, "", true, recurse);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [_, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

Module::NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect(out, "", false, recurse);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (size_t i = 0; i < out.size(); ++i) {  // breadth over the list, depth via insertion order
    auto [prefix, module] = out[i];
    size_t at = i + 1;
    for (const auto& [name, child] : module->children_) {
      out.insert(out.begin() + static_cast<std::ptrdiff_t>(at++),
                 {prefix.empty() ? name : prefix + "." + name, child.get()});
    }
  }
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [_, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, child] : children_) child->train(on);
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [_, child] : children_) child->apply(fn);
  fn(*this);
}

void Module::zero_grad() {
  for (auto& [_, t] : named_parameters()) t.zero_grad();
}

StateDict Module::state_dict() const {
  StateDict state;
  for (auto& [name, t] : named_parameters()) state[name] = t.detach();
  for (auto& [name, t] : named_buffers()) state[name] = t.detach();
  return state;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  NamedTensors targets = named_parameters();
  for (auto& entry : named_buffers()) targets.push_back(entry);
  // Validate everything before touching anything.
  std::vector<std::string> missing, unexpected, mismatched;
  std::set<std::string> known;
  for (const auto& [name, t] : targets) {
    known.insert(name);
    auto it = state.find(name);
    if (it == state.end()) {
      missing.push_back(name);
    } else if (!(it->second.shape() == t.shape()) || it->second.dtype() != t.dtype()) {
      mismatched.push_back(fmt::format("'{}': checkpoint has {} {}, module has {} {}", name,
                                       it->second.dtype(), it->second.shape(), t.dtype(), t.shape()));
    }
  }
  for (const auto& [name, _] : state)
    if (!known.count(name)) unexpected.push_back(name);
  std::string problems;
  if (!missing.empty()) problems += fmt::format("; missing keys: {}", fmt::join(missing, ", "));
  if (strict && !unexpected.empty())
    problems += fmt::format("; unexpected keys: {}", fmt::join(unexpected, ", "));
  if (!mismatched.empty()) problems += fmt::format("; mismatched: {}", fmt::join(mismatched, "; "));
  if (!problems.empty()) fail("load_state_dict ({}): {}", type_name(), problems.substr(2));
  NoGradGuard no_grad;
  for (auto& [name, t] : targets) t.copy_(state.at(name));
}

void Module::print(std::string& out, const std::string& name, int indent) const {
  out += std::string(indent, ' ');
  if (!name.empty()) out += "(" + name + "): ";
  out += type_name() + "(" + extra_repr();
  if (children_.empty()) {
    out += ")\n";
    return;
  }
  out += "\n";
  for (const auto& [child_name, child] : children_) child->print(out, child_name, indent + 2);
  out += std::string(indent, ' ') + ")\n";
}

std::string Module::to_string() const {
  std::string out;
  print(out, "", 0);
  return out;
}

}  // namespace dg::nn
