// Reference kernels for the LSTM cell's pointwise part (Hochreiter and Schmidhuber; PyTorch's gate
// order i, f, g, o): from the gate pre-activations [B, 4H] and the previous cell state c [B, H],
//   c_next = sigmoid(f) c + sigmoid(i) tanh(g),   h = sigmoid(o) tanh(c_next),
// and the two halves of its backward: from dL/dc_next to the gates and c, and from dL/dh to the o
// gate and c_next. One element at a time, in double.
#include <cmath>

#include "engine/reference/element_access.h"
#include "engine/reference/reference_backend.h"

namespace dg::reference {

namespace {
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
}  // namespace

void ReferenceBackend::lstm_cell(const Tensor& h, const Tensor& c_next, const Tensor& gates,
                                 const Tensor& c) {
  const int64_t B = gates.shape()[0], H = gates.shape()[1] / 4;
  visit_floating(gates.dtype(), "lstm_cell", [&]<class T>() {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < H; ++j) {
        const double i = sigmoid(at<T>(gates, b, j)), f = sigmoid(at<T>(gates, b, H + j));
        const double g = std::tanh(at<T>(gates, b, 2 * H + j)),
                     o = sigmoid(at<T>(gates, b, 3 * H + j));
        const double c_prev = c.defined() ? static_cast<double>(at<T>(c, b, j)) : 0.0;
        const double cn = f * c_prev + i * g;
        at<T>(c_next, b, j) = static_cast<T>(cn);
        at<T>(h, b, j) = static_cast<T>(o * std::tanh(cn));
      }
  });
}

// dL/di = d g i (1 - i), dL/df = d c f (1 - f), dL/dg = d i (1 - g^2), dL/do = 0 (o does not reach
// c_next), dL/dc = d f, where d = dL/dc_next and i, f, g are the activated gates.
void ReferenceBackend::lstm_cell_state_backward(const Tensor& grad_gates, const Tensor& grad_c,
                                                const Tensor& grad_c_next, const Tensor& gates,
                                                const Tensor& c) {
  const int64_t B = gates.shape()[0], H = gates.shape()[1] / 4;
  visit_floating(gates.dtype(), "lstm_cell_state_backward", [&]<class T>() {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < H; ++j) {
        const double i = sigmoid(at<T>(gates, b, j)), f = sigmoid(at<T>(gates, b, H + j));
        const double g = std::tanh(at<T>(gates, b, 2 * H + j));
        const double c_prev = c.defined() ? static_cast<double>(at<T>(c, b, j)) : 0.0;
        const double d = at<T>(grad_c_next, b, j);
        at<T>(grad_gates, b, j) = static_cast<T>(d * g * i * (1 - i));
        at<T>(grad_gates, b, H + j) = static_cast<T>(d * c_prev * f * (1 - f));
        at<T>(grad_gates, b, 2 * H + j) = static_cast<T>(d * i * (1 - g * g));
        at<T>(grad_gates, b, 3 * H + j) = T(0);
        if (grad_c.defined()) at<T>(grad_c, b, j) = static_cast<T>(d * f);
      }
  });
}

// With s = sigmoid(o) and t = tanh(c_next): dL/do = dh t s (1 - s), dL/dc_next = dh s (1 - t^2).
void ReferenceBackend::lstm_cell_output_backward(const Tensor& grad_o, const Tensor& grad_c_next,
                                                 const Tensor& grad_h, const Tensor& o,
                                                 const Tensor& c_next) {
  const int64_t B = o.shape()[0], H = o.shape()[1];
  visit_floating(o.dtype(), "lstm_cell_output_backward", [&]<class T>() {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < H; ++j) {
        const double s = sigmoid(at<T>(o, b, j)), t = std::tanh(at<T>(c_next, b, j));
        const double dh = at<T>(grad_h, b, j);
        if (grad_o.defined()) at<T>(grad_o, b, j) = static_cast<T>(dh * t * s * (1 - s));
        if (grad_c_next.defined()) at<T>(grad_c_next, b, j) = static_cast<T>(dh * s * (1 - t * t));
      }
  });
}

}  // namespace dg::reference
