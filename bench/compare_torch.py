#!/usr/bin/python3
"""dyngrad against PyTorch on the shared benchmark workloads, in one invocation.

For every workload (../shared/bench/workloads.md) and every round, three processes run back to
back, each timing only that workload (`--only name`, so the peak RSS each prints is that
workload's own):

    dyngrad        build/bench/bench_workloads --only NAME --iters N
    torch default  /usr/bin/python3 torch_reference.py --only NAME --iters N
    torch PASSIVE  the same with --env OMP_WAIT_POLICY=PASSIVE

The order of the three rotates from round to round, and rounds go over all workloads before the
next round starts, so a change of load on a shared machine spreads over every side. Each side's
figure is the median of its per-round medians; dyngrad is compared with the faster of the two
PyTorch settings. The required ratio dyngrad / torch is <= 0.5 for the batch-1 inference
workloads and lstm_cell_loop, <= 1.0 for the rest.

Usage (from the repository root, after building bench_workloads):
    /usr/bin/python3 bench/compare_torch.py [--rounds 3] [--iters 30] [--only mlp,cnn]
                                            [--markdown FILE] [--binary PATH] [--torch-script PATH]

Standard library only.
"""
import argparse
import datetime
import os
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BINARY = os.path.join(REPO, "build", "bench", "bench_workloads")
DEFAULT_TORCH_SCRIPT = os.path.join(os.path.dirname(REPO), "shared", "bench", "torch_reference.py")

WORKLOADS = ["mlp", "cnn", "dyconv", "lstm", "lstm_cell_loop", "moe", "transformer",
             "infer_b1_mlp", "infer_b1_cnn", "infer_b1_transformer"]
STRICT = {"infer_b1_mlp", "infer_b1_cnn", "infer_b1_transformer", "lstm_cell_loop"}
SIDES = ["dyngrad", "torch default", "torch PASSIVE"]


def required_ratio(name):
    return 0.5 if name in STRICT else 1.0


# ------------------------------------------------------------------- running one side --
def command(side, name, args):
    if side == "dyngrad":
        return [args.binary, "--only", name, "--iters", str(args.iters)]
    cmd = [args.python, args.torch_script, "--only", name, "--iters", str(args.iters)]
    if side == "torch PASSIVE":
        cmd += ["--env", "OMP_WAIT_POLICY=PASSIVE"]
    return cmd


def parse(output, name):
    """(median_ms, peak_rss_MiB) from a bench output, or raises ValueError."""
    median = rss = None
    for line in output.splitlines():
        fields = line.split()
        if line.startswith("# peak_rss_MiB") and len(fields) == 3:
            rss = float(fields[2])
        elif fields and fields[0] == name and len(fields) == 4:
            median = float(fields[1])
    if median is None or rss is None:
        raise ValueError("no timing or RSS line for %s in:\n%s" % (name, output))
    return median, rss


def run_side(side, name, args):
    cmd = command(side, name, args)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return None, "timed out after %d s" % args.timeout
    if done.returncode != 0:
        return None, "exit %d: %s" % (done.returncode, done.stderr.strip()[-300:])
    try:
        return parse(done.stdout, name), None
    except ValueError as e:
        return None, str(e)


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


# ------------------------------------------------------------------------- the table --
def fmt_ms(v):
    if v is None:
        return "error"
    return "%.3f" % v if v < 10 else "%.1f" % v


def summarise(names, results):
    """Rows of the table: one dict per workload."""
    rows = []
    for name in names:
        row = {"name": name}
        for side in SIDES:
            runs = results[name][side]
            row[side] = statistics.median(r[0] for r in runs) if runs else None
            row[side + " rss"] = max(r[1] for r in runs) if runs else None
        torch_times = [row[s] for s in SIDES[1:] if row[s] is not None]
        best_torch = min(torch_times) if torch_times else None
        ratio = row["dyngrad"] / best_torch if row["dyngrad"] is not None and best_torch else None
        row["ratio"] = ratio
        row["required"] = required_ratio(name)
        row["verdict"] = "error" if ratio is None else ("pass" if ratio <= row["required"] else "FAIL")
        rows.append(row)
    return rows


HEADER = ["workload", "dyngrad ms", "torch default ms", "torch PASSIVE ms",
          "dyngrad / faster torch", "required", "verdict", "peak RSS MiB dyngrad / torch"]


def cells(row):
    def rss(side):
        v = row[side + " rss"]
        return "?" if v is None else "%.0f" % v
    torch_rss = [row[s + " rss"] for s in SIDES[1:] if row[s + " rss"] is not None]
    return [row["name"], fmt_ms(row["dyngrad"]), fmt_ms(row["torch default"]),
            fmt_ms(row["torch PASSIVE"]),
            "?" if row["ratio"] is None else "%.2f" % row["ratio"],
            "<= %.1f" % row["required"], row["verdict"],
            "%s / %s" % (rss("dyngrad"), "%.0f" % max(torch_rss) if torch_rss else "?")]


def text_table(rows):
    table = [HEADER] + [cells(r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    lines = []
    for i, r in enumerate(table):
        lines.append("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows):
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------ main --
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds over all workloads (default 3)")
    ap.add_argument("--iters", type=int, default=30, help="timed training steps per run (>= 20)")
    ap.add_argument("--only", default="", help="comma list of workload names")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table as markdown to FILE")
    ap.add_argument("--binary", default=DEFAULT_BINARY, help="the dyngrad bench_workloads binary")
    ap.add_argument("--torch-script", default=DEFAULT_TORCH_SCRIPT, help="torch_reference.py")
    ap.add_argument("--python", default="/usr/bin/python3", help="the Python that has torch")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per process")
    args = ap.parse_args()

    names = [n for n in args.only.split(",") if n] or WORKLOADS
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        ap.error("unknown workloads: %s (known: %s)" % (", ".join(unknown), ", ".join(WORKLOADS)))
    for path in (args.binary, args.torch_script):
        if not os.path.exists(path):
            ap.error("not found: %s" % path)

    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = load_average()
    results = {n: {s: [] for s in SIDES} for n in names}
    errors = []
    for r in range(args.rounds):
        order = SIDES[r % len(SIDES):] + SIDES[:r % len(SIDES)]
        for name in names:
            for side in order:
                result, error = run_side(side, name, args)
                if error:
                    errors.append("round %d, %s, %s: %s" % (r + 1, name, side, error))
                    print("  round %d  %-20s %-14s ERROR" % (r + 1, name, side), file=sys.stderr)
                    continue
                results[name][side].append(result)
                print("  round %d  %-20s %-14s %10.3f ms  %7.1f MiB  (load %s)"
                      % (r + 1, name, side, result[0], result[1], load_average()),
                      file=sys.stderr, flush=True)
    load_after = load_average()

    rows = summarise(names, results)
    passed = sum(r["verdict"] == "pass" for r in rows)
    notes = [
        "%s UTC, %d round(s), %d timed training steps per run; each figure is the median of the "
        "per-round medians; ratio = dyngrad / the faster torch setting."
        % (started.strftime("%Y-%m-%d %H:%M"), args.rounds, max(20, args.iters)),
        "load average (1, 5, 15 min) before: %s, after: %s; %d CPUs." % (load_before, load_after,
                                                                         os.cpu_count()),
        "%d of %d workloads meet the required ratio." % (passed, len(rows)),
    ]
    print(text_table(rows))
    for n in notes:
        print("# " + n)
    for e in errors:
        print("# error: " + e)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown_table(rows) + "\n\n")
            f.write("\n".join("- " + n for n in notes) + "\n")
            for e in errors:
                f.write("- error: %s\n" % e)
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
