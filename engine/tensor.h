// Tensor: a cheap handle (shared pointer) to a TensorImpl, which holds a view onto a Storage
// (shape, strides in elements, offset in elements, dtype) and, for autograd, the node that made it
// (grad_fn), its accumulated gradient and its hooks. Copying a Tensor copies the handle, never the
// data; views (reshape, transpose, narrow, expand, ...) are new TensorImpls over the same Storage.
//
// The operations themselves are free functions in engine/ops/ops.h; the methods here are the
// tensor's own state plus a few shorthands that forward to those functions.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/storage.h"

namespace dg {

class Node;
class Tensor;

// A gradient hook: called with the gradient flowing into a tensor; returns it unchanged (an
// undefined Tensor) or a replacement.
using GradHook = std::function<Tensor(const Tensor&)>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;  // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;

  // Autograd state. A leaf that requires grad has no grad_fn; its gradient is accumulated into
  // `grad` by the (shared) accumulator node, kept here weakly so all its uses share it.
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;
  std::shared_ptr<TensorImpl> grad;
  std::weak_ptr<Node> grad_accumulator;
  std::vector<GradHook> leaf_hooks;
  bool retains_grad = false;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // An uninitialised contiguous tensor. `op` names the caller in errors: a shape whose byte size
  // overflows, or an allocation the system refuses (out of memory), is a dg::Error naming the op,
  // the shape, the dtype and the bytes asked for.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu(),
                      std::string_view op = "empty");

  bool defined() const { return impl_ != nullptr; }
  // The accessors below throw dg::Error on an undefined (default-constructed) Tensor.
  const Shape& shape() const { return checked("shape").shape; }
  const Shape& strides() const { return checked("strides").strides; }
  int64_t offset() const { return checked("offset").offset; }
  int dim() const { return checked("dim").shape.size(); }
  int64_t size(int64_t dim) const;
  int64_t numel() const { return dg::numel(checked("numel").shape); }
  DType dtype() const { return checked("dtype").dtype; }
  Device device() const { return checked("device").storage->device(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return checked("storage").storage; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }
  uint64_t version() const { return checked("version").storage->version(); }

  // Pointer to the first element (storage base + offset). Checks the dtype.
  template <class T>
  T* data() const {
    check(dtype_of<T>() == dtype(), "data<{}>: tensor has dtype {}", dtype_name(dtype_of<T>()),
          dtype());
    return static_cast<T*>(impl_->storage->data()) + impl_->offset;
  }
  void* raw_data() const {
    return static_cast<char*>(checked("raw_data").storage->data()) +
           impl_->offset * itemsize(impl_->dtype);
  }

  // The single value of a one-element tensor, converted to T.
  template <class T>
  T item() const;
  // All elements in row-major order, converted to T.
  template <class T>
  std::vector<T> to_vector() const;

  // ---- autograd ----
  // False for an undefined tensor, so optional inputs (a missing bias) can be passed to needs_grad.
  bool requires_grad() const { return impl_ && impl_->requires_grad; }
  // Only on leaves (and only floating dtypes); returns *this for chaining.
  Tensor& set_requires_grad(bool requires_grad = true);
  bool is_leaf() const { return checked("is_leaf").grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return checked("grad_fn").grad_fn; }
  Tensor grad() const { return Tensor(checked("grad").grad); }
  void set_grad(const Tensor& g) { checked("set_grad").grad = g.impl_; }
  void zero_grad() { checked("zero_grad").grad.reset(); }
  // Keep the gradient of a non-leaf in .grad after backward.
  void retain_grad();
  // Reverse-mode gradient of this tensor; `gradient` may be omitted only for one-element tensors.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false,
                bool create_graph = false) const;
  void register_hook(GradHook hook) const;
  // A tensor sharing storage with this one but cut from the graph.
  Tensor detach() const;

  // ---- shorthands for free functions in engine/ops/ops.h ----
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor permute(const Shape& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor expand(const Shape& shape) const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor sum() const;
  Tensor mean() const;

  // In-place ops (bump the version counter). Refused on tensors that require grad while grad
  // mode is on: optimizers run them under NoGradGuard.
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& sub_(const Tensor& other);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(double value);
  Tensor& add_(double value);
  Tensor& div_(const Tensor& other);
  Tensor& div_(double value);
  Tensor& sqrt_();
  Tensor& copy_(const Tensor& src);
  Tensor& fill_(double value);
  Tensor& zero_();

  std::string to_string() const;

 private:
  // The implementation, or a dg::Error naming the accessor when this Tensor is undefined (a
  // default-constructed handle, e.g. a missing optional input or a gradient never computed).
  TensorImpl& checked(const char* accessor) const {
    if (!impl_) [[unlikely]] throw_undefined(accessor);
    return *impl_;
  }
  [[noreturn]] static void throw_undefined(const char* accessor);

  std::shared_ptr<TensorImpl> impl_;
};

// A view of `base`'s storage with new geometry; the caller handles autograd.
Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset);

}  // namespace dg
