#!/usr/bin/python3
"""Writes the golden reference files tests/reference/*.txt from PyTorch.

For each case of the trickier ops (broadcasting matmul, logsumexp, topk, gather/scatter, cumsum,
broadcasting elementwise ops and a few activations) it stores fixed inputs, PyTorch's forward
outputs, a fixed projection tensor v per projected output, and the gradients of sum(output * v)
with respect to each differentiable input. tests/engine/test_reference.cpp replays every case on
dyngrad and compares, so the C++ tests need no Python. Inputs are drawn from a torch.Generator
seeded from the case name (adding a case does not change the others) and every float is written
with "%.17g", so a float64 round-trips exactly. The format is described in tests/reference/README.md.

Run with Debian's Python (it sees python3-torch):  /usr/bin/python3 tests/reference/make_golden.py
"""

import math
import os
import zlib

import torch
import torch.nn.functional as F

OUT_DIR = os.path.dirname(os.path.abspath(__file__))

DTYPE_NAMES = {torch.float64: "f64", torch.float32: "f32", torch.int64: "i64"}


# ------------------------------------------------------------------------------------- inputs

def generator_for(case_name, salt):
    """A generator whose seed depends only on the case name and the tensor's role."""
    g = torch.Generator()
    g.manual_seed(zlib.crc32(f"{case_name}/{salt}".encode()))
    return g


def uniform(case_name, salt, shape, lo=-1.0, hi=1.0, dtype=torch.float64):
    """Values in [lo, hi); f32 values are drawn in f64 and rounded, so they are exact in both."""
    g = generator_for(case_name, salt)
    x = lo + (hi - lo) * torch.rand(shape, generator=g, dtype=torch.float64)
    return x.to(dtype)


def away_from_zero(case_name, salt, shape, lo=0.5, hi=2.0):
    """Magnitudes in [lo, hi) with random signs: safe denominators."""
    magnitude = uniform(case_name, salt + "/mag", shape, lo, hi)
    sign = torch.where(uniform(case_name, salt + "/sign", shape) < 0, -1.0, 1.0).double()
    return magnitude * sign


def distinct(case_name, salt, shape):
    """Values without ties (a shuffled, jittered grid) so topk's indices are unambiguous."""
    n = math.prod(shape)
    g = generator_for(case_name, salt)
    perm = torch.randperm(n, generator=g).double()
    jitter = 0.25 * torch.rand(n, generator=g, dtype=torch.float64)
    return ((perm + jitter - n / 2) / n).reshape(shape)


def randint(case_name, salt, shape, high):
    g = generator_for(case_name, salt)
    return torch.randint(0, high, shape, generator=g, dtype=torch.int64)


def distinct_indices(case_name, salt, index_shape, dim, dim_size):
    """An i64 index for scatter along `dim` whose entries never repeat along that dim (so the
    result does not depend on write order): a random permutation prefix per lane."""
    g = generator_for(case_name, salt)
    moved = list(index_shape)
    length = moved.pop(dim)
    lanes = math.prod(moved)
    rows = [torch.randperm(dim_size, generator=g)[:length] for _ in range(lanes)]
    index = torch.stack(rows).reshape(moved + [length])
    return index.movedim(-1, dim).contiguous()


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
    """One header line, then the values row by row (rows of the last dim), indented."""
    t = t.detach()
    shape = "[" + ",".join(str(s) for s in t.shape) + "]"
    lines = [f"{kind} {name} {DTYPE_NAMES[t.dtype]} {shape}"]
    values = t if t.dtype == torch.int64 else t.double()  # f32 widens exactly
    rows = values.reshape(-1, t.shape[-1] if t.dim() > 0 else 1).tolist()
    for row in rows:
        lines.append("  " + " ".join(format_value(v) for v in row))
    return lines


class GoldenFile:
    def __init__(self, family, description):
        self.family = family
        self.description = description
        self.lines = []
        self.names = set()

    def case(self, name, op, attrs, inputs, fn, differentiable=(), projected=("out",)):
        """Runs fn(**inputs) (returning a dict of named outputs) under autograd and records the case.

        differentiable: names of the inputs whose gradients are stored.
        projected: names of the outputs that enter sum(output * v); empty for forward-only cases.
        """
        assert name not in self.names, name
        self.names.add(name)
        leaves = {k: v.clone().requires_grad_(k in differentiable) for k, v in inputs.items()}
        outputs = fn(**leaves)
        projections = {k: uniform(name, "v/" + k, outputs[k].shape) for k in projected}
        grads = {}
        if differentiable:
            loss = sum((outputs[k] * projections[k]).sum() for k in projected)
            wrt = [leaves[k] for k in differentiable]
            grads = dict(zip(differentiable, torch.autograd.grad(loss, wrt)))

        self.lines.append(f"case {name}")
        self.lines.append(f"op {op}")
        for key, value in attrs.items():
            self.lines.append(f"attr {key} {value}")
        for k, v in inputs.items():
            self.lines += format_tensor("input", k, v)
        for k, v in outputs.items():
            self.lines += format_tensor("output", k, v)
        for k, v in projections.items():
            self.lines += format_tensor("proj", k, v)
        for k, v in grads.items():
            self.lines += format_tensor("grad", k, v)
        self.lines.append("end")
        self.lines.append("")

    def write(self):
        path = os.path.join(OUT_DIR, f"{self.family}.txt")
        header = [
            f"# dyngrad golden reference values: {self.description}.",
            f"# Generated by tests/reference/make_golden.py with PyTorch {torch.__version__}; do not edit",
            "# by hand (see tests/reference/README.md). Checked by tests/engine/test_reference.cpp.",
            "",
        ]
        with open(path, "w") as f:
            f.write("\n".join(header + self.lines))
        print(f"wrote {path}: {len(self.names)} cases")


def bools(**flags):
    return {k: int(v) for k, v in flags.items()}


# ------------------------------------------------------------------------------------- matmul

def matmul_cases():
    gf = GoldenFile("matmul", "matmul with NumPy semantics (1-D, 2-D, batched broadcasting, "
                              "transposed operands), f64 with gradients and f32 forward")

    def matmul_fn(transpose_a, transpose_b):
        def fn(a, b):
            lhs = a.transpose(-1, -2) if transpose_a else a
            rhs = b.transpose(-1, -2) if transpose_b else b
            return {"out": torch.matmul(lhs, rhs)}
        return fn

    # (name, stored shape of a, stored shape of b, transpose_a, transpose_b). A transposed operand
    # is stored untransposed; the test passes transpose(a, -1, -2), a strided view, to matmul.
    shapes = [
        ("1d@1d", [5], [5], False, False),
        ("1d@2d", [4], [4, 3], False, False),
        ("2d@1d", [3, 4], [4], False, False),
        ("2d@2d", [3, 4], [4, 5], False, False),
        ("2d^T@2d", [4, 3], [4, 5], True, False),
        ("2d@2d^T", [3, 4], [5, 4], False, True),
        ("2d^T@2d^T", [4, 3], [5, 4], True, True),
        ("1d@3d", [4], [2, 4, 3], False, False),
        ("3d@1d", [2, 3, 4], [4], False, False),
        ("3d@2d", [2, 3, 4], [4, 2], False, False),
        ("2d@3d", [3, 4], [2, 4, 5], False, False),
        ("batch_broadcast [2,1,3,4]@[5,4,2]", [2, 1, 3, 4], [5, 4, 2], False, False),
        ("batch_broadcast [1,3,4]@[2,1,4,2]", [1, 3, 4], [2, 1, 4, 2], False, False),
        ("batched^T [2,4,3]^T@[2,4,2]", [2, 4, 3], [2, 4, 2], True, False),
        ("batch_broadcast^T [2,1,3,4]@[5,2,4]^T", [2, 1, 3, 4], [5, 2, 4], False, True),
    ]
    for name, sa, sb, ta, tb in shapes:
        inputs = {"a": uniform(name, "a", sa), "b": uniform(name, "b", sb)}
        gf.case(name, "matmul", bools(transpose_a=ta, transpose_b=tb), inputs, matmul_fn(ta, tb),
                differentiable=("a", "b"))

    f32_shapes = [
        ("f32 2d@2d", [7, 33], [33, 5], False, False),
        ("f32 2d^T@2d", [33, 7], [33, 5], True, False),
        ("f32 batch_broadcast [2,1,3,17]@[5,17,2]", [2, 1, 3, 17], [5, 17, 2], False, False),
        ("f32 1d@2d", [17], [17, 6], False, False),
    ]
    for name, sa, sb, ta, tb in f32_shapes:
        inputs = {"a": uniform(name, "a", sa, dtype=torch.float32),
                  "b": uniform(name, "b", sb, dtype=torch.float32)}
        gf.case(name, "matmul", bools(transpose_a=ta, transpose_b=tb), inputs, matmul_fn(ta, tb),
                projected=())
    gf.write()


# ------------------------------------------------------------------------------------- logsumexp

def logsumexp_cases():
    gf = GoldenFile("logsumexp", "logsumexp over one or several dims, keepdim, rows holding -inf "
                                 "and values near 1000, f64 with gradients and f32 forward")

    def lse_fn(dims, keepdim):
        return lambda x: {"out": torch.logsumexp(x, dim=dims, keepdim=keepdim)}

    def attrs(dims, keepdim):
        return {"dims": ",".join(str(d) for d in dims), "keepdim": int(keepdim)}

    plain = [
        ("dim -1", [3, 5], [-1], False),
        ("dim 0", [4, 3], [0], False),
        ("dim 1 keepdim", [2, 4, 3], [1], True),
        ("dims 0,2", [2, 3, 4], [0, 2], False),
        ("dims -1,0 keepdim", [2, 3, 4], [-1, 0], True),
        ("all dims", [2, 3], [0, 1], False),
        ("1d", [6], [0], False),
    ]
    for name, shape, dims, keepdim in plain:
        inputs = {"x": uniform(name, "x", shape, -3.0, 3.0)}
        gf.case(name, "logsumexp", attrs(dims, keepdim), inputs, lse_fn(dims, keepdim),
                differentiable=("x",))

    # Row 0 holds -inf entries next to finite ones, row 1 values near 1000 (exp overflows without
    # the max shift), row 2 values near -1000 (exp underflows), row 3 is ordinary.
    name = "extremes dim -1"
    x = uniform(name, "x", [4, 5], -2.0, 2.0)
    x[0, 1] = -math.inf
    x[0, 3] = -math.inf
    x[1] += 1000.0
    x[2] -= 1000.0
    for dims, keepdim, suffix in [([-1], False, ""), ([-1], True, " keepdim")]:
        gf.case(name + suffix, "logsumexp", attrs(dims, keepdim), {"x": x.clone()},
                lse_fn(dims, keepdim), differentiable=("x",))
    # The same extremes reduced over dim 0 (the -inf and the 1000s now share a column reduction).
    gf.case("extremes dim 0", "logsumexp", attrs([0], False), {"x": x.clone()},
            lse_fn([0], False), differentiable=("x",))

    # A row that is entirely -inf: the result is -inf (log of an empty sum), not nan. Forward only:
    # PyTorch's gradient there is nan, which is not a property worth pinning.
    name = "all -inf row dim -1"
    x = uniform(name, "x", [3, 4], -2.0, 2.0)
    x[1] = -math.inf
    gf.case(name, "logsumexp", attrs([-1], False), {"x": x}, lse_fn([-1], False), projected=())

    f32 = [
        ("f32 dim -1", [4, 37], [-1], False, 0.0),
        ("f32 dims 0,2 keepdim", [3, 5, 7], [0, 2], True, 0.0),
        ("f32 dim -1 near 1000", [3, 9], [-1], False, 1000.0),
    ]
    for name, shape, dims, keepdim, shift in f32:
        x = (uniform(name, "x", shape, -3.0, 3.0) + shift).float()
        gf.case(name, "logsumexp", attrs(dims, keepdim), {"x": x}, lse_fn(dims, keepdim),
                projected=())
    gf.write()


# ------------------------------------------------------------------------------------- topk

def topk_cases():
    gf = GoldenFile("topk", "topk values (with gradients) and indices, largest and smallest, "
                            "on inputs without ties")

    def topk_fn(k, dim, largest):
        def fn(x):
            values, indices = torch.topk(x, k, dim=dim, largest=largest, sorted=True)
            return {"values": values, "indices": indices}
        return fn

    cases = [
        ("1d largest k=3", [8], 3, -1, True),
        ("1d smallest k=2", [8], 2, 0, False),
        ("2d largest dim -1 k=2", [3, 6], 2, -1, True),
        ("2d smallest dim -1 k=3", [3, 6], 3, -1, False),
        ("2d largest dim 0 k=2", [5, 4], 2, 0, True),
        ("3d smallest dim 1 k=2", [2, 5, 3], 2, 1, False),
        ("3d largest dim 1 k=all", [2, 4, 3], 4, 1, True),
        ("2d largest k=1", [4, 7], 1, 1, True),
    ]
    for name, shape, k, dim, largest in cases:
        inputs = {"x": distinct(name, "x", shape)}
        gf.case(name, "topk", {"k": k, "dim": dim, "largest": int(largest)}, inputs,
                topk_fn(k, dim, largest), differentiable=("x",), projected=("values",))
    gf.write()


# ------------------------------------------------------------------------------------- gather / scatter

def gather_scatter_cases():
    gf = GoldenFile("gather_scatter", "gather, scatter (distinct indices) and scatter_add "
                                      "(with duplicate indices), with gradients")

    gathers = [
        ("gather dim 0", [4, 3], [5, 3], 0),
        ("gather dim 1", [3, 5], [3, 7], 1),
        ("gather dim -1 3d", [2, 3, 4], [2, 3, 2], -1),
        ("gather dim 1 3d", [2, 4, 3], [2, 6, 3], 1),
        # PyTorch allows index.size(d) <= x.size(d) for d != dim.
        ("gather dim 0 smaller index", [5, 4], [3, 2], 0),
    ]
    for name, x_shape, index_shape, dim in gathers:
        inputs = {"x": uniform(name, "x", x_shape),
                  "index": randint(name, "index", index_shape, x_shape[dim])}
        gf.case(name, "gather", {"dim": dim}, inputs,
                lambda x, index, dim=dim: {"out": torch.gather(x, dim, index)},
                differentiable=("x",))

    # Scatter with duplicate indices along dim would depend on write order: these never repeat.
    scatters = [
        ("scatter dim 0", [5, 3], [3, 3], 0),
        ("scatter dim 1", [3, 6], [3, 4], 1),
        ("scatter dim -1 3d", [2, 3, 5], [2, 3, 2], -1),
        ("scatter dim 0 smaller index", [5, 4], [2, 3], 0),
    ]
    for name, x_shape, index_shape, dim in scatters:
        wrapped = dim % len(x_shape)
        inputs = {"x": uniform(name, "x", x_shape),
                  "index": distinct_indices(name, "index", index_shape, wrapped, x_shape[wrapped]),
                  "src": uniform(name, "src", index_shape)}
        gf.case(name, "scatter", {"dim": dim}, inputs,
                lambda x, index, src, dim=dim: {"out": torch.scatter(x, dim, index, src)},
                differentiable=("x", "src"))

    # scatter_add with many duplicates (index range smaller than the index length), plus one
    # case whose indices are all equal.
    scatter_adds = [
        ("scatter_add dim 0 duplicates", [3, 4], [6, 4], 0, 3),
        ("scatter_add dim 1 duplicates", [2, 5], [2, 8], 1, 5),
        ("scatter_add dim -1 3d duplicates", [2, 3, 4], [2, 3, 6], -1, 2),
        ("scatter_add dim 0 smaller index", [4, 5], [5, 3], 0, 4),
    ]
    for name, x_shape, index_shape, dim, high in scatter_adds:
        inputs = {"x": uniform(name, "x", x_shape),
                  "index": randint(name, "index", index_shape, high),
                  "src": uniform(name, "src", index_shape)}
        gf.case(name, "scatter_add", {"dim": dim}, inputs,
                lambda x, index, src, dim=dim: {"out": torch.scatter_add(x, dim, index, src)},
                differentiable=("x", "src"))
    name = "scatter_add dim 1 all same index"
    inputs = {"x": uniform(name, "x", [2, 3]),
              "index": torch.full([2, 5], 1, dtype=torch.int64),
              "src": uniform(name, "src", [2, 5])}
    gf.case(name, "scatter_add", {"dim": 1}, inputs,
            lambda x, index, src: {"out": torch.scatter_add(x, 1, index, src)},
            differentiable=("x", "src"))
    gf.write()


# ------------------------------------------------------------------------------------- cumsum

def cumsum_cases():
    gf = GoldenFile("cumsum", "cumsum along dims 0, inner and -1, with gradients")
    cases = [
        ("1d", [7], 0),
        ("2d dim 0", [4, 3], 0),
        ("2d dim -1", [3, 5], -1),
        ("3d dim 0", [3, 2, 4], 0),
        ("3d dim 1", [2, 5, 3], 1),
        ("3d dim -1", [2, 3, 6], -1),
        ("size-1 dim", [3, 1, 2], 1),
    ]
    for name, shape, dim in cases:
        gf.case(name, "cumsum", {"dim": dim}, {"x": uniform(name, "x", shape)},
                lambda x, dim=dim: {"out": torch.cumsum(x, dim)}, differentiable=("x",))
    gf.write()


# ------------------------------------------------------------------------------------- elementwise

def elementwise_cases():
    gf = GoldenFile("elementwise", "broadcasting binary ops (add, sub, mul, div, pow) and the "
                                   "softplus, gelu (erf and tanh) and silu activations")
    binary = {
        "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
    }
    pairs = [([3, 1, 4], [2, 4]), ([2, 1], [1, 3]), ([4], [2, 3, 4]), ([], [2, 3]),
             ([2, 3, 1], [3, 5])]
    for op, fn in binary.items():
        for sa, sb in pairs:
            name = f"{op} [{','.join(map(str, sa))}] [{','.join(map(str, sb))}]"
            a = uniform(name, "a", sa, 0.5, 2.0) if op == "pow" else uniform(name, "a", sa)
            b = away_from_zero(name, "b", sb) if op == "div" else uniform(name, "b", sb, -2.0, 2.0)
            gf.case(name, op, {}, {"a": a, "b": b}, lambda a, b, fn=fn: {"out": fn(a, b)},
                    differentiable=("a", "b"))

    for exponent in [2.0, 0.5, -1.5, 3.0]:
        name = f"pow_scalar {exponent:g}"
        x = uniform(name, "x", [2, 5], 0.25, 3.0)
        gf.case(name, "pow_scalar", {"exponent": format_value(exponent)}, {"x": x},
                lambda x, e=exponent: {"out": torch.pow(x, e)}, differentiable=("x",))

    # Activations over a spread of values, including ones in the saturated tails.
    def spread(name):
        x = uniform(name, "x", [3, 6], -4.0, 4.0)
        x[2] = torch.tensor([-30.0, -8.0, -1e-3, 0.0, 8.0, 30.0], dtype=torch.float64)
        return x

    for beta, threshold in [(1.0, 20.0), (2.0, 20.0), (0.5, 3.0)]:
        name = f"softplus beta={beta:g} threshold={threshold:g}"
        gf.case(name, "softplus", {"beta": format_value(beta), "threshold": format_value(threshold)},
                {"x": spread(name)},
                lambda x, b=beta, t=threshold: {"out": F.softplus(x, beta=b, threshold=t)},
                differentiable=("x",))
    for approximate in ["none", "tanh"]:
        name = f"gelu {approximate}"
        gf.case(name, "gelu", {"approximate": approximate}, {"x": spread(name)},
                lambda x, a=approximate: {"out": F.gelu(x, approximate=a)},
                differentiable=("x",))
    name = "silu"
    gf.case(name, "silu", {}, {"x": spread(name)}, lambda x: {"out": F.silu(x)},
            differentiable=("x",))
    gf.write()


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    matmul_cases()
    logsumexp_cases()
    topk_cases()
    gather_scatter_cases()
    cumsum_cases()
    elementwise_cases()
