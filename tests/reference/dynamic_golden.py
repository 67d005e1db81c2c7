#!/usr/bin/python3
"""Writes tests/reference/dynamic_golden.txt: PyTorch's results for the dynamic convolutions.

The layers are written out below in PyTorch with dyngrad's parameter names:
  - DynamicConv2d: the benchmark reference's DY-Conv (GAP -> fc1 -> ReLU -> fc2 -> softmax(z / T),
    kernels mixed by one matmul, one convolution with groups = batch) extended to stride, padding,
    dilation and the layer's own groups;
  - CondConv2d: sigmoid(fc(GAP(x))) routing, the same execution;
  - PartiallyDynamicConv2d (PAD-Net Eq. 4): lambda_d * M * Theta_dyn(x) + lambda_s * (1 - M) *
    Theta_static with lambda_d = 2 sigmoid(phi), lambda_s = 2 - lambda_d, the mask a buffer whose
    gradient is stored too (state.mode_mask).
Each case stores the input, every parameter and buffer ("state.<name>"), the output, a projection v
and the gradients of sum(out * v) with respect to the input and every parameter (and the mask).
tests/dynamic/test_dynamic_golden.cpp replays them.

Run with Debian's Python (it sees python3-torch):  /usr/bin/python3 tests/reference/dynamic_golden.py
"""

import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layers_golden import format_attr, format_tensor, uniform  # noqa: E402

OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dynamic_golden.txt")


# ------------------------------------------------------------------------------------- layers

class KernelAttention(nn.Module):
    def __init__(self, cin, K, hidden, sigmoid, temperature):
        super().__init__()
        self.sigmoid, self.T = sigmoid, temperature
        if hidden > 0:
            self.fc1 = nn.Linear(cin, hidden)
            self.fc2 = nn.Linear(hidden, K)
        else:
            self.fc = nn.Linear(cin, K)

    def forward(self, x):
        a = x.mean(dim=(2, 3))
        z = self.fc2(F.relu(self.fc1(a))) if hasattr(self, "fc1") else self.fc(a)
        return torch.sigmoid(z) if self.sigmoid else F.softmax(z / self.T, dim=1)


class KernelMixtureConv2d(nn.Module):
    def __init__(self, cin, cout, k, stride, padding, dilation, groups, bias, K, hidden, sigmoid, T):
        super().__init__()
        self.cout, self.K = cout, K
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.weight = nn.Parameter(torch.empty(K, cout, cin // groups, k, k))
        self.bias = nn.Parameter(torch.empty(K, cout)) if bias else None
        self.attention = KernelAttention(cin, K, hidden, sigmoid, T)

    def mixed(self, pi):
        B = pi.shape[0]
        w = (pi @ self.weight.view(self.K, -1)).view(B, *self.weight.shape[1:])
        b = pi @ self.bias if self.bias is not None else None
        return w, b

    def conv(self, x, w, b):
        B, C, H, W = x.shape
        y = F.conv2d(x.reshape(1, B * C, H, W), w.reshape(B * self.cout, *w.shape[2:]),
                     b.reshape(-1) if b is not None else None, stride=self.stride,
                     padding=self.padding, dilation=self.dilation, groups=B * self.groups)
        return y.view(B, self.cout, y.shape[-2], y.shape[-1])

    def forward(self, x):
        w, b = self.mixed(self.attention(x))
        return self.conv(x, w, b)


class PartiallyDynamicConv2d(nn.Module):
    def __init__(self, dynamic):
        super().__init__()
        self.dynamic = dynamic
        self.static_weight = nn.Parameter(torch.empty(dynamic.weight.shape[1:]))
        self.scale_logit = nn.Parameter(torch.zeros(()))
        self.register_buffer("mode_mask", torch.ones(dynamic.weight.shape[1:]))

    def forward(self, x):
        w, b = self.dynamic.mixed(self.dynamic.attention(x))
        lambda_d = 2 * torch.sigmoid(self.scale_logit)
        lambda_s = 2 - lambda_d
        M = self.mode_mask
        hat = lambda_d * M * w + lambda_s * (1 - M) * self.static_weight
        return self.dynamic.conv(x, hat, b)


# ------------------------------------------------------------------------------------- cases

def fill_state(case_name, module):
    """Fixed values: kernels U(-1/sqrt(fan_in), ...), attention weights large enough that samples'
    mixing weights differ, biases U(-0.5, 0.5), a half-dynamic 0/1 mask, phi = 0.3."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("weight") and p.dim() == 5:
                bound = 1.0 / math.sqrt(p[0, 0].numel())
                p.copy_(uniform(case_name, name, p.shape, -bound, bound))
            elif name == "static_weight":
                bound = 1.0 / math.sqrt(p[0].numel())
                p.copy_(uniform(case_name, name, p.shape, -bound, bound))
            elif name.endswith("weight"):
                p.copy_(uniform(case_name, name, p.shape, -1.0, 1.0))
            elif name == "scale_logit":
                p.fill_(0.3)
            else:
                p.copy_(uniform(case_name, name, p.shape, -0.5, 0.5))
        for name, b in module.named_buffers():
            if name == "mode_mask":
                b.copy_((uniform(case_name, name, b.shape) > 0).double())


def record(lines, name, op, attrs, module, x_shape):
    module = module.double()
    fill_state(name, module)
    x = uniform(name, "x", x_shape) + uniform(name, "x/offset", (x_shape[0], x_shape[1], 1, 1), -2, 2)
    state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    x = x.clone().requires_grad_(True)
    mask = getattr(module, "mode_mask", None)
    if mask is not None:
        mask.requires_grad_(True)
    out = module(x)
    v = uniform(name, "v/out", out.shape)
    params = dict(module.named_parameters())
    wrt = [x] + list(params.values()) + ([mask] if mask is not None else [])
    names = ["x"] + ["state." + k for k in params] + (["state.mode_mask"] if mask is not None else [])
    grads = torch.autograd.grad((out * v).sum(), wrt)

    lines.append(f"case {name}")
    lines.append(f"op {op}")
    for key, value in attrs.items():
        lines.append(f"attr {key} {format_attr(value)}")
    lines += format_tensor("input", "x", x)
    for k, t in state.items():
        lines += format_tensor("input", "state." + k, t)
    lines += format_tensor("output", "out", out)
    lines += format_tensor("proj", "out", v)
    for k, g in zip(names, grads):
        lines += format_tensor("grad", k, g)
    lines.append("end")
    lines.append("")


def cases():
    lines = []
    geometries = [
        ("3x3 padding 1", dict(cin=4, cout=6, k=3, stride=1, padding=1, dilation=1, groups=1)),
        ("stride 2 dilation 2", dict(cin=3, cout=4, k=3, stride=2, padding=2, dilation=2, groups=1)),
        ("groups 2", dict(cin=4, cout=4, k=3, stride=1, padding=1, dilation=1, groups=2)),
        ("depthwise stride 2", dict(cin=4, cout=4, k=3, stride=2, padding=1, dilation=1, groups=4)),
        ("1x1", dict(cin=8, cout=4, k=1, stride=1, padding=0, dilation=1, groups=1)),
    ]
    shape = lambda g: (3, g["cin"], 6, 5)
    for i, (label, g) in enumerate(geometries):
        hidden = max(g["cin"] // 4, 4)
        for T in (1.0, 30.0) if i == 0 else (1.0,):
            module = KernelMixtureConv2d(**g, bias=True, K=4, hidden=hidden, sigmoid=False, T=T)
            record(lines, f"dyconv {label} T={T:g}", "dyconv", dict(g, bias=1, kernels=4, temperature=T),
                   module, shape(g))
        if label in ("3x3 padding 1", "stride 2 dilation 2", "depthwise stride 2"):
            module = KernelMixtureConv2d(**g, bias=False, K=5, hidden=0, sigmoid=True, T=1.0)
            record(lines, f"condconv {label}", "condconv", dict(g, bias=0, kernels=5), module, shape(g))
        if label in ("3x3 padding 1", "groups 2", "depthwise stride 2"):
            dynamic = KernelMixtureConv2d(**g, bias=True, K=4, hidden=hidden, sigmoid=False, T=1.0)
            record(lines, f"padnet {label}", "padnet", dict(g, bias=1, kernels=4, temperature=1.0),
                   PartiallyDynamicConv2d(dynamic), shape(g))
    return lines


if __name__ == "__main__":
    header = [
        "# dyngrad golden reference values: dynamic convolutions (DY-Conv, CondConv, PAD-Net's partially",
        "# dynamic convolution), float64, with gradients.",
        f"# Generated by tests/reference/dynamic_golden.py with PyTorch {torch.__version__}; do not",
        "# edit by hand (see tests/reference/README.md). Checked by tests/dynamic/test_dynamic_golden.cpp.",
        "",
    ]
    body = cases()
    with open(OUT_PATH, "w") as f:
        f.write("\n".join(header + body))
    print(f"wrote {OUT_PATH}: {sum(1 for l in body if l.startswith('case '))} cases")
