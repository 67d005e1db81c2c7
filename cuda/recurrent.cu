// CUDA kernels of the fused LSTM cell (beside engine/cpu/recurrent_kernels.cpp): one thread per
// (row, hidden unit), with the gate activations of engine/scalar_math.h (math::Sigmoid,
// math::Tanh), the functors the CPU's unary kernels use.
#include "cuda/launch.cuh"
#include "engine/scalar_math.h"

namespace dg::cuda {
namespace {

template <class T>
__global__ void lstm_cell_kernel(T* h, T* c_next, const T* gates, int64_t gates_row, const T* c,
                                 int64_t c_row, LstmRows rows) {
  const int64_t H = rows.hidden, n = rows.batch * H;
  for (int64_t k = first_item(); k < n; k += item_stride()) {
    const int64_t r = k / H, j = k % H;
    const T* gate = gates + r * gates_row;
    const T i = math::Sigmoid{}(gate[j]), f = math::Sigmoid{}(gate[H + j]);
    const T g = math::Tanh{}(gate[2 * H + j]), o = math::Sigmoid{}(gate[3 * H + j]);
    T cn = i * g;
    if (c) cn += f * c[r * c_row + j];
    c_next[k] = cn;
    h[k] = o * math::Tanh{}(cn);
  }
}

template <class T>
__global__ void lstm_state_backward_kernel(T* grad_gates, T* grad_c, const T* grad_c_next,
                                           int64_t dcn_row, const T* gates, int64_t gates_row,
                                           const T* c, int64_t c_row, LstmRows rows) {
  const int64_t H = rows.hidden, n = rows.batch * H;
  for (int64_t k = first_item(); k < n; k += item_stride()) {
    const int64_t r = k / H, j = k % H;
    const T* gate = gates + r * gates_row;
    T* dgate = grad_gates + r * 4 * H;
    const T i = math::Sigmoid{}(gate[j]), f = math::Sigmoid{}(gate[H + j]);
    const T g = math::Tanh{}(gate[2 * H + j]);
    const T d = grad_c_next[r * dcn_row + j];
    dgate[j] = d * g * i * (T(1) - i);
    dgate[H + j] = c ? d * c[r * c_row + j] * f * (T(1) - f) : T(0);
    dgate[2 * H + j] = d * i * (T(1) - g * g);
    dgate[3 * H + j] = T(0);
    if (grad_c) grad_c[k] = d * f;
  }
}

template <class T>
__global__ void lstm_output_backward_kernel(T* grad_o, T* grad_c_next, const T* grad_h,
                                            int64_t dh_row, const T* o, int64_t o_row,
                                            const T* c_next, int64_t cn_row, LstmRows rows) {
  const int64_t H = rows.hidden, n = rows.batch * H;
  for (int64_t k = first_item(); k < n; k += item_stride()) {
    const int64_t r = k / H, j = k % H;
    const T og = math::Sigmoid{}(o[r * o_row + j]), t = math::Tanh{}(c_next[r * cn_row + j]);
    const T d = grad_h[r * dh_row + j];
    if (grad_o) grad_o[k] = d * t * og * (T(1) - og);
    if (grad_c_next) grad_c_next[k] = d * og * (T(1) - t * t);
  }
}

}  // namespace

cudaError_t launch_lstm_cell(cudaStream_t stream, Elem type, void* h, void* c_next,
                             const void* gates, int64_t gates_row, const void* c, int64_t c_row,
                             const LstmRows& rows) {
  const int64_t n = rows.batch * rows.hidden;
  if (n == 0) return cudaSuccess;
  return visit_floating_elem(type, [&]<class T>() {
    lstm_cell_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(
        static_cast<T*>(h), static_cast<T*>(c_next), static_cast<const T*>(gates), gates_row,
        static_cast<const T*>(c), c_row, rows);
    return cudaGetLastError();
  });
}

cudaError_t launch_lstm_cell_state_backward(cudaStream_t stream, Elem type, void* grad_gates,
                                            void* grad_c, const void* grad_c_next,
                                            int64_t grad_c_next_row, const void* gates,
                                            int64_t gates_row, const void* c, int64_t c_row,
                                            const LstmRows& rows) {
  const int64_t n = rows.batch * rows.hidden;
  if (n == 0) return cudaSuccess;
  return visit_floating_elem(type, [&]<class T>() {
    lstm_state_backward_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(
        static_cast<T*>(grad_gates), static_cast<T*>(grad_c),
        static_cast<const T*>(grad_c_next), grad_c_next_row, static_cast<const T*>(gates),
        gates_row, static_cast<const T*>(c), c_row, rows);
    return cudaGetLastError();
  });
}

cudaError_t launch_lstm_cell_output_backward(cudaStream_t stream, Elem type, void* grad_o,
                                             void* grad_c_next, const void* grad_h,
                                             int64_t grad_h_row, const void* o, int64_t o_row,
                                             const void* c_next, int64_t c_next_row,
                                             const LstmRows& rows) {
  const int64_t n = rows.batch * rows.hidden;
  if (n == 0) return cudaSuccess;
  return visit_floating_elem(type, [&]<class T>() {
    lstm_output_backward_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(
        static_cast<T*>(grad_o), static_cast<T*>(grad_c_next), static_cast<const T*>(grad_h),
        grad_h_row, static_cast<const T*>(o), o_row, static_cast<const T*>(c_next), c_next_row,
        rows);
    return cudaGetLastError();
  });
}

}  // namespace dg::cuda
