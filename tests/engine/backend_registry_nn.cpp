// Backend registry cases (test_backend_registry.cpp) for the neural-network kernels: convolution
// with both gradients and the kernel mixture, pooling with its backwards, softmax and
// cross-entropy with theirs, layer and batch norm, and the LSTM cell: one line per case family in
// register_nn_cases. Backward entries read what the reference forward produced (pooling indices,
// softmax outputs, the cross-entropy's log-sum-exp, the layer norm's statistics).
#include <cmath>
#include <limits>

#include "engine/scalar_math.h"
#include "tests/engine/backend_registry.h"

namespace dg::test::registry {
using reference::reference_backend;

namespace {

// ---------------------------------------------------------------- convolution and pooling

Geometry conv_geometry(const Shape& x, const Shape& w, std::array<int64_t, 2> stride,
                       std::array<int64_t, 2> pad, std::array<int64_t, 2> dilation,
                       int64_t groups) {
  Geometry g;
  g.batch = x[0], g.in_channels = x[1], g.out_channels = w[0], g.groups = groups;
  g.in_h = x[2], g.in_w = x[3], g.kernel_h = w[2], g.kernel_w = w[3];
  g.stride_h = stride[0], g.stride_w = stride[1], g.pad_h = pad[0], g.pad_w = pad[1];
  g.dilation_h = dilation[0], g.dilation_w = dilation[1];
  g.out_h = (g.in_h + 2 * g.pad_h - g.dilation_h * (g.kernel_h - 1) - 1) / g.stride_h + 1;
  g.out_w = (g.in_w + 2 * g.pad_w - g.dilation_w * (g.kernel_w - 1) - 1) / g.stride_w + 1;
  return g;
}

// conv2d (with and without bias) and both of its gradients, in f32 and f64.
void conv_family(const char* name, const Shape& x, const Shape& w,
                 std::array<int64_t, 2> stride = {1, 1}, std::array<int64_t, 2> pad = {0, 0},
                 std::array<int64_t, 2> dilation = {1, 1}, int64_t groups = 1) {
  const Geometry g = conv_geometry(x, w, stride, pad, dilation, groups);
  const Shape y{g.batch, g.out_channels, g.out_h, g.out_w};
  for (DType dtype : {f32, f64}) {
    const uint64_t seed = next_seed();
    auto inputs = [=] {
      return Tensors{make_input(x, dtype, kContiguous, seed),
                     make_input(w, dtype, kContiguous, seed + 1),
                     make_input({w[0]}, dtype, kContiguous, seed + 2),
                     make_input(y, dtype, kContiguous, seed + 3)};
    };
    for (bool bias : {true, false})
      add(Entry::conv2d, fmt::format("{} {}{}", name, dtype, bias ? " + bias" : ""), inputs,
          [=](Backend& b, Device d, const Tensors& in) {
            const Tensor out = empty(d, y, dtype);
            b.conv2d(out, in[0], in[1], bias ? in[2] : Tensor(), g);
            return Tensors{out};
          },
          kSums);
    add(Entry::conv2d_input_grad, fmt::format("{} {}", name, dtype), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor grad_input = empty(d, x, dtype);
          b.conv2d_input_grad(grad_input, in[3], in[1], g);
          return Tensors{grad_input};
        },
        kSums);
    add(Entry::conv2d_weight_grad, fmt::format("{} {}", name, dtype), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor grad_weight = empty(d, w, dtype);
          b.conv2d_weight_grad(grad_weight, in[3], in[0], g);
          return Tensors{grad_weight};
        },
        kSums);
  }
}

// Dynamic convolution's kernel mixture over K factors: whole kernels, or only `density` of the
// kernel's positions mixed over a base kernel.
void kernel_mixture_case(DType dtype, const Shape& x, const Shape& w, int64_t K, int64_t groups,
                         std::array<int64_t, 2> stride, std::array<int64_t, 2> pad, bool biases,
                         double density = 0) {
  const Geometry g = conv_geometry(x, w, stride, pad, {1, 1}, groups);
  const uint64_t seed = next_seed();
  const std::vector<int64_t> positions = test::increasing_positions(numel(w), density, seed);
  const int64_t D = static_cast<int64_t>(positions.size());
  add(
      Entry::kernel_mixture_conv2d,
      fmt::format("{} x {} w {} K {} groups {} stride {} pad {}{}{}", dtype, x, w, K, groups,
                  stride[0], pad[0], biases ? " + biases" : "",
                  density > 0 ? fmt::format(", {} positions over a base", D) : ""),
      [=] {
        Shape factors_shape{K};
        if (density > 0) {
          factors_shape.push_back(D);
        } else {
          for (int64_t s : w) factors_shape.push_back(s);
        }
        return Tensors{make_input(x, dtype, kContiguous, seed),
                       make_input({x[0], K}, dtype, kContiguous, seed + 1, 0, 1),
                       make_input(factors_shape, dtype, kContiguous, seed + 2),
                       biases ? make_input({x[0], w[0]}, dtype, kContiguous, seed + 3) : Tensor(),
                       density > 0 ? make_input(w, dtype, kContiguous, seed + 4) : Tensor(),
                       density > 0 ? indices(positions, {D}) : Tensor()};
      },
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor out = empty(d, {g.batch, g.out_channels, g.out_h, g.out_w}, dtype);
        if (!b.kernel_mixture_conv2d(out, in[0], in[1], in[2], in[3], in[4], in[5], g)) return Tensors{};
        return Tensors{out};
      },
      kSums);
}

PoolGeometry pool_geometry(int64_t planes, int64_t in_h, int64_t in_w, int64_t kernel,
                           int64_t stride, int64_t pad, int64_t adaptive_out) {
  PoolGeometry g;
  g.planes = planes, g.in_h = in_h, g.in_w = in_w;
  if (adaptive_out > 0) {
    g.adaptive = true;
    g.out_h = g.out_w = adaptive_out;
  } else {
    g.kernel_h = g.kernel_w = kernel, g.stride_h = g.stride_w = stride, g.pad_h = g.pad_w = pad;
    g.out_h = (in_h + 2 * pad - kernel) / stride + 1;
    g.out_w = (in_w + 2 * pad - kernel) / stride + 1;
  }
  return g;
}

// Max pooling (with and without indices) and average pooling, with their backwards, in f32 and
// f64; `ties` fills the planes with whole numbers so windows hold equal maxima, `nans` plants NaNs.
void pool_family(const char* name, int64_t planes, int64_t in_h, int64_t in_w, int64_t kernel,
                 int64_t stride, int64_t pad, int64_t adaptive_out = 0, bool ties = false,
                 bool nans = false) {
  const PoolGeometry g = pool_geometry(planes, in_h, in_w, kernel, stride, pad, adaptive_out);
  const Shape x{planes, in_h, in_w}, y{planes, g.out_h, g.out_w};
  for (DType dtype : {f32, f64}) {
    const uint64_t seed = next_seed();
    auto inputs = [=] {
      Tensor input = make_input(x, dtype, kContiguous, seed, -3, 3, ties);
      if (nans) poke(input, 11, std::nan(""));
      // The indices max_pool2d_backward reads, from the reference forward.
      const Tensor maxima = Tensor::empty(y, dtype), at = Tensor::empty(y, i64);
      reference_backend().max_pool2d(maxima, at, input, g);
      return Tensors{input, make_input(y, dtype, kContiguous, seed + 1), at};
    };
    // Max pooling has fixed windows only: the op layer has no adaptive max pooling, and the CPU
    // backend's max_pool2d does not handle adaptive windows.
    for (bool with_indices : {true, false}) {
      if (g.adaptive) break;
      add(Entry::max_pool2d,
          fmt::format("{} {}{}", name, dtype, with_indices ? "" : " (no indices)"), inputs,
          [=](Backend& b, Device d, const Tensors& in) {
            const Tensor out = empty(d, y, dtype), at = with_indices ? empty(d, y, i64) : Tensor();
            b.max_pool2d(out, at, in[0], g);
            return with_indices ? Tensors{out, at} : Tensors{out};
          });
    }
    if (!g.adaptive)
      add(Entry::max_pool2d_backward, fmt::format("{} {}", name, dtype), inputs,
          [=](Backend& b, Device d, const Tensors& in) {
            const Tensor grad_input = empty(d, x, dtype);
            b.max_pool2d_backward(grad_input, in[1], in[2], g);
            return Tensors{grad_input};
          },
          kSums);
    add(Entry::avg_pool2d, fmt::format("{} {}", name, dtype), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor out = empty(d, y, dtype);
          b.avg_pool2d(out, in[0], g);
          return Tensors{out};
        },
        kSums);
    add(Entry::avg_pool2d_backward, fmt::format("{} {}", name, dtype), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor grad_input = empty(d, x, dtype);
          b.avg_pool2d_backward(grad_input, in[1], g);
          return Tensors{grad_input};
        },
        kSums);
  }
}

// ---------------------------------------------------------------- softmax and losses

enum class Special { none, minus_inf_entries, minus_inf_row, nan_entry };

void softmax_case(DType dtype, Layout layout, const Shape& shape, int dim,
                  Special special = Special::none) {
  const uint64_t seed = next_seed();
  const char* what[] = {"", " with -inf entries", " with a row of -inf", " with NaN"};
  for (bool log : {false, true})
    add(
        Entry::softmax,
        fmt::format("{} {} {} {} dim {}{}", log ? "log_softmax" : "softmax", dtype,
                    layout_name(layout), shape, dim, what[static_cast<int>(special)]),
        [=] {
          Tensor x = make_input(shape, dtype, layout, seed, -5, 5);
          if (special == Special::minus_inf_entries)
            poke(x, 3, -std::numeric_limits<double>::infinity());
          if (special == Special::minus_inf_row)
            poke(x, 1, -std::numeric_limits<double>::infinity());
          if (special == Special::nan_entry) poke(x, 13, std::nan(""));
          return Tensors{x};
        },
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor out = empty(d, shape, dtype);
          b.softmax(out, in[0], dim, log);
          return Tensors{out};
        },
        kSums);
}

void softmax_backward_case(DType dtype, Layout grad_layout, const Shape& shape, int dim) {
  const uint64_t seed = next_seed();
  for (bool log : {false, true})
    add(Entry::softmax_backward,
        fmt::format("{} {} grad {} {} dim {}", log ? "log_softmax" : "softmax", dtype,
                    layout_name(grad_layout), shape, dim),
        [=] {
          const Tensor y = Tensor::empty(shape, dtype);
          reference_backend().softmax(y, make_input(shape, dtype, kContiguous, seed, -3, 3), dim,
                                      log);
          return Tensors{make_input(shape, dtype, grad_layout, seed + 1), y};
        },
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor grad_in = empty(d, shape, dtype);
          b.softmax_backward(grad_in, in[0], in[1], dim, log);
          return Tensors{grad_in};
        },
        kSums);
}

// Targets in [0, C), every fifth one ignored when `ignore`.
Tensor targets(int64_t N, int64_t S, int64_t C, bool ignore, uint64_t seed) {
  Tensor t = hashed_indices({N, S}, C, seed);
  if (ignore)
    for (int64_t i = 0; i < N * S; i += 5) t.data<int64_t>()[i] = -100;
  return t;
}

void cross_entropy_family(DType dtype, int64_t N, int64_t C, int64_t S, bool weighted, bool ignore,
                          double smoothing) {
  const uint64_t seed = next_seed();
  const std::string name =
      fmt::format("{} [{}, {}, {}]{}{} smoothing {}", dtype, N, C, S, weighted ? " weighted" : "",
                  ignore ? " with ignored targets" : "", smoothing);
  auto spec_of = [=](const Tensors& in) {
    return Backend::CrossEntropyTarget{.target = in[1], .weight = in[2], .ignore_index = -100,
                                       .label_smoothing = smoothing};
  };
  auto inputs = [=] {
    const Tensor logits = make_input({N, C, S}, dtype, kContiguous, seed, -4, 4);
    const Tensor target = targets(N, S, C, ignore, seed + 1);
    const Tensor weight =
        weighted ? make_input({C}, dtype, kContiguous, seed + 2, 0.2, 2) : Tensor();
    const Tensor loss = Tensor::empty({N, S}, dtype), lse = Tensor::empty({2, N, S}, dtype);
    reference_backend().cross_entropy(loss, lse, logits, spec_of({logits, target, weight}));
    // A per-position gradient, and the stride-0 one of a reduced (mean or sum) loss.
    const Tensor grad = make_input({N, S}, dtype, kContiguous, seed + 3);
    const Tensor grad_of_reduced =
        make_view(make_input({1}, dtype, kContiguous, seed + 4), {N, S}, {0, 0}, 0);
    return Tensors{logits, target, weight, lse, grad, grad_of_reduced};
  };
  add(Entry::cross_entropy, name, inputs,
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor loss = empty(d, {N, S}, dtype), lse = empty(d, {2, N, S}, dtype);
        b.cross_entropy(loss, lse, in[0], spec_of(in));
        return Tensors{loss, lse};
      },
      kSums);
  for (int grad : {4, 5})
    add(Entry::cross_entropy_backward, name + (grad == 5 ? ", grad of a reduced loss" : ""), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor grad_logits = empty(d, {N, C, S}, dtype);
          b.cross_entropy_backward(grad_logits, in[grad], in[0], in[3], spec_of(in));
          return Tensors{grad_logits};
        },
        kSums);
}

// ---------------------------------------------------------------- normalisation and recurrent
// cells

void layer_norm_family(DType dtype, int64_t M, int64_t N, bool affine) {
  const uint64_t seed = next_seed();
  const std::string name = fmt::format("{} [{}, {}]{}", dtype, M, N, affine ? " affine" : "");
  auto inputs = [=] {
    const Tensor x = make_input({M, N}, dtype, kContiguous, seed, -3, 3);
    const Tensor w = affine ? make_input({N}, dtype, kContiguous, seed + 1) : Tensor();
    const Tensor bias = affine ? make_input({N}, dtype, kContiguous, seed + 2) : Tensor();
    const Tensor out = Tensor::empty({M, N}, dtype), mean = Tensor::empty({M}, dtype),
                 rstd = Tensor::empty({M}, dtype);
    reference_backend().layer_norm(out, mean, rstd, x, w, bias, 1e-5);
    return Tensors{x, w, bias, mean, rstd, make_input({M, N}, dtype, kContiguous, seed + 3)};
  };
  add(
      Entry::layer_norm, name, inputs,
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor out = empty(d, {M, N}, dtype), mean = empty(d, {M}, dtype),
                     rstd = empty(d, {M}, dtype);
        b.layer_norm(out, mean, rstd, in[0], in[1], in[2], 1e-5);
        return Tensors{out, mean, rstd};
      },
      kSums);
  for (bool all_grads : {true, false})
    add(Entry::layer_norm_backward, name + (all_grads ? "" : ", input grad only"), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor gi = empty(d, {M, N}, dtype);
          const Tensor gw = all_grads ? empty(d, {N}, dtype) : Tensor();
          const Tensor gb = all_grads ? empty(d, {N}, dtype) : Tensor();
          b.layer_norm_backward(gi, gw, gb, in[5], in[0], in[3], in[4], in[1]);
          return all_grads ? Tensors{gi, gw, gb} : Tensors{gi};
        },
        kSums);
}

void batch_norm_family(DType dtype, int64_t N, int64_t C, int64_t S) {
  const uint64_t seed = next_seed();
  const std::string name = fmt::format("{} [{}, {}, {}]", dtype, N, C, S);
  auto inputs = [=] {
    return Tensors{make_input({N, C, S}, dtype, kContiguous, seed, -3, 3),
                   make_input({C}, dtype, kContiguous, seed + 1),
                   make_input({C}, dtype, kContiguous, seed + 2),
                   make_input({N, C, S}, dtype, kContiguous, seed + 3),
                   make_input({C}, dtype, kContiguous, seed + 4)};
  };
  add(Entry::batch_norm_stats, name, inputs,
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor mean = empty(d, {C}, dtype), var = empty(d, {C}, dtype);
        b.batch_norm_stats(mean, var, in[0]);
        return Tensors{mean, var};
      },
      kSums);
  for (bool with_y : {false, true})
    add(Entry::channel_affine, name + (with_y ? " + y * y_scale" : ""), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor out = empty(d, {N, C, S}, dtype);
          b.channel_affine(out, in[0], in[1], in[2], with_y ? in[3] : Tensor(),
                           with_y ? in[4] : Tensor());
          return Tensors{out};
        });
  add(Entry::batch_norm_backward_reduce, name, inputs,
      [=](Backend& b, Device d, const Tensors& in) {
        const Tensor sum_dy = empty(d, {C}, dtype), sum_dy_xmu = empty(d, {C}, dtype);
        b.batch_norm_backward_reduce(sum_dy, sum_dy_xmu, in[3], in[0], in[1]);
        return Tensors{sum_dy, sum_dy_xmu};
      },
      kSums);
}

// The LSTM cell and its two backward halves; `layout` is the gates' (sliced: rows farther apart
// than 4H, as a view of a wider projection), `with_c` whether there is a previous cell state.
void lstm_family(DType dtype, int64_t B, int64_t H, Layout layout, bool with_c) {
  const uint64_t seed = next_seed();
  const std::string name = fmt::format("{} B{} H{} gates {}{}", dtype, B, H, layout_name(layout),
                                       with_c ? "" : ", no c");
  auto inputs = [=] {
    return Tensors{make_input({B, 4 * H}, dtype, layout, seed, -3, 3),
                   with_c ? make_input({B, H}, dtype, layout, seed + 1) : Tensor(),
                   make_input({B, H}, dtype, layout, seed + 2),
                   make_input({B, H}, dtype, layout, seed + 3)};
  };
  add(Entry::lstm_cell, name, inputs, [=](Backend& b, Device d, const Tensors& in) {
    const Tensor h = empty(d, {B, H}, dtype), c_next = empty(d, {B, H}, dtype);
    b.lstm_cell(h, c_next, in[0], in[1]);
    return Tensors{h, c_next};
  });
  for (bool want_grad_c : {true, false})
    add(Entry::lstm_cell_state_backward, name + (want_grad_c ? "" : ", no grad_c"), inputs,
        [=](Backend& b, Device d, const Tensors& in) {
          const Tensor grad_gates = empty(d, {B, 4 * H}, dtype);
          const Tensor grad_c = want_grad_c && with_c ? empty(d, {B, H}, dtype) : Tensor();
          b.lstm_cell_state_backward(grad_gates, grad_c, in[2], in[0], in[1]);
          return grad_c.defined() ? Tensors{grad_gates, grad_c} : Tensors{grad_gates};
        });
  add(Entry::lstm_cell_output_backward, name, inputs, [=](Backend& b, Device d, const Tensors& in) {
    // o is the o quarter of the gates, as the op layer passes it.
    const Tensor o =
        make_view(in[0], {B, H}, in[0].strides(), in[0].offset() + 3 * H * in[0].strides()[1]);
    const Tensor grad_o = empty(d, {B, H}, dtype), grad_c_next = empty(d, {B, H}, dtype);
    b.lstm_cell_output_backward(grad_o, grad_c_next, in[3], o, in[2]);
    return Tensors{grad_o, grad_c_next};
  });
}

}  // namespace

void register_nn_cases() {
  // convolution
  conv_family("plain 3x3", {2, 3, 7, 6}, {4, 3, 3, 3});
  conv_family("stride 2, padding 1", {2, 3, 9, 8}, {5, 3, 3, 3}, {2, 2}, {1, 1});
  conv_family("stride 3 (rows left unread)", {1, 2, 10, 11}, {2, 2, 3, 3}, {3, 3});
  conv_family("dilation 2, padding 2", {1, 2, 9, 9}, {3, 2, 3, 3}, {1, 1}, {2, 2}, {2, 2});
  conv_family("groups 2, asymmetric", {2, 4, 6, 7}, {6, 2, 3, 2}, {2, 1}, {1, 0}, {1, 1}, 2);
  conv_family("depthwise", {2, 5, 8, 8}, {5, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 5);
  conv_family("depthwise, multiplier 2, stride 2", {2, 3, 9, 9}, {6, 1, 3, 3}, {2, 2}, {1, 1},
              {1, 1}, 3);
  conv_family("depthwise 3x2, dilation 2", {2, 4, 9, 8}, {4, 1, 3, 2}, {2, 1}, {2, 2}, {2, 2}, 4);
  conv_family("1x1", {2, 5, 4, 4}, {3, 5, 1, 1});
  conv_family("1x1 stride 2 padding 1", {2, 5, 5, 4}, {3, 5, 1, 1}, {2, 2}, {1, 1});
  conv_family("padding wider than the kernel reach", {1, 1, 2, 3}, {2, 1, 2, 2}, {1, 2}, {3, 2});
  conv_family("threaded: batch 4", {4, 8, 10, 10}, {16, 8, 3, 3}, {1, 1}, {1, 1});
  conv_family("threaded: depthwise 64 channels", {8, 64, 14, 14}, {64, 1, 3, 3}, {1, 1}, {1, 1},
              {1, 1}, 64);
  conv_family("threaded rows: batch 1", {1, 16, 15, 13}, {32, 16, 3, 3}, {1, 1}, {1, 1});
  conv_family("threaded: groups = batch 8", {1, 32, 10, 10}, {64, 4, 3, 3}, {1, 1}, {1, 1}, {1, 1},
              8);
  kernel_mixture_case(f32, {3, 4, 8, 8}, {6, 4, 3, 3}, 4, 1, {1, 1}, {1, 1}, true);
  kernel_mixture_case(f64, {2, 4, 7, 9}, {4, 1, 3, 3}, 3, 4, {2, 2}, {1, 1}, false);
  kernel_mixture_case(f64, {3, 4, 8, 8}, {6, 4, 3, 3}, 4, 1, {1, 1}, {1, 1}, true, 0.3);
  kernel_mixture_case(f32, {2, 6, 6, 6}, {6, 3, 3, 3}, 2, 2, {1, 1}, {0, 0}, true, 0.5);
  kernel_mixture_case(f32, {8, 16, 12, 12}, {32, 16, 3, 3}, 4, 1, {1, 1}, {1, 1}, true);
  kernel_mixture_case(f32, {1, 16, 8, 8}, {32, 16, 3, 3}, 4, 1, {1, 1}, {1, 1}, true,
                      0.4);  // batch 1, blocks of placed lanes
  kernel_mixture_case(f64, {1, 6, 7, 7}, {6, 3, 3, 3}, 3, 2, {2, 2}, {1, 1}, false);
  // pooling
  pool_family("2x2 stride 2", 6, 8, 8, 2, 2, 0);
  pool_family("3x3 stride 2 padding 1", 4, 9, 7, 3, 2, 1);
  pool_family("3x3 stride 1, ties", 3, 6, 6, 3, 1, 1, 0, true);
  pool_family("2x2 stride 2, NaN", 3, 6, 6, 2, 2, 0, 0, false, true);
  pool_family("adaptive 7 -> 3", 5, 7, 7, 0, 0, 0, 3);
  pool_family("global (adaptive -> 1)", 5, 6, 5, 0, 0, 0, 1);
  pool_family("threaded: 2x2 over 512 planes", 512, 16, 16, 2, 2, 0);
  // softmax and losses
  softmax_case(f32, kContiguous, {64, 1000}, 1);
  softmax_case(f64, kContiguous, {300, 250}, 0);
  softmax_case(f64, kTransposed, {4, 6, 5}, 1);
  softmax_case(f32, kSliced, {4, 6, 5}, 2);
  softmax_case(f64, kBroadcast, {3, 7}, 1);
  softmax_case(f64, kContiguous, {6, 9}, 1, Special::minus_inf_entries);
  softmax_case(f32, kContiguous, {6, 9}, 0, Special::minus_inf_entries);
  softmax_case(f64, kContiguous, {4, 9}, 1, Special::minus_inf_row);
  softmax_case(f32, kContiguous, {6, 9}, 1, Special::nan_entry);
  softmax_backward_case(f32, kContiguous, {64, 1000}, 1);
  softmax_backward_case(f64, kContiguous, {300, 250}, 0);
  softmax_backward_case(f64, kTransposed, {4, 6, 5}, 2);
  softmax_backward_case(f32, kBroadcast, {4, 6, 5}, 1);
  cross_entropy_family(f32, 64, 10, 1, false, false, 0.0);
  cross_entropy_family(f64, 32, 7, 1, true, true, 0.0);
  cross_entropy_family(f64, 16, 5, 1, true, true, 0.1);
  cross_entropy_family(f32, 4, 6, 9, false, true, 0.2);
  cross_entropy_family(f64, 3, 5, 300, true, false, 0.0);
  cross_entropy_family(f32, 512, 100, 1, false, false, 0.1);
  // normalisation
  layer_norm_family(f32, 64, 768, true);
  layer_norm_family(f64, 7, 33, true);
  layer_norm_family(f32, 5, 16, false);
  batch_norm_family(f32, 8, 16, 196);
  batch_norm_family(f64, 3, 5, 7);
  batch_norm_family(f64, 4, 6, 1);
  // recurrent cells
  lstm_family(f32, 4, 8, kContiguous, true);
  lstm_family(f64, 3, 5, kSliced, true);
  lstm_family(f64, 2, 6, kContiguous, false);
  lstm_family(f32, 64, 128, kContiguous, true);
}

}  // namespace dg::test::registry
