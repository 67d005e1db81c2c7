// Tensor's own state: storage, geometry, element access and the autograd flags. Operations live in
// engine/ops/; the shorthand methods declared in tensor.h forward to them at the end of this file.
#include "engine/tensor.h"

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/ops/ops.h"

namespace dg {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  data_ = backend(device).allocate(nbytes);
}

Storage::~Storage() { backend(device_).deallocate(data_, nbytes_); }

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, std::string_view op) {
  const int64_t nbytes = checked_nbytes(shape, itemsize(dtype), dtype_name(dtype), op);
  auto impl = std::make_shared<TensorImpl>();
  try {
    impl->storage = std::make_shared<Storage>(static_cast<size_t>(nbytes), device);
  } catch (const std::bad_alloc&) {
    fail("{}: out of memory allocating {} bytes ({:.3g} GiB) for a {} tensor of shape {} on {}", op,
         nbytes, nbytes / double(int64_t{1} << 30), dtype, shape, device);
  }
  impl->shape = shape;
  impl->strides = contiguous_strides(shape, op);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

void Tensor::throw_undefined(const char* accessor) {
  fail("Tensor::{}: undefined tensor (a default-constructed Tensor holds no data)", accessor);
}

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  // A view must address only its storage's elements: checked here, once for every view op, so no
  // view can read or write past the buffer whatever its geometry (and no extent can overflow).
  check(shape.size() == strides.size(), "view: shape {} and strides {} differ in rank", shape,
        strides);
  if (numel(shape, "view") > 0) {
    int64_t lo = offset, hi = offset;
    for (int i = 0; i < shape.size(); ++i) {
      int64_t reach = 0;
      check(!__builtin_mul_overflow(shape[i] - 1, strides[i], &reach),
            "view: shape {} with strides {} overflows", shape, strides);
      check(!__builtin_add_overflow(reach < 0 ? lo : hi, reach, reach < 0 ? &lo : &hi),
            "view: shape {} with strides {} overflows", shape, strides);
    }
    const int64_t elements = static_cast<int64_t>(base.storage()->nbytes() / itemsize(base.dtype()));
    check(lo >= 0 && hi < elements,
          "view: shape {}, strides {}, offset {} reach elements {}..{} of a storage of {}", shape,
          strides, offset, lo, hi, elements);
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // no element is ever addressed
  int64_t expected = 1;
  for (int i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  NoGradGuard no_grad;  // reading values is not part of any graph
  Tensor c = dg::contiguous(*this);
  if (!c.device().is_cpu()) {
    Tensor host = Tensor::empty(c.shape(), c.dtype());
    backend(c.device()).copy_to_host(host.raw_data(), c.raw_data(), c.numel() * itemsize(c.dtype()));
    c = host;
  }
  std::vector<T> out(c.numel());
  visit_dtype(c.dtype(), [&]<class S>() {
    const S* p = c.data<S>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(p[i]);
  });
  return out;
}

template <class T>
T Tensor::item() const {
  check(numel() == 1, "item: expected a tensor with one element, got shape {}", shape());
  return to_vector<T>()[0];
}

template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<bool> Tensor::to_vector<bool>() const;
template std::vector<int> Tensor::to_vector<int>() const;
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template int64_t Tensor::item<int64_t>() const;
template bool Tensor::item<bool>() const;
template int Tensor::item<int>() const;

Tensor& Tensor::set_requires_grad(bool requires_grad) {
  check(is_leaf(), "set_requires_grad: only leaves can change requires_grad (this tensor was made by '{}'); use detach()",
        grad_fn() ? grad_fn()->name() : "?");
  check(!requires_grad || is_floating(dtype()),
        "set_requires_grad: only floating tensors can require grad, got dtype {}", dtype());
  impl_->requires_grad = requires_grad;
  return *this;
}

void Tensor::retain_grad() {
  check(requires_grad(), "retain_grad: tensor does not require grad");
  if (is_leaf() || impl_->retains_grad) return;
  impl_->retains_grad = true;
  std::weak_ptr<TensorImpl> weak = impl_;
  register_hook([weak](const Tensor& g) {
    if (auto impl = weak.lock()) {
      Tensor self(impl);
      if (self.grad().defined()) {
        NoGradGuard no_grad;
        self.set_grad(self.grad() + g);
      } else {
        self.set_grad(g.detach().clone());
      }
    }
    return Tensor();
  });
}

void Tensor::register_hook(GradHook hook) const {
  check(requires_grad(), "register_hook: tensor does not require grad");
  if (is_leaf()) {
    impl_->leaf_hooks.push_back(std::move(hook));
  } else {
    impl_->grad_fn->pre_hooks_.push_back(std::move(hook));
  }
}

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }

Tensor Tensor::contiguous() const { return dg::contiguous(*this); }
Tensor Tensor::clone() const { return dg::clone(*this); }
Tensor Tensor::to(DType d) const { return dg::to_dtype(*this, d); }
Tensor Tensor::reshape(const Shape& s) const { return dg::reshape(*this, s); }
Tensor Tensor::view(const Shape& s) const { return dg::view(*this, s); }
Tensor Tensor::transpose(int64_t d0, int64_t d1) const { return dg::transpose(*this, d0, d1); }
Tensor Tensor::permute(const Shape& dims) const { return dg::permute(*this, dims); }
Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  return dg::narrow(*this, d, start, length);
}
Tensor Tensor::expand(const Shape& s) const { return dg::expand(*this, s); }
Tensor Tensor::squeeze(int64_t d) const { return dg::squeeze(*this, d); }
Tensor Tensor::unsqueeze(int64_t d) const { return dg::unsqueeze(*this, d); }
Tensor Tensor::sum() const { return dg::sum(*this); }
Tensor Tensor::mean() const { return dg::mean(*this); }

}  // namespace dg
