// Shape and view ops. reshape/view, permute/transpose, narrow/select, expand and squeeze/unsqueeze
// return views sharing storage; cat, pad, repeat and contiguous/clone copy. Backward of a view is
// another view or a pad: narrow's gradient is the gradient padded back to the input's size, and
// pad's gradient is the gradient cropped by the same amounts (pad with the negated padding).
#include <numeric>

#include "engine/backend.h"
#include "engine/ops/op_helpers.h"
#include "engine/ops/ops.h"

namespace dg {

namespace {

// Resolves one -1 in `shape` against `count` elements.
Shape infer_shape(const Shape& shape_in, int64_t count, std::string_view op, const Shape& from) {
  Shape shape = shape_in;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      check(infer < 0, "{}: only one dimension can be -1, got {}", op, shape_in);
      infer = i;
    } else {
      check(shape[i] >= 0, "{}: invalid size {} in shape {}", op, shape[i], shape_in);
      check(!__builtin_mul_overflow(known, shape[i], &known),
            "{}: shape {} has more elements than a 64-bit count can hold", op, shape_in);
    }
  }
  if (infer >= 0) {
    check(known != 0 && count % known == 0, "{}: cannot reshape {} ({} elements) into {}", op, from,
          count, shape_in);
    shape[infer] = count / known;
  }
  check(numel(shape, op) == count, "{}: cannot reshape {} ({} elements) into {} ({} elements)", op,
        from, count, shape_in, numel(shape));
  return shape;
}

// Strides that let `new_shape` view memory laid out as (old_shape, old_strides), or nullopt when
// no such strides exist (PyTorch's computeStride).
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides,
                                  const Shape& new_shape) {
  Shape new_strides = Shape::filled(new_shape.size(), 1);
  if (numel(old_shape) == 0 || old_shape.empty()) return contiguous_strides(new_shape);
  int view_d = new_shape.size() - 1;
  int64_t chunk_base_stride = old_strides.back(), tensor_numel = 1, view_numel = 1;
  for (int tensor_d = old_shape.size() - 1; tensor_d >= 0; --tensor_d) {
    tensor_numel *= old_shape[tensor_d];
    if (tensor_d == 0 || (old_shape[tensor_d - 1] != 1 &&
                          old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        new_strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (tensor_d > 0) {
        chunk_base_stride = old_strides[tensor_d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return new_strides;
}

void record_reshape(Tensor& out, const Tensor& x) {
  const Shape in_shape = x.shape();
  record(OpId::reshape, out, {x}, {}, [in_shape](const BackwardArgs& a) -> Grads {
    return {reshape(a.grad, in_shape)};
  });
}

Tensor copy_contiguous(const Tensor& x) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend(x.device()).copy(out, x);
  return out;
}

}  // namespace

Tensor view(const Tensor& x, const Shape& shape_in) {
  detail::check_defined(x, "view");
  const Shape shape = infer_shape(shape_in, x.numel(), "view", x.shape());
  auto strides = x.is_contiguous() ? std::optional(contiguous_strides(shape))
                                   : view_strides(x.shape(), x.strides(), shape);
  check(strides.has_value(),
        "view: a tensor of shape {} and strides {} cannot be viewed as {}; use reshape", x.shape(),
        x.strides(), shape);
  Tensor out = make_view(x, shape, *strides, x.offset());
  if (needs_grad(x)) record_reshape(out, x);
  return out;
}

Tensor reshape(const Tensor& x, const Shape& shape_in) {
  detail::check_defined(x, "reshape");
  const Shape shape = infer_shape(shape_in, x.numel(), "reshape", x.shape());
  auto strides = x.is_contiguous() ? std::optional(contiguous_strides(shape))
                                   : view_strides(x.shape(), x.strides(), shape);
  Tensor out = strides ? make_view(x, shape, *strides, x.offset())
                       : make_view(copy_contiguous(x), shape, contiguous_strides(shape), 0);
  if (needs_grad(x)) record_reshape(out, x);
  return out;
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  detail::check_defined(x, "flatten");
  if (x.dim() == 0) return reshape(x, {1});
  const int s = wrap_dim(start_dim, x.dim(), "flatten"), e = wrap_dim(end_dim, x.dim(), "flatten");
  check(s <= e, "flatten: start_dim {} is after end_dim {}", start_dim, end_dim);
  Shape shape;
  for (int i = 0; i < s; ++i) shape.push_back(x.shape()[i]);
  int64_t merged = 1;
  for (int i = s; i <= e; ++i) merged *= x.shape()[i];
  shape.push_back(merged);
  for (int i = e + 1; i < x.dim(); ++i) shape.push_back(x.shape()[i]);
  return reshape(x, shape);
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  detail::check_defined(x, "squeeze");
  const int d = wrap_dim(dim, x.dim(), "squeeze");
  if (x.dim() == 0 || x.shape()[d] != 1) return x;
  Shape shape = x.shape();
  shape.erase(d);
  return reshape(x, shape);
}

Tensor squeeze(const Tensor& x) {
  detail::check_defined(x, "squeeze");
  Shape shape;
  for (int64_t s : x.shape())
    if (s != 1) shape.push_back(s);
  return reshape(x, shape);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  detail::check_defined(x, "unsqueeze");
  const int d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape();
  shape.insert(d, 1);
  return reshape(x, shape);
}

Tensor permute(const Tensor& x, const Shape& dims) {
  detail::check_defined(x, "permute");
  check(dims.size() == x.dim(), "permute: {} dims given for a tensor with shape {}", dims.size(),
        x.shape());
  Shape shape, strides, inverse = Shape::filled(x.dim(), -1);
  for (int i = 0; i < dims.size(); ++i) {
    const int d = wrap_dim(dims[i], x.dim(), "permute");
    check(inverse[d] < 0, "permute: dim {} repeated in {}", d, dims);
    inverse[d] = i;
    shape.push_back(x.shape()[d]);
    strides.push_back(x.strides()[d]);
  }
  Tensor out = make_view(x, shape, strides, x.offset());
  if (needs_grad(x))
    record(OpId::permute, out, {x}, {}, [inverse](const BackwardArgs& a) -> Grads {
      return {permute(a.grad, inverse)};
    });
  return out;
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  detail::check_defined(x, "transpose");
  Shape dims;
  for (int i = 0; i < x.dim(); ++i) dims.push_back(i);
  if (x.dim() == 0) return x;
  std::swap(dims[wrap_dim(d0, x.dim(), "transpose")], dims[wrap_dim(d1, x.dim(), "transpose")]);
  return permute(x, dims);
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  detail::check_defined(x, "narrow");
  check(x.dim() > 0, "narrow: cannot narrow a 0-dim tensor");
  const int d = wrap_dim(dim, x.dim(), "narrow");
  const int64_t size = x.shape()[d];
  if (start < 0) start += size;
  // Written as length <= size - start so that a huge length cannot overflow past the check.
  if (!(start >= 0 && start <= size && length >= 0 && length <= size - start)) [[unlikely]] {
    int64_t end = 0;
    fail("narrow: range [{}, {}) out of bounds for dim {} of size {} (shape {})", start,
         __builtin_add_overflow(start, length, &end) ? "2^63 or more" : std::to_string(end), d,
         size, x.shape());
  }
  Shape shape = x.shape();
  shape[d] = length;
  Tensor out = make_view(x, shape, x.strides(), x.offset() + start * x.strides()[d]);
  if (needs_grad(x)) {
    std::vector<int64_t> padding(2 * (x.dim() - d), 0);
    padding[2 * (x.dim() - 1 - d)] = start;
    padding[2 * (x.dim() - 1 - d) + 1] = size - start - length;
    record(OpId::narrow, out, {x}, {}, [padding](const BackwardArgs& a) -> Grads {
      return {pad(a.grad, padding, 0.0)};
    });
    // Outside create_graph the engine adds the gradient into the slice directly (autograd.h).
    mark_slice_of_input(out, d, start, length);
  }
  return out;
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  detail::check_defined(x, "select");
  const int d = wrap_dim(dim, x.dim(), "select");
  const int64_t size = x.shape()[d];
  check(index >= -size && index < size, "select: index {} out of range for dim {} of size {}",
        index, d, size);
  return squeeze(narrow(x, d, index < 0 ? index + size : index, 1), d);
}

Tensor expand(const Tensor& x, const Shape& shape_in) {
  detail::check_defined(x, "expand");
  check(shape_in.size() >= x.dim(), "expand: cannot expand {} to fewer dims {}", x.shape(), shape_in);
  const int lead = shape_in.size() - x.dim();
  Shape shape = shape_in, strides = Shape::filled(shape_in.size(), 0);
  for (int i = 0; i < shape.size(); ++i) {
    const int j = i - lead;
    if (j < 0) {
      check(shape[i] >= 0, "expand: size -1 not allowed for a new leading dim ({})", shape_in);
      continue;
    }
    if (shape[i] == -1) shape[i] = x.shape()[j];
    check(x.shape()[j] == shape[i] || x.shape()[j] == 1,
          "expand: cannot expand {} to {} (dim {}: {} vs {})", x.shape(), shape_in, i,
          x.shape()[j], shape[i]);
    strides[i] = x.shape()[j] == shape[i] ? x.strides()[j] : 0;
  }
  Tensor out = make_view(x, shape, strides, x.offset());
  // The engine sums the gradient back down to x's shape.
  if (needs_grad(x))
    record(OpId::expand, out, {x}, {}, [](const BackwardArgs& a) -> Grads { return {a.grad}; });
  return out;
}

Tensor clone(const Tensor& x) {
  detail::check_defined(x, "clone");
  Tensor out = copy_contiguous(x);
  if (needs_grad(x))
    record(OpId::contiguous, out, {x}, {}, [](const BackwardArgs& a) -> Grads { return {a.grad}; });
  return out;
}

Tensor contiguous(const Tensor& x) {
  detail::check_defined(x, "contiguous");
  return x.is_contiguous() ? x : clone(x);
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  check(!tensors.empty(), "cat: expected at least one tensor");
  const Tensor& first = tensors[0];
  detail::check_defined(first, "cat");
  check(first.dim() > 0, "cat: zero-dimensional tensor cannot be concatenated");
  const int d = wrap_dim(dim, first.dim(), "cat");
  Shape shape = first.shape();
  shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    detail::check_same(first, t, "cat");
    bool same = t.dim() == first.dim();
    for (int k = 0; same && k < t.dim(); ++k) same = k == d || t.shape()[k] == first.shape()[k];
    check(same, "cat: tensor {} has shape {}, expected {} except in dim {}", i, t.shape(),
          first.shape(), d);
    shape[d] += t.shape()[d];
  }
  Tensor out = Tensor::empty(shape, first.dtype(), first.device(), "cat");
  std::vector<int64_t> sizes;
  int64_t offset = 0;
  for (const Tensor& t : tensors) {
    Shape part_shape = shape;
    part_shape[d] = t.shape()[d];
    Tensor part = make_view(out, part_shape, out.strides(), offset * out.strides()[d]);
    backend(out.device()).copy(part, t);
    sizes.push_back(t.shape()[d]);
    offset += t.shape()[d];
  }
  bool any_grad = false;
  for (const Tensor& t : tensors) any_grad = any_grad || t.requires_grad();
  if (grad_enabled() && any_grad)
    record(OpId::cat, out, tensors, {}, [d, sizes](const BackwardArgs& a) -> Grads {
      Grads grads;
      int64_t start = 0;
      for (size_t i = 0; i < sizes.size(); ++i) {
        grads.push_back(a.needs(static_cast<int>(i)) ? narrow(a.grad, d, start, sizes[i]) : Tensor());
        start += sizes[i];
      }
      return grads;
    });
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  check(!tensors.empty(), "stack: expected at least one tensor");
  detail::check_defined(tensors[0], "stack");
  const int d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    check(tensors[i].defined() && tensors[i].shape() == tensors[0].shape(),
          "stack: tensor {} has shape {}, expected {}", i,
          tensors[i].defined() ? to_string(tensors[i].shape()) : "undefined", tensors[0].shape());
    parts.push_back(unsqueeze(tensors[i], d));
  }
  return cat(parts, d);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  detail::check_defined(x, "split");
  const int d = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    check(s >= 0, "split: negative size {}", s);
    total += s;
  }
  check(total == x.shape()[d], "split: sizes sum to {} but dim {} has size {}", total, d,
        x.shape()[d]);
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (int64_t s : sizes) {
    parts.push_back(narrow(x, d, start, s));
    start += s;
  }
  return parts;
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  detail::check_defined(x, "split");
  check(split_size > 0, "split: split_size must be positive, got {}", split_size);
  const int64_t n = x.shape()[wrap_dim(dim, x.dim(), "split")];
  std::vector<int64_t> sizes;
  for (int64_t start = 0; start < n; start += split_size) sizes.push_back(std::min(split_size, n - start));
  return split(x, sizes, dim);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  detail::check_defined(x, "chunk");
  check(chunks > 0, "chunk: chunks must be positive, got {}", chunks);
  const int64_t n = x.shape()[wrap_dim(dim, x.dim(), "chunk")];
  return split(x, std::max<int64_t>((n + chunks - 1) / chunks, 1), dim);
}

Tensor repeat(const Tensor& x, const Shape& repeats) {
  detail::check_defined(x, "repeat");
  check(repeats.size() >= x.dim(), "repeat: {} repeats for a tensor with {} dims", repeats.size(),
        x.dim());
  // Interleave each size with its repeat count, expand the counts, and merge the pairs.
  const int lead = repeats.size() - x.dim();
  Shape interleaved, expanded, result;
  for (int i = 0; i < repeats.size(); ++i) {
    check(repeats[i] >= 0, "repeat: negative repeat {}", repeats[i]);
    const int64_t size = i < lead ? 1 : x.shape()[i - lead];
    interleaved.push_back(1);
    interleaved.push_back(size);
    expanded.push_back(repeats[i]);
    expanded.push_back(size);
    int64_t repeated = 0;
    check(!__builtin_mul_overflow(repeats[i], size, &repeated),
          "repeat: {} repeats of dim {} (shape {}) overflow a 64-bit size", repeats[i], i, x.shape());
    result.push_back(repeated);
  }
  check(interleaved.size() <= Shape::kMaxDims, "repeat: too many dims");
  return reshape(expand(reshape(x, interleaved), expanded), result);
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& padding, double value) {
  detail::check_defined(x, "pad");
  check(padding.size() % 2 == 0 && static_cast<int>(padding.size()) <= 2 * x.dim(),
        "pad: padding has {} entries for a tensor with {} dims (expected pairs, at most {})",
        padding.size(), x.dim(), 2 * x.dim());
  Shape shape = x.shape();
  // The region of x that survives (after any cropping) and where it lands in the output.
  Tensor src = x;
  Shape dst_start = Shape::filled(x.dim(), 0);
  for (size_t p = 0; p < padding.size() / 2; ++p) {
    const int d = x.dim() - 1 - static_cast<int>(p);
    const int64_t before = padding[2 * p], after = padding[2 * p + 1];
    check(!__builtin_add_overflow(x.shape()[d], before, &shape[d]) &&
              !__builtin_add_overflow(shape[d], after, &shape[d]),
          "pad: padding ({}, {}) of dim {} of {} overflows a 64-bit size", before, after, d,
          x.shape());
    check(shape[d] >= 0, "pad: padding ({}, {}) makes dim {} of {} negative", before, after, d,
          x.shape());
    const int64_t crop_before = std::max<int64_t>(-before, 0), crop_after = std::max<int64_t>(-after, 0);
    const int64_t keep = std::max<int64_t>(x.shape()[d] - crop_before - crop_after, 0);
    Shape kept_shape = src.shape();
    kept_shape[d] = keep;
    src = make_view(src, kept_shape, src.strides(), src.offset() + crop_before * src.strides()[d]);
    dst_start[d] = std::max<int64_t>(before, 0);
  }
  Tensor out = full(shape, value, x.dtype(), x.device());
  if (src.numel() > 0) {
    int64_t offset = 0;
    for (int d = 0; d < x.dim(); ++d) offset += dst_start[d] * out.strides()[d];
    backend(out.device()).copy(make_view(out, src.shape(), out.strides(), offset), src);
  }
  if (needs_grad(x)) {
    std::vector<int64_t> inverse(padding.size());
    for (size_t i = 0; i < padding.size(); ++i) inverse[i] = -padding[i];
    record(OpId::pad, out, {x}, {}, [inverse](const BackwardArgs& a) -> Grads {
      return {pad(a.grad, inverse, 0.0)};
    });
  }
  return out;
}

}  // namespace dg
