"""Convolution and pooling kernels, yingshe vs PyTorch: forward, input gradient, weight gradient.

    .venv/bin/python benchmarks/conv_sweep.py [--rounds 3] [--threads 1] [--rows 2d 3d pool]
                                              [--min-time 0.2] [--filter 16->32]
                                              [--clock wall|cpu]

Rows (float32, stride 1, "same" padding k // 2):

* 2-D: channels 1->16, 16->32, 32->64, 64->128 at 28x28 and 14x14, kernel 3 and 5, batch 64;
* 3-D: 8^3 and 16^3 volumes, channels 1->8 and 8->16, kernel 3, batch 8;
* pooling: max and average, 2-D (64, 32, 28x28) and 3-D (8, 16, 16^3), kernel 2 stride 2
  (forward and input gradient; a pooling has no weight).

Each library runs in a process of its own (yingshe never shares one with PyTorch), with
``--threads`` BLAS / intra-op threads (1 by default: equal footing on a shared machine).
The rounds are interleaved (yingshe, torch, yingshe, torch ...); per row and direction
the table keeps each library's quietest round (lowest median) and prints the ratio
yingshe / PyTorch. ``--clock cpu`` times with the calling thread's CPU clock instead of
the wall clock: on a shared machine a process that waits for a core then costs nothing
(both libraries run their kernels on the calling thread with one thread each). The
kernels are timed as the autograd engines call them: yingshe's
registered ops (``conv2d``, its input-adjoint ``conv_transpose2d`` and
``conv2d_weight_grad``; 3-D alike) and PyTorch's ``aten.convolution`` /
``aten.convolution_backward`` with one output mask per gradient. Writes
benchmarks/results/conv_sweep.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

DIRECTIONS = ("forward", "input_grad", "weight_grad")


def rows(groups=("2d", "3d", "pool")) -> list[dict]:
    """Every row of the sweep (plain data, identical in every process)."""
    out = []
    if "2d" in groups:
        for cin, cout in ((1, 16), (16, 32), (32, 64), (64, 128)):
            for size in (28, 14):
                for k in (3, 5):
                    out.append({"name": f"conv2d {cin}->{cout} {size}x{size} k{k}",
                                "kind": "conv", "nd": 2, "batch": 64, "cin": cin,
                                "cout": cout, "size": size, "k": k})
    if "3d" in groups:
        for size in (8, 16):
            for cin, cout in ((1, 8), (8, 16)):
                out.append({"name": f"conv3d {cin}->{cout} {size}^3 k3", "kind": "conv",
                            "nd": 3, "batch": 8, "cin": cin, "cout": cout, "size": size,
                            "k": 3})
    if "pool" in groups:
        for mode in ("max", "avg"):
            out.append({"name": f"{mode}_pool2d 32ch 28x28 k2", "kind": f"{mode}_pool",
                        "nd": 2, "batch": 64, "cin": 32, "size": 28, "k": 2})
            out.append({"name": f"{mode}_pool3d 16ch 16^3 k2", "kind": f"{mode}_pool",
                        "nd": 3, "batch": 8, "cin": 16, "size": 16, "k": 2})
    return out


def _arrays(row: dict):
    rng = np.random.default_rng(0)
    nd, k = row["nd"], row["k"]
    x = rng.standard_normal((row["batch"], row["cin"]) + (row["size"],) * nd).astype(np.float32)
    if row["kind"] != "conv":
        return x, None, None
    w = (rng.standard_normal((row["cout"], row["cin"]) + (k,) * nd)
         / np.sqrt(row["cin"] * k ** nd)).astype(np.float32)
    g = rng.standard_normal((row["batch"], row["cout"]) + (row["size"],) * nd).astype(np.float32)
    return x, w, g


def _time(fn, min_time: float, clock=time.perf_counter, min_reps: int = 3) -> float:
    """Median seconds of ``fn()`` (by ``clock``) over at least ``min_reps`` calls and
    ``min_time`` s of wall time, after one warm-up call."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t0 = clock()
        fn()
        times.append(clock() - t0)
        if len(times) >= 200:
            break
    return float(np.median(times))


# ---- the two libraries' kernels --------------------------------------------------------------

def _yingshe_kernels(row):
    import yingshe as Y
    from yingshe.ops._registry import apply
    from yingshe.ops import conv3d as C3, nn as N
    x, w, g = (None if a is None else Y.from_numpy(a) for a in _arrays(row))
    nd, k = row["nd"], row["k"]
    F = Y.nn.functional
    if row["kind"] == "conv":
        conv, transpose, weight_grad, size = N._TRIO_2D if nd == 2 else C3._TRIO_3D
        attrs = dict(stride=(1,) * nd, padding=((k // 2, k // 2),) * nd, dilation=(1,) * nd,
                     groups=1)
        return {"forward": lambda: apply(conv, x, w, **attrs),
                "input_grad": lambda: apply(transpose, g, w, **attrs,
                                            **{size: (row["size"],) * nd}),
                "weight_grad": lambda: apply(weight_grad, x, g, weight_shape=tuple(w.shape),
                                             **attrs)}
    pool = getattr(F, f"{row['kind']}{nd}d")
    xg = Y.tensor(x.numpy(), requires_grad=True)
    out = pool(xg, k)
    gout = Y.from_numpy(np.ones(tuple(out.shape), np.float32))

    def backward():
        return Y.autograd.grad(out, (xg,), grad_outputs=gout, retain_graph=True)

    return {"forward": lambda: pool(x, k), "input_grad": backward}


def _torch_kernels(row):
    import torch
    x, w, g = (None if a is None else torch.from_numpy(a) for a in _arrays(row))
    nd, k = row["nd"], row["k"]
    if row["kind"] == "conv":
        conv = torch.ops.aten.convolution
        back = torch.ops.aten.convolution_backward
        s, p, d = [1] * nd, [k // 2] * nd, [1] * nd
        return {"forward": lambda: conv(x, w, None, s, p, d, False, [0] * nd, 1),
                "input_grad": lambda: back(g, x, w, None, s, p, d, False, [0] * nd, 1,
                                           [True, False, False]),
                "weight_grad": lambda: back(g, x, w, None, s, p, d, False, [0] * nd, 1,
                                            [False, True, False])}
    F = torch.nn.functional
    pool = getattr(F, f"{row['kind']}{nd}d")
    xg = x.clone().requires_grad_(True)
    out = pool(xg, k)
    gout = torch.ones_like(out)

    def backward():
        return torch.autograd.grad(out, (xg,), grad_outputs=gout, retain_graph=True)

    with torch.no_grad():
        return {"forward": lambda: pool(x, k), "input_grad": backward}


def child(lib: str, groups, min_time: float, name_filter: str | None, out: str,
          clock_name: str = "wall") -> None:
    """One library's timings of every row (run in a process of its own)."""
    clock = time.thread_time if clock_name == "cpu" else time.perf_counter
    threads = int(os.environ.get("YINGSHE_BENCH_THREADS", "1"))
    if lib == "torch":
        import torch
        torch.set_num_threads(threads)
        make = _torch_kernels
        no_grad = torch.no_grad
        version = torch.__version__
    else:
        import yingshe as Y
        make = _yingshe_kernels
        no_grad = Y.no_grad
        version = getattr(Y, "__version__", "?")
    results = []
    for row in rows(groups):
        if name_filter and name_filter not in row["name"]:
            continue
        kernels = make(row)
        rec = {"name": row["name"]}
        for direction, fn in kernels.items():
            if direction == "forward":
                with no_grad():
                    rec[direction] = _time(fn, min_time, clock)
            else:
                rec[direction] = _time(fn, min_time, clock)
        results.append(rec)
        print(f"  {lib:8s} {row['name']:32s} " + " ".join(
            f"{d} {rec[d] * 1e3:8.3f} ms" for d in DIRECTIONS if d in rec), flush=True)
    with open(out, "w") as fh:
        json.dump({"lib": lib, "version": version, "rows": results}, fh)


# ---- the parent: interleaved rounds, ratios --------------------------------------------------

def _env(threads: int) -> dict:
    import importlib.util
    env = dict(os.environ)
    # the children import the same yingshe as this process (not another checkout's)
    root = os.path.dirname(os.path.dirname(importlib.util.find_spec("yingshe").origin))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env["YINGSHE_BENCH_THREADS"] = str(threads)
    return env


def sweep(libs, rounds: int, threads: int, groups, min_time: float,
          name_filter: str | None, clock: str = "wall") -> dict:
    per_lib: dict[str, list[dict]] = {lib: [] for lib in libs}
    with tempfile.TemporaryDirectory(prefix="conv-sweep-") as tmp:
        for r in range(rounds):
            for lib in libs:
                out = os.path.join(tmp, f"{lib}-{r}.json")
                cmd = [sys.executable, os.path.abspath(__file__), "--child", lib,
                       "--min-time", str(min_time), "--out", out, "--clock", clock,
                       "--rows", *groups]
                if name_filter:
                    cmd += ["--filter", name_filter]
                print(f"round {r + 1}/{rounds}: {lib}", flush=True)
                subprocess.run(cmd, env=_env(threads), check=True)
                with open(out) as fh:
                    per_lib[lib].append(json.load(fh))
    table = []
    names = [rec["name"] for rec in per_lib[libs[0]][0]["rows"]]
    for i, name in enumerate(names):
        row = {"name": name}
        for lib in libs:
            recs = [run["rows"][i] for run in per_lib[lib]]
            for d in DIRECTIONS:
                if d in recs[0]:
                    row[f"{lib}_{d}_ms"] = min(rec[d] for rec in recs) * 1e3
                    row[f"{lib}_{d}_rounds_ms"] = [rec[d] * 1e3 for rec in recs]
        if len(libs) == 2:
            a, b = libs
            for d in DIRECTIONS:
                if f"{a}_{d}_ms" in row:
                    row[f"ratio_{d}"] = row[f"{a}_{d}_ms"] / row[f"{b}_{d}_ms"]
        table.append(row)
    return {"libs": list(libs), "versions": {lib: per_lib[lib][0]["version"] for lib in libs},
            "rows": table}


def format_table(result: dict) -> str:
    a, b = result["libs"]
    head = "| row | " + " | ".join(
        f"{d.replace('_', ' ')} {a} ms | {b} ms | ratio" for d in DIRECTIONS) + " |"
    lines = [head, "|---|" + "---:|---:|---:|" * len(DIRECTIONS)]
    for row in result["rows"]:
        cells = []
        for d in DIRECTIONS:
            if f"ratio_{d}" in row:
                cells.append(f"{row[f'{a}_{d}_ms']:.3f} | {row[f'{b}_{d}_ms']:.3f} | "
                             f"{row[f'ratio_{d}']:.2f}x")
            else:
                cells.append("— | — | —")
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rows", nargs="*", default=["2d", "3d", "pool"],
                   choices=["2d", "3d", "pool"])
    p.add_argument("--min-time", type=float, default=0.2,
                   help="seconds of repeated calls per kernel and round (at least 3 calls)")
    p.add_argument("--filter", default=None, help="only rows whose name contains this")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="wall clock, or the calling thread's CPU time (busy machines)")
    p.add_argument("--child", choices=["yingshe", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "results", "conv_sweep.json"))
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args.rows, args.min_time, args.filter, args.out, args.clock)
        return
    result = sweep(("yingshe", "torch"), args.rounds, args.threads, args.rows, args.min_time,
                   args.filter, args.clock)
    from yingshe.compare import machine_info
    result["machine"] = machine_info()
    result["threads"] = args.threads
    result["clock"] = args.clock
    result["load"] = os.getloadavg()
    print()
    print(f"machine: {result['machine'].get('cpu', '?')}, threads {args.threads}, "
          f"{args.clock} clock, load {result['load'][0]:.2f}")
    print(format_table(result))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
