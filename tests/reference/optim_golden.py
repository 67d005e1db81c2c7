"""Golden values for tests/nn/test_optim.cpp: PyTorch's SGD, Adam and AdamW (single-tensor, as
torch 1.13 runs them by default) and clip_grad_norm_ on a fixed problem.

The problem: four parameters in two groups, group 0 = [w (3x4), b (4), frozen (2)] and
group 1 = [u (2x3)], and the loss sum_p sum(a_p * (p - c_p) * (p - c_p) + d_p * sin(p)) over
w, b and u. `frozen` is not in the loss, so it never has a gradient and must never change. Each
case runs five steps (zero_grad, loss, backward, step) in float32 and in float64 and records every
parameter after every step.

Run with the system Python (python3-torch) from the repository root:
    /usr/bin/python3 tests/reference/optim_golden.py > tests/reference/optim_golden.txt

Output format, one record per line, values space-separated, '#' starts a comment:
    const <param> <a|c|d> <values...>      the loss constants (float64)
    init <param> <values...>               initial values (float64; cast to the case's dtype)
    case <name> <SGD|Adam|AdamW> <f32|f64> a case; its groups and steps follow
    group <g> <key> <value> ...            hyperparameters of group g
    step <k> <param> <values...>           the parameter after step k (k = 1..5)
    clip_grad <param> <values...>          gradients (float32) for the clip cases
    clip <norm_type> <max_norm> <total>    clip_grad_norm_ on a fresh copy of those gradients...
    clipped <param> <values...>            ...and the gradients after it
"""
import math

import torch

PARAMS = {"w": [3, 4], "b": [4], "frozen": [2], "u": [2, 3]}
GROUPS = [["w", "b", "frozen"], ["u"]]
IN_LOSS = ["w", "b", "u"]
STEPS = 5


def values(n, seed, scale, shift=0.0):
    # A fixed formula, so nothing depends on a random generator.
    return [shift + scale * math.sin(1.3 * i + 0.7 * seed + 0.1 * i * i) for i in range(n)]


def numel(shape):
    return math.prod(shape)


INIT = {name: values(numel(s), 1 + k, 1.0) for k, (name, s) in enumerate(PARAMS.items())}
CONST = {
    name: {
        "a": values(numel(PARAMS[name]), 11 + k, 0.4, 0.6),  # in [0.2, 1.0]: a convex bowl
        "c": values(numel(PARAMS[name]), 21 + k, 0.8),
        "d": values(numel(PARAMS[name]), 31 + k, 0.5),
    }
    for k, name in enumerate(IN_LOSS)
}

SGD_KEYS = ["lr", "momentum", "dampening", "weight_decay", "nesterov"]
ADAM_KEYS = ["lr", "beta1", "beta2", "eps", "weight_decay"]


def sgd(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    return dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                nesterov=nesterov)


def adam(lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    return dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)


# name, optimizer, [group 0 options, group 1 options]
CASES = [
    ("sgd_plain", "SGD", [sgd(0.1), sgd(0.1)]),
    ("sgd_momentum", "SGD", [sgd(0.1, momentum=0.9), sgd(0.1, momentum=0.9)]),
    ("sgd_dampening_wd", "SGD", [sgd(0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)] * 2),
    ("sgd_nesterov", "SGD", [sgd(0.05, momentum=0.9, nesterov=True)] * 2),
    ("sgd_nesterov_wd", "SGD", [sgd(0.05, momentum=0.8, nesterov=True, weight_decay=0.1)] * 2),
    ("sgd_wd_only", "SGD", [sgd(0.1, weight_decay=0.2)] * 2),
    ("sgd_groups", "SGD", [sgd(0.1, momentum=0.9), sgd(0.01, momentum=0.5, weight_decay=0.05)]),
    ("adam", "Adam", [adam(0.01), adam(0.01)]),
    ("adam_wd", "Adam", [adam(0.02, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1)] * 2),
    ("adamw", "AdamW", [adam(0.01, weight_decay=0.1)] * 2),
    ("adamw_groups", "AdamW", [adam(0.02, weight_decay=0.0),
                               adam(0.005, beta1=0.5, beta2=0.9, eps=1e-4, weight_decay=0.3)]),
    ("adam_groups", "Adam", [adam(0.03), adam(0.001, beta1=0.7, weight_decay=0.02)]),
]


def fmt(xs):
    return " ".join(repr(float(x)) for x in xs)


def make_optimizer(kind, groups, params):
    torch_groups = []
    for names, o in zip(GROUPS, groups):
        g = {"params": [params[n] for n in names], "lr": o["lr"], "weight_decay": o["weight_decay"]}
        if kind == "SGD":
            g.update(momentum=o["momentum"], dampening=o["dampening"], nesterov=o["nesterov"])
        else:
            g.update(betas=(o["beta1"], o["beta2"]), eps=o["eps"])
        torch_groups.append(g)
    # foreach=False: the single-tensor implementation (1.13's default on CPU anyway).
    if kind == "SGD":
        return torch.optim.SGD(torch_groups, lr=groups[0]["lr"], foreach=False)
    cls = torch.optim.Adam if kind == "Adam" else torch.optim.AdamW
    return cls(torch_groups, lr=groups[0]["lr"], foreach=False)


def run_case(name, kind, groups, dtype, tag):
    params = {n: torch.tensor(v, dtype=torch.float64).reshape(PARAMS[n]).to(dtype).requires_grad_()
              for n, v in INIT.items()}
    consts = {n: {k: torch.tensor(v, dtype=torch.float64).reshape(PARAMS[n]).to(dtype)
                  for k, v in c.items()} for n, c in CONST.items()}
    opt = make_optimizer(kind, groups, params)
    print(f"case {name} {kind} {tag}")
    keys = SGD_KEYS if kind == "SGD" else ADAM_KEYS
    for g, o in enumerate(groups):
        print(f"group {g} " + " ".join(f"{k} {float(o[k])!r}" for k in keys))
    for step in range(1, STEPS + 1):
        opt.zero_grad()
        loss = sum(((consts[n]["a"] * (params[n] - consts[n]["c"]) * (params[n] - consts[n]["c"]))
                    + consts[n]["d"] * torch.sin(params[n])).sum() for n in IN_LOSS)
        loss.backward()
        opt.step()
        for n in PARAMS:
            print(f"step {step} {n} {fmt(params[n].detach().reshape(-1).tolist())}")


def clip_cases():
    grads = {n: torch.tensor(values(numel(s), 41 + k, 2.0), dtype=torch.float32).reshape(s)
             for k, (n, s) in enumerate(PARAMS.items()) if n != "frozen"}
    for n, g in grads.items():
        print(f"clip_grad {n} {fmt(g.reshape(-1).tolist())}")
    for norm_type, max_norm in [(2.0, 1.0), (2.0, 100.0), (1.0, 2.5), (math.inf, 0.5), (3.0, 1.5)]:
        params = {n: torch.zeros_like(g, requires_grad=True) for n, g in grads.items()}
        for n, p in params.items():
            p.grad = grads[n].clone()
        total = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm, norm_type)
        print(f"clip {norm_type!r} {max_norm!r} {float(total)!r}")
        for n, p in params.items():
            print(f"clipped {n} {fmt(p.grad.reshape(-1).tolist())}")


def main():
    print(f"# generated by tests/reference/optim_golden.py with torch {torch.__version__}")
    for n, c in CONST.items():
        for k, v in c.items():
            print(f"const {n} {k} {fmt(v)}")
    for n, v in INIT.items():
        print(f"init {n} {fmt(v)}")
    for name, kind, groups in CASES:
        for dtype, tag in [(torch.float32, "f32"), (torch.float64, "f64")]:
            run_case(name, kind, groups, dtype, tag)
    clip_cases()


if __name__ == "__main__":
    main()
