// CPU kernels for the fused LSTM cell (engine/ops/recurrent.cpp): the cell's pointwise part,
// forward and its two backward halves, one pass over each row of the [B, 4H] gates. Written
// unfused, that part is about a dozen elementwise ops per time step, each a full pass with its
// own allocation and graph node; for the small batches of a recurrent loop that bookkeeping cost
// more than the arithmetic. Rows are split over the engine's threads when there are enough.
// The activations use Eigen's vectorised exp and tanh on each row's quarters: scalar std::tanh
// and std::exp made the fused cell twice as slow as the dozen separate (vectorised) ops.
#include <Eigen/Core>

#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/strided_loop.h"

namespace dg::cpu {

namespace {

template <class T>
using Row = Eigen::Array<T, Eigen::Dynamic, 1>;
template <class T>
using ConstRow = Eigen::Map<const Row<T>>;
template <class T>
using MutRow = Eigen::Map<Row<T>>;

template <class T, class Expr>
auto sigmoid(const Expr& x) {
  return (T(1) + (-x).exp()).inverse();
}

// Row r of a [B, *] tensor with unit column stride, or null for an undefined tensor.
template <class T>
T* row_of(const Tensor& t, int64_t r) {
  return t.defined() ? t.data<T>() + r * t.strides()[0] : nullptr;
}

}  // namespace

void CpuBackend::lstm_cell(const Tensor& h, const Tensor& c_next, const Tensor& gates,
                           const Tensor& c) {
  const int64_t B = gates.shape()[0], H = gates.shape()[1] / 4;
  visit_floating(gates.dtype(), "lstm_cell", [&]<class T>() {
    parallel_for(B, 12 * H, [&](int64_t begin, int64_t end) {
      Row<T> i(H), f(H), g(H), o(H);  // per-thread scratch, reused row to row
      for (int64_t r = begin; r < end; ++r) {
        const T* gate = row_of<T>(gates, r);
        const T* c_row = row_of<T>(c, r);
        T* h_row = row_of<T>(h, r);
        T* c_next_row = row_of<T>(c_next, r);
        i = sigmoid<T>(ConstRow<T>(gate, H));
        f = sigmoid<T>(ConstRow<T>(gate + H, H));
        g = ConstRow<T>(gate + 2 * H, H).tanh();
        o = sigmoid<T>(ConstRow<T>(gate + 3 * H, H));
        MutRow<T> cn(c_next_row, H);
        cn = i * g;
        if (c_row) cn += f * ConstRow<T>(c_row, H);
        MutRow<T>(h_row, H) = o * cn.tanh();
      }
    });
  });
}

void CpuBackend::lstm_cell_state_backward(const Tensor& grad_gates, const Tensor& grad_c,
                                          const Tensor& grad_c_next, const Tensor& gates,
                                          const Tensor& c) {
  const int64_t B = gates.shape()[0], H = gates.shape()[1] / 4;
  visit_floating(gates.dtype(), "lstm_cell_state_backward", [&]<class T>() {
    parallel_for(B, 12 * H, [&](int64_t begin, int64_t end) {
      Row<T> i(H), f(H), g(H);  // per-thread scratch, reused row to row
      for (int64_t r = begin; r < end; ++r) {
        const T* gate = row_of<T>(gates, r);
        const T* c_row = row_of<T>(c, r);
        const T* dc_next = row_of<T>(grad_c_next, r);
        T* dgate = row_of<T>(grad_gates, r);
        T* dc = row_of<T>(grad_c, r);
        i = sigmoid<T>(ConstRow<T>(gate, H));
        f = sigmoid<T>(ConstRow<T>(gate + H, H));
        g = ConstRow<T>(gate + 2 * H, H).tanh();
        const ConstRow<T> d(dc_next, H);
        MutRow<T>(dgate, H) = d * g * i * (T(1) - i);
        if (c_row) {
          MutRow<T>(dgate + H, H) = d * ConstRow<T>(c_row, H) * f * (T(1) - f);
        } else {
          MutRow<T>(dgate + H, H).setZero();
        }
        MutRow<T>(dgate + 2 * H, H) = d * i * (T(1) - g * g);
        MutRow<T>(dgate + 3 * H, H).setZero();
        if (dc) MutRow<T>(dc, H) = d * f;
      }
    });
  });
}

void CpuBackend::lstm_cell_output_backward(const Tensor& grad_o, const Tensor& grad_c_next,
                                           const Tensor& grad_h, const Tensor& o,
                                           const Tensor& c_next) {
  const int64_t B = o.shape()[0], H = o.shape()[1];
  visit_floating(o.dtype(), "lstm_cell_output_backward", [&]<class T>() {
    parallel_for(B, 8 * H, [&](int64_t begin, int64_t end) {
      Row<T> og(H), t(H);  // per-thread scratch, reused row to row
      for (int64_t r = begin; r < end; ++r) {
        const T* o_row = row_of<T>(o, r);
        const T* cn = row_of<T>(c_next, r);
        const T* dh = row_of<T>(grad_h, r);
        T* d_o = row_of<T>(grad_o, r);
        T* d_cn = row_of<T>(grad_c_next, r);
        og = sigmoid<T>(ConstRow<T>(o_row, H));
        t = ConstRow<T>(cn, H).tanh();
        const ConstRow<T> d(dh, H);
        if (d_o) MutRow<T>(d_o, H) = d * t * og * (T(1) - og);
        if (d_cn) MutRow<T>(d_cn, H) = d * og * (T(1) - t * t);
      }
    });
  });
}

}  // namespace dg::cpu
