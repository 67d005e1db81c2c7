#!/usr/bin/python3
"""Writes tests/reference/layers_golden.txt: PyTorch's results for the nn/ layers.

For each case it builds the layer in PyTorch (float64), overwrites every parameter and buffer with
fixed values, runs it on fixed inputs and stores the inputs, the state dict (as inputs named
"state.<key>", in PyTorch's names, so the C++ test loads them with load_state_dict), the outputs,
a projection v per projected output and the gradients of sum(output * v) with respect to the
differentiable inputs and to every parameter ("state.<name>"). Buffers a forward pass changes
(batch norm's running statistics in training mode) are stored again after the forward as outputs
"state.<key>". tests/nn/test_layers_golden.cpp replays every case on dyngrad's layers.

torchvision is not needed: its ResNet and MobileNetV2 blocks are written out below as torchvision
defines them (same structure and parameter names).

Inputs come from a torch.Generator seeded from each case's name (adding a case leaves the others
unchanged), floats are written with "%.17g" (exact for float64), bool masks as i64 0/1. The file
format is that of the other golden files (tests/reference/README.md).

Run with Debian's Python (it sees python3-torch):  /usr/bin/python3 tests/reference/layers_golden.py
"""

import math
import os
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layers_golden.txt")
DTYPE_NAMES = {torch.float64: "f64", torch.int64: "i64"}


# ------------------------------------------------------------------------------------- inputs

def generator_for(case_name, salt):
    g = torch.Generator()
    g.manual_seed(zlib.crc32(f"{case_name}/{salt}".encode()))
    return g


def uniform(case_name, salt, shape, lo=-1.0, hi=1.0):
    g = generator_for(case_name, salt)
    return lo + (hi - lo) * torch.rand(shape, generator=g, dtype=torch.float64)


def randint(case_name, salt, shape, high):
    return torch.randint(0, high, shape, generator=generator_for(case_name, salt), dtype=torch.int64)


def causal_mask(length):
    """PyTorch's bool attention mask for causal attention: True above the diagonal (masked)."""
    return torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)


def randomize_state(case_name, module):
    """Fixed, non-trivial values for every parameter and buffer: weights U(-1/sqrt(fan_in), ...),
    biases U(-0.5, 0.5), norm weights U(0.5, 1.5), running means U(-0.5, 0.5), running variances
    U(0.5, 1.5), 3 batches already tracked (so the increment shows)."""
    with torch.no_grad():
        for module_name, m in module.named_modules():
            prefix = module_name + "." if module_name else ""
            is_norm = isinstance(m, (nn.BatchNorm2d, nn.LayerNorm))
            for name, p in m.named_parameters(recurse=False):
                key = prefix + name
                if is_norm and name == "weight":
                    p.copy_(uniform(case_name, key, p.shape, 0.5, 1.5))
                elif p.dim() == 1:
                    p.copy_(uniform(case_name, key, p.shape, -0.5, 0.5))
                else:
                    bound = 1.0 / math.sqrt(p[0].numel())
                    p.copy_(uniform(case_name, key, p.shape, -bound, bound))
            for name, b in m.named_buffers(recurse=False):
                key = prefix + name
                if name == "running_mean":
                    b.copy_(uniform(case_name, key, b.shape, -0.5, 0.5))
                elif name == "running_var":
                    b.copy_(uniform(case_name, key, b.shape, 0.5, 1.5))
                elif name == "num_batches_tracked":
                    b.fill_(3)


# ------------------------------------------------------------------------------------- writing

def format_value(x):
    if isinstance(x, int):
        return str(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return "%.17g" % x


def format_tensor(kind, name, t):
    t = t.detach()
    if t.dtype == torch.bool:
        t = t.long()
    shape = "[" + ",".join(str(s) for s in t.shape) + "]"
    lines = [f"{kind} {name} {DTYPE_NAMES[t.dtype]} {shape}"]
    rows = t.reshape(-1, t.shape[-1] if t.dim() > 0 and t.shape[-1] > 0 else 1).tolist()
    for row in rows:
        lines.append("  " + " ".join(format_value(v) for v in row))
    return lines


def format_attr(value):
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


class GoldenFile:
    def __init__(self):
        self.lines = []
        self.names = set()

    def case(self, name, op, attrs, module, inputs, run, differentiable=(), projected=("out",),
             train=False, buffers_after=()):
        """Records one layer case.

        module: the PyTorch layer (made float64 and given fixed state here).
        inputs: named input tensors; run(module, **inputs) returns a dict of named outputs.
        differentiable: the inputs whose gradients are stored (every parameter's always is).
        buffers_after: state-dict keys stored again after the forward, as outputs "state.<key>".
        """
        assert name not in self.names, name
        self.names.add(name)
        module = module.double()
        randomize_state(name, module)
        module.train(train)
        state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        leaves = {k: v.clone().requires_grad_(k in differentiable) for k, v in inputs.items()}
        outputs = run(module, **leaves)
        for key in buffers_after:
            outputs["state." + key] = module.state_dict()[key].detach().clone()
        projections = {k: uniform(name, "v/" + k, outputs[k].shape) for k in projected}
        loss = sum((outputs[k] * projections[k]).sum() for k in projected)
        params = dict(module.named_parameters())
        wrt = [leaves[k] for k in differentiable] + list(params.values())
        grads = torch.autograd.grad(loss, wrt, allow_unused=True)
        names = list(differentiable) + ["state." + k for k in params]

        self.lines.append(f"case {name}")
        self.lines.append(f"op {op}")
        for key, value in attrs.items():
            self.lines.append(f"attr {key} {format_attr(value)}")
        self.lines.append(f"attr train {int(train)}")
        for k, v in inputs.items():
            self.lines += format_tensor("input", k, v)
        for k, v in state.items():
            self.lines += format_tensor("input", "state." + k, v)
        for k, v in outputs.items():
            self.lines += format_tensor("output", k, v)
        for k, v in projections.items():
            self.lines += format_tensor("proj", k, v)
        for k, g in zip(names, grads):
            assert g is not None, f"{name}: {k} gets no gradient"
            self.lines += format_tensor("grad", k, g)
        self.lines.append("end")
        self.lines.append("")

    def write(self):
        header = [
            "# dyngrad golden reference values: nn/ layers (Linear, Conv2d, BatchNorm2d, LayerNorm,",
            "# Embedding, LSTMCell, GRUCell, LSTM, MultiheadAttention, Transformer encoder/decoder layers,",
            "# ResNet BasicBlock/Bottleneck, MobileNetV2 InvertedResidual), float64, with gradients.",
            f"# Generated by tests/reference/layers_golden.py with PyTorch {torch.__version__}; do not",
            "# edit by hand (see tests/reference/README.md). Checked by tests/nn/test_layers_golden.cpp.",
            "",
        ]
        with open(OUT_PATH, "w") as f:
            f.write("\n".join(header + self.lines))
        print(f"wrote {OUT_PATH}: {len(self.names)} cases")


# ------------------------------------------------------------------------------------- torchvision's blocks

def conv3x3(in_planes, out_planes, stride=1, groups=1):
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


def downsample_for(in_planes, out_planes, stride):
    """torchvision's ResNet._make_layer: a projection when the stride or the width changes."""
    if stride == 1 and in_planes == out_planes:
        return None
    return nn.Sequential(conv1x1(in_planes, out_planes, stride), nn.BatchNorm2d(out_planes))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample_for(inplanes, planes, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample_for(inplanes, planes * self.expansion, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def conv_bn_relu6(inp, oup, kernel, stride=1, groups=1):
    """torchvision's Conv2dNormActivation with BatchNorm2d and ReLU6."""
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(oup), nn.ReLU6())


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(conv_bn_relu6(inp, hidden_dim, 1))
        layers.extend([
            conv_bn_relu6(hidden_dim, hidden_dim, 3, stride, groups=hidden_dim),
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ])
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


def bn_keys(module):
    """The state-dict keys of every batch-norm buffer (which training mode updates)."""
    return [k for k in module.state_dict() if k.split(".")[-1] in
            ("running_mean", "running_var", "num_batches_tracked")]


# ------------------------------------------------------------------------------------- cases

def out(fn):
    return lambda m, **kw: {"out": fn(m, **kw)}


def layer_cases(gf):
    # Linear: 2-D and 3-D inputs, with and without bias.
    for name, shape, bias in [("linear", [3, 5], True), ("linear 3d input", [2, 3, 5], True),
                              ("linear no bias", [3, 5], False)]:
        gf.case(name, "linear", {"in": 5, "out": 4, "bias": bias}, nn.Linear(5, 4, bias=bias),
                {"x": uniform(name, "x", shape)}, out(lambda m, x: m(x)), differentiable=("x",))

    # Conv2d: stride + padding + groups; non-square kernel with dilation and no bias; depthwise.
    convs = [
        ("conv2d stride 2 padding 1 groups 2", 4, 6, (3, 3), (2, 2), (1, 1), (1, 1), 2, True, [2, 4, 7, 7]),
        ("conv2d 3x2 kernel dilation 2 no bias", 3, 5, (3, 2), (1, 2), (2, 0), (2, 1), 1, False, [2, 3, 6, 7]),
        ("conv2d depthwise", 4, 4, (3, 3), (1, 1), (1, 1), (1, 1), 4, True, [1, 4, 5, 5]),
    ]
    for name, cin, cout, k, s, p, d, g, bias, shape in convs:
        gf.case(name, "conv2d",
                {"in": cin, "out": cout, "kernel": k, "stride": s, "padding": p, "dilation": d,
                 "groups": g, "bias": bias},
                nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=bias),
                {"x": uniform(name, "x", shape)}, out(lambda m, x: m(x)), differentiable=("x",))

    # BatchNorm2d: training (batch statistics, running-stat update), cumulative momentum, eval.
    for name, momentum, train in [("batchnorm2d train", 0.1, True),
                                  ("batchnorm2d train momentum None", None, True),
                                  ("batchnorm2d eval", 0.1, False)]:
        m = nn.BatchNorm2d(3, momentum=momentum)
        gf.case(name, "batchnorm2d", {"features": 3, "momentum": "none" if momentum is None else momentum},
                m, {"x": uniform(name, "x", [4, 3, 3, 2], -2.0, 2.0)}, out(lambda m, x: m(x)),
                differentiable=("x",), train=train,
                buffers_after=bn_keys(m) if train else ())

    # LayerNorm over one and two trailing dims.
    for name, normalized, shape in [("layernorm", [6], [2, 3, 6]), ("layernorm 2 dims", [3, 4], [2, 3, 4])]:
        gf.case(name, "layernorm", {"shape": normalized}, nn.LayerNorm(normalized),
                {"x": uniform(name, "x", shape, -2.0, 2.0)}, out(lambda m, x: m(x)),
                differentiable=("x",))

    # Embedding with a padding index that occurs in the input (its row gets no gradient).
    name = "embedding padding_idx"
    idx = randint(name, "idx", [2, 5], 10)
    idx[0, 1] = 2
    idx[1, 3] = 2
    gf.case(name, "embedding", {"num": 10, "dim": 4, "padding_idx": 2},
            nn.Embedding(10, 4, padding_idx=2), {"indices": idx}, out(lambda m, indices: m(indices)))

    # Cells, with a given state and from the zero state.
    for with_state in [True, False]:
        name = "lstmcell" + ("" if with_state else " zero state")
        inputs = {"x": uniform(name, "x", [3, 5])}
        if with_state:
            inputs.update(h=uniform(name, "h", [3, 4]), c=uniform(name, "c", [3, 4]))
        gf.case(name, "lstmcell", {"input": 5, "hidden": 4}, nn.LSTMCell(5, 4), inputs,
                lambda m, x, h=None, c=None: dict(zip(("h", "c"), m(x, None if h is None else (h, c)))),
                differentiable=tuple(inputs), projected=("h", "c"))
        name = "grucell" + ("" if with_state else " zero state")
        inputs = {"x": uniform(name, "x", [3, 5])}
        if with_state:
            inputs["h"] = uniform(name, "h", [3, 4])
        gf.case(name, "grucell", {"input": 5, "hidden": 4}, nn.GRUCell(5, 4), inputs,
                out(lambda m, x, h=None: m(x, h)), differentiable=tuple(inputs))

    # LSTM, batch first: two layers with an initial state; with lengths (PyTorch's packed
    # sequence); one layer with lengths and no initial state.
    def lstm_run(m, x, lengths=None, h0=None, c0=None):
        state = None if h0 is None else (h0, c0)
        if lengths is None:
            output, (h, c) = m(x, state)
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            output, (h, c) = m(packed, state)
            output, _ = pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])
        return {"out": output, "h": h, "c": c}

    lstm_cases = [("lstm 2 layers", 2, None, True), ("lstm 2 layers lengths", 2, [6, 3, 4], True),
                  ("lstm lengths zero state", 1, [2, 5, 1], False)]
    for name, layers, lengths, with_state in lstm_cases:
        inputs = {"x": uniform(name, "x", [3, 6, 5])}
        if lengths is not None:
            inputs["lengths"] = torch.tensor(lengths, dtype=torch.int64)
        if with_state:
            inputs.update(h0=uniform(name, "h0", [layers, 3, 4]), c0=uniform(name, "c0", [layers, 3, 4]))
        differentiable = tuple(k for k in inputs if k != "lengths")
        gf.case(name, "lstm", {"input": 5, "hidden": 4, "layers": layers},
                nn.LSTM(5, 4, num_layers=layers, batch_first=True), inputs, lstm_run,
                differentiable=differentiable, projected=("out", "h", "c"))

    # MultiheadAttention: self-attention with a key padding mask (fused QKV projection), causal
    # self-attention, cross-attention to a memory (shared K/V projection) with a float mask, and
    # separate key and value with a bool mask.
    E, H = 8, 2
    name = "mha self key_padding_mask"
    pad = torch.zeros(2, 5, dtype=torch.bool)
    pad[0, 3:] = True
    pad[1, 1] = True
    gf.case(name, "mha", {"embed": E, "heads": H, "mode": "self", "causal": 0},
            nn.MultiheadAttention(E, H, batch_first=True),
            {"x": uniform(name, "x", [2, 5, E]), "key_padding_mask": pad},
            out(lambda m, x, key_padding_mask: m(x, x, x, key_padding_mask=key_padding_mask,
                                                 need_weights=False)[0]),
            differentiable=("x",))
    name = "mha self causal"
    gf.case(name, "mha", {"embed": E, "heads": H, "mode": "self", "causal": 1},
            nn.MultiheadAttention(E, H, batch_first=True), {"x": uniform(name, "x", [2, 4, E])},
            out(lambda m, x: m(x, x, x, attn_mask=causal_mask(4), need_weights=False)[0]),
            differentiable=("x",))
    name = "mha cross float mask"
    gf.case(name, "mha", {"embed": E, "heads": H, "mode": "kv", "causal": 0},
            nn.MultiheadAttention(E, H, batch_first=True),
            {"x": uniform(name, "x", [2, 3, E]), "memory": uniform(name, "memory", [2, 4, E]),
             "attn_mask": uniform(name, "attn_mask", [3, 4], -2.0, 0.0)},
            out(lambda m, x, memory, attn_mask: m(x, memory, memory, attn_mask=attn_mask,
                                                  need_weights=False)[0]),
            differentiable=("x", "memory"))
    name = "mha separate kv bool mask"
    bool_mask = torch.zeros(3, 4, dtype=torch.bool)
    bool_mask[0, 2] = bool_mask[2, 0] = bool_mask[1, 3] = True
    gf.case(name, "mha", {"embed": E, "heads": H, "mode": "separate", "causal": 0},
            nn.MultiheadAttention(E, H, batch_first=True),
            {"x": uniform(name, "x", [2, 3, E]), "key": uniform(name, "key", [2, 4, E]),
             "value": uniform(name, "value", [2, 4, E]), "attn_mask": bool_mask},
            out(lambda m, x, key, value, attn_mask: m(x, key, value, attn_mask=attn_mask,
                                                      need_weights=False)[0]),
            differentiable=("x", "key", "value"))

    # Transformer layers in eval mode (dropout off): post-LN with ReLU, pre-LN with GELU.
    d_model, nhead, d_ff = 8, 2, 16
    for norm_first, activation in [(False, "relu"), (True, "gelu")]:
        ln = "pre-LN" if norm_first else "post-LN"
        attrs = {"d_model": d_model, "nhead": nhead, "dim_ff": d_ff, "activation": activation,
                 "norm_first": norm_first}

        name = f"encoder {ln} {activation} key_padding_mask"
        pad = torch.zeros(2, 5, dtype=torch.bool)
        pad[1, 3:] = True
        gf.case(name, "encoder", dict(attrs, causal=0),
                nn.TransformerEncoderLayer(d_model, nhead, d_ff, dropout=0.1, activation=activation,
                                           batch_first=True, norm_first=norm_first),
                {"x": uniform(name, "x", [2, 5, d_model]), "key_padding_mask": pad},
                out(lambda m, x, key_padding_mask: m(x, src_key_padding_mask=key_padding_mask)),
                differentiable=("x",))
        name = f"encoder {ln} {activation} causal"
        gf.case(name, "encoder", dict(attrs, causal=1),
                nn.TransformerEncoderLayer(d_model, nhead, d_ff, dropout=0.1, activation=activation,
                                           batch_first=True, norm_first=norm_first),
                {"x": uniform(name, "x", [2, 4, d_model])},
                out(lambda m, x: m(x, src_mask=causal_mask(4))), differentiable=("x",))

        name = f"decoder {ln} {activation} causal memory_key_padding_mask"
        pad = torch.zeros(2, 6, dtype=torch.bool)
        pad[0, 4:] = True
        gf.case(name, "decoder", dict(attrs, causal=1),
                nn.TransformerDecoderLayer(d_model, nhead, d_ff, dropout=0.1, activation=activation,
                                           batch_first=True, norm_first=norm_first),
                {"x": uniform(name, "x", [2, 4, d_model]),
                 "memory": uniform(name, "memory", [2, 6, d_model]), "memory_key_padding_mask": pad},
                out(lambda m, x, memory, memory_key_padding_mask: m(
                    x, memory, tgt_mask=causal_mask(4), memory_key_padding_mask=memory_key_padding_mask)),
                differentiable=("x", "memory"))

    # Blocks in training mode (batch statistics, running stats updated) and one in eval mode.
    blocks = [
        ("basic_block identity", "basic_block", {"in": 4, "planes": 4, "stride": 1}, BasicBlock(4, 4, 1), [2, 4, 5, 5], True),
        ("basic_block downsample", "basic_block", {"in": 4, "planes": 6, "stride": 2}, BasicBlock(4, 6, 2), [2, 4, 6, 6], True),
        ("basic_block downsample eval", "basic_block", {"in": 4, "planes": 6, "stride": 2}, BasicBlock(4, 6, 2), [2, 4, 5, 5], False),
        ("bottleneck identity", "bottleneck", {"in": 8, "planes": 2, "stride": 1}, Bottleneck(8, 2, 1), [2, 8, 4, 4], True),
        ("bottleneck downsample", "bottleneck", {"in": 4, "planes": 2, "stride": 2}, Bottleneck(4, 2, 2), [2, 4, 5, 5], True),
        ("inverted_residual residual", "inverted_residual", {"in": 4, "out": 4, "stride": 1, "expand": 6}, InvertedResidual(4, 4, 1, 6), [2, 4, 5, 5], True),
        ("inverted_residual no expansion stride 2", "inverted_residual", {"in": 4, "out": 6, "stride": 2, "expand": 1}, InvertedResidual(4, 6, 2, 1), [2, 4, 6, 6], True),
    ]
    for name, op, attrs, module, shape, train in blocks:
        gf.case(name, op, attrs, module, {"x": uniform(name, "x", shape, -2.0, 2.0)},
                out(lambda m, x: m(x)), differentiable=("x",), train=train,
                buffers_after=bn_keys(module) if train else ())


if __name__ == "__main__":
    gf = GoldenFile()
    layer_cases(gf)
    gf.write()
