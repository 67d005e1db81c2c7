// The autograd engine: recording nodes, and running backward over them. See autograd.h for the
// model; the walk itself is GraphTask::run below.
#include "engine/autograd.h"

#include <unordered_map>

#include "engine/ops/ops.h"

namespace dg {

namespace {
thread_local bool t_grad_enabled = true;

constexpr std::string_view kOpNames[] = {
#define DG_OP(name) #name,
#include "engine/ops/ops.def"
#undef DG_OP
    "accumulate_grad",
};
}  // namespace

bool grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool enabled) { t_grad_enabled = enabled; }

std::string_view op_name(OpId op) { return kOpNames[static_cast<size_t>(op)]; }

std::vector<OpId> all_differentiable_ops() {
  std::vector<OpId> ops;
  for (size_t i = 0; i < static_cast<size_t>(OpId::accumulate_grad); ++i)
    ops.push_back(static_cast<OpId>(i));
  return ops;
}

Node::~Node() {
  // Move the edges of every node about to die onto a stack, so each destructor finds no children
  // left to destroy recursively. Saved tensors count too: a saved intermediate owns its grad_fn.
  std::vector<std::shared_ptr<Node>> dying;
  auto unlink = [&dying](Node& node) {
    for (auto& in : node.inputs_)
      if (in.node) dying.push_back(std::move(in.node));
    for (auto& saved : node.saved_)
      if (saved.defined() && saved.impl_ptr().use_count() == 1 && saved.impl()->grad_fn)
        dying.push_back(std::move(saved.impl()->grad_fn));
    node.saved_.clear();
  };
  unlink(*this);
  while (!dying.empty()) {
    std::shared_ptr<Node> node = std::move(dying.back());
    dying.pop_back();
    if (node.use_count() == 1) unlink(*node);
  }
}

std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  if (t.grad_fn()) return t.grad_fn();
  TensorImpl* impl = t.impl();
  if (auto acc = impl->grad_accumulator.lock()) return acc;
  auto acc = std::make_shared<Node>();
  acc->op_ = OpId::accumulate_grad;
  acc->leaf_ = t.impl_ptr();
  impl->grad_accumulator = acc;
  return acc;
}

void record(OpId op, Tensor& out, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& saved, BackwardFn backward, bool save_output) {
  auto node = std::make_shared<Node>();
  node->op_ = op;
  node->inputs_.reserve(inputs.size());
  node->input_needs_grad_.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    auto edge = gradient_edge(in);
    node->input_needs_grad_.push_back(edge != nullptr);
    node->inputs_.push_back({std::move(edge), in.shape(), in.dtype()});
  }
  node->saved_.assign(saved.begin(), saved.end());
  node->saved_versions_.reserve(saved.size());
  for (const Tensor& s : saved) node->saved_versions_.push_back(s.defined() ? s.version() : 0);
  node->backward_ = std::move(backward);
  if (save_output) {
    node->saved_output_ = out.detach().impl_ptr();
    node->saved_output_version_ = out.version();
  }
  out.impl()->requires_grad = true;
  out.impl()->grad_fn = std::move(node);
}

void mark_slice_of_input(const Tensor& out, int dim, int64_t start, int64_t length) {
  Node* node = out.grad_fn().get();
  check(node != nullptr && node->inputs_.size() == 1,
        "mark_slice_of_input: the tensor must have just been recorded with one input");
  node->slice_ = Node::SliceOfInput{dim, start, length};
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int lead = g.dim() - shape.size();
  check(lead >= 0, "sum_to: cannot reduce a gradient of shape {} to shape {}", g.shape(), shape);
  std::vector<int64_t> dims;
  for (int i = 0; i < g.dim(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) dims.push_back(i);
  }
  Tensor r = dims.empty() ? g : sum(g, dims, /*keepdim=*/true);
  check(r.numel() == numel(shape), "sum_to: cannot reduce a gradient of shape {} to shape {}",
        g.shape(), shape);
  if (lead > 0 || !(r.shape() == shape)) r = reshape(r, shape);
  return r;
}

// One run of backward (or of grad()): the nodes reachable from the roots, their dependency
// counts, and the gradient buffers waiting for each node.
class GraphTask {
 public:
  GraphTask(bool retain_graph, bool create_graph, bool accumulate_into_leaves)
      : retain_graph_(retain_graph), create_graph_(create_graph),
        accumulate_into_leaves_(accumulate_into_leaves) {}

  // Nodes whose incoming gradient should be captured (for grad()).
  void capture(const std::shared_ptr<Node>& node) { captured_.emplace(node.get(), Tensor()); }
  Tensor captured(Node* node) const { return captured_.at(node); }

  void run(const std::vector<std::shared_ptr<Node>>& roots, const std::vector<Tensor>& root_grads) {
    count_dependencies(roots);
    for (size_t i = 0; i < roots.size(); ++i) add_grad(roots[i].get(), root_grads[i]);
    std::vector<Node*> ready;
    for (const auto& root : roots)
      if (dependencies_[root.get()] == 0) ready.push_back(root.get());
    // A root may be reachable from another root; push each only once.
    std::sort(ready.begin(), ready.end());
    ready.erase(std::unique(ready.begin(), ready.end()), ready.end());

    GradMode_ guard(create_graph_);
    while (!ready.empty()) {
      Node* node = ready.back();
      ready.pop_back();
      Tensor g;
      if (auto it = pending_.find(node); it != pending_.end()) {
        g = std::move(it->second);
        pending_.erase(it);
      }
      if (g.defined()) execute(node, std::move(g));
      for (const auto& in : node->inputs_) {
        if (!in.node) continue;
        if (--dependencies_[in.node.get()] == 0) ready.push_back(in.node.get());
      }
      if (!retain_graph_ && node->op_ != OpId::accumulate_grad) release(node);
    }
  }

 private:
  struct GradMode_ {
    explicit GradMode_(bool enabled) : previous(grad_enabled()) { set_grad_enabled(enabled); }
    ~GradMode_() { set_grad_enabled(previous); }
    bool previous;
  };

  void count_dependencies(const std::vector<std::shared_ptr<Node>>& roots) {
    std::vector<Node*> stack;
    for (const auto& r : roots) {
      if (dependencies_.emplace(r.get(), 0).second) stack.push_back(r.get());
    }
    while (!stack.empty()) {
      Node* node = stack.back();
      stack.pop_back();
      for (const auto& in : node->inputs_) {
        if (!in.node) continue;
        auto [it, inserted] = dependencies_.emplace(in.node.get(), 0);
        ++it->second;
        if (inserted) stack.push_back(in.node.get());
      }
    }
  }

  void add_grad(Node* node, Tensor g) {
    auto [it, inserted] = pending_.emplace(node, Tensor());
    if (inserted) {
      it->second = std::move(g);
    } else if (!create_graph_ && exclusive(it->second) && it->second.shape() == g.shape()) {
      it->second.add_(g);
    } else {
      it->second = it->second + g;
    }
  }

  // Adds `g` into the region `slice` of the gradient buffer of `node` (an input of shape `shape`).
  void add_grad_to_slice(Node* node, const Shape& shape, const Tensor& g,
                         const Node::SliceOfInput& slice) {
    auto [it, inserted] = pending_.emplace(node, Tensor());
    Tensor& buffer = it->second;
    if (inserted) {
      buffer = zeros(shape, g.dtype(), g.device());
    } else if (!exclusive(buffer)) {
      buffer = clone(buffer);
    }
    narrow(buffer, slice.dim, slice.start, slice.length).add_(g);
  }

  // A buffer that nothing else can see, so adding into it in place is safe: a gradient handed to
  // two inputs (add's backward returns the same tensor twice), a view of a saved tensor or a
  // broadcast (stride-0) view all fail this test and are added out of place.
  static bool exclusive(const Tensor& t) {
    return t.is_contiguous() && t.impl_ptr().use_count() == 1 && t.storage().use_count() == 1 &&
           !t.requires_grad();
  }

  void execute(Node* node, Tensor g) {
    for (const auto& hook : node->pre_hooks_) {
      Tensor replaced = hook(g);
      if (replaced.defined()) g = replaced;
    }
    if (auto it = captured_.find(node); it != captured_.end()) {
      it->second = it->second.defined() ? it->second + g : g;
    }
    if (node->op_ == OpId::accumulate_grad) {
      if (accumulate_into_leaves_) accumulate(node, std::move(g));
      return;
    }
    check(!node->released_,
          "backward: trying to backward through the graph a second time (op '{}'), but its saved "
          "tensors were freed after the first backward; pass retain_graph=true to the first call",
          node->name());
    if (node->slice_ && !create_graph_) {
      const Node::Input& in = node->inputs_[0];
      if (in.node) add_grad_to_slice(in.node.get(), in.shape, g, *node->slice_);
      return;
    }
    BackwardArgs args;
    args.grad = std::move(g);
    args.saved.reserve(node->saved_.size());
    for (size_t i = 0; i < node->saved_.size(); ++i) {
      const Tensor& s = node->saved_[i];
      if (s.defined() && s.version() != node->saved_versions_[i])
        fail("backward: a tensor of shape {} saved by '{}' for its backward was modified by an "
             "in-place operation (version {} -> {}); clone it before modifying it",
             s.shape(), node->name(), node->saved_versions_[i], s.version());
      args.saved.push_back(s);
    }
    if (node->saved_output_) {
      Tensor out_data(node->saved_output_);
      if (out_data.version() != node->saved_output_version_)
        fail("backward: the output of '{}' (shape {}) was modified by an in-place operation "
             "(version {} -> {}); clone it before modifying it",
             node->name(), out_data.shape(), node->saved_output_version_, out_data.version());
      // Reconnect the output to this node so the formula can be differentiated again.
      auto impl = std::make_shared<TensorImpl>(*node->saved_output_);
      impl->requires_grad = true;
      impl->grad_fn = node->shared_from_this();
      args.output = Tensor(std::move(impl));
    }
    args.input_needs_grad = &node->input_needs_grad_;
    Grads grads = node->backward_(args);
    check(grads.size() == node->inputs_.size(), "backward of '{}' returned {} gradients for {} inputs",
          node->name(), grads.size(), node->inputs_.size());
    for (size_t i = 0; i < grads.size(); ++i) {
      const Node::Input& in = node->inputs_[i];
      if (!in.node || !grads[i].defined()) continue;
      Tensor gi = sum_to(grads[i], in.shape);
      check(gi.dtype() == in.dtype, "backward of '{}': gradient {} has dtype {}, input has {}",
            node->name(), i, gi.dtype(), in.dtype);
      add_grad(in.node.get(), std::move(gi));
    }
  }

  void accumulate(Node* node, Tensor g) {
    auto leaf_impl = node->leaf_.lock();
    if (!leaf_impl) return;  // the leaf is gone; nobody can read its gradient
    Tensor leaf(leaf_impl);
    for (const auto& hook : leaf_impl->leaf_hooks) {
      Tensor replaced = hook(g);
      if (replaced.defined()) g = replaced;
    }
    Tensor old = leaf.grad();
    if (create_graph_) {
      leaf.set_grad(old.defined() ? old + g : g);
      return;
    }
    NoGradGuard no_grad;
    if (!old.defined()) {
      // Steal the buffer only when nothing else can see it; otherwise a later in-place update of
      // .grad (an optimizer's) would corrupt another tensor.
      const bool exclusive = g.is_contiguous() && g.impl_ptr().use_count() == 1 &&
                             g.storage().use_count() == 1 && !g.requires_grad();
      leaf.set_grad(exclusive ? g : clone(g.detach()));
    } else if (old.requires_grad()) {
      leaf.set_grad(old.detach() + g.detach());
    } else {
      old.add_(g);
    }
  }

  void release(Node* node) {
    node->released_ = true;
    node->backward_ = nullptr;
    node->saved_.clear();
    node->saved_output_.reset();
  }

  bool retain_graph_, create_graph_, accumulate_into_leaves_;
  std::unordered_map<Node*, int> dependencies_;
  std::unordered_map<Node*, Tensor> pending_;
  std::unordered_map<Node*, Tensor> captured_;
};

namespace {

Tensor default_root_grad(const Tensor& out, std::string_view op) {
  check(out.numel() == 1,
        "{}: grad can be implicitly created only for a one-element output, got shape {}; pass a "
        "gradient of that shape",
        op, out.shape());
  return ones_like(out);
}

std::shared_ptr<Node> root_node(const Tensor& out, std::string_view op) {
  check(out.defined(), "{}: undefined tensor", op);
  auto node = gradient_edge(out);
  check(node != nullptr, "{}: tensor of shape {} does not require grad and has no grad_fn", op,
        out.shape());
  return node;
}

}  // namespace

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  auto root = root_node(*this, "backward");
  Tensor g = gradient.defined() ? gradient : default_root_grad(*this, "backward");
  check(g.shape() == shape() && g.dtype() == dtype(),
        "backward: gradient has shape {} and dtype {}, the tensor has shape {} and dtype {}",
        g.shape(), g.dtype(), shape(), dtype());
  GraphTask task(retain_graph, create_graph, /*accumulate_into_leaves=*/true);
  task.run({root}, {g});
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph,
                         bool create_graph, bool allow_unused) {
  check(grad_outputs.empty() || grad_outputs.size() == outputs.size(),
        "grad: {} outputs but {} grad_outputs", outputs.size(), grad_outputs.size());
  std::vector<std::shared_ptr<Node>> roots;
  std::vector<Tensor> root_grads;
  for (size_t i = 0; i < outputs.size(); ++i) {
    roots.push_back(root_node(outputs[i], "grad"));
    Tensor g = grad_outputs.empty() || !grad_outputs[i].defined()
                   ? default_root_grad(outputs[i], "grad")
                   : grad_outputs[i];
    check(g.shape() == outputs[i].shape(), "grad: grad_outputs[{}] has shape {}, output has {}", i,
          g.shape(), outputs[i].shape());
    root_grads.push_back(g);
  }
  GraphTask task(retain_graph, create_graph, /*accumulate_into_leaves=*/false);
  std::vector<std::shared_ptr<Node>> input_nodes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    check(inputs[i].defined() && inputs[i].requires_grad(),
          "grad: input {} does not require grad", i);
    input_nodes.push_back(gradient_edge(inputs[i]));
    task.capture(input_nodes.back());
  }
  task.run(roots, root_grads);
  std::vector<Tensor> result;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor g = task.captured(input_nodes[i].get());
    check(g.defined() || allow_unused,
          "grad: input {} (shape {}) is not reachable from the outputs; pass allow_unused=true",
          i, inputs[i].shape());
    result.push_back(g);
  }
  return result;
}

}  // namespace dg
