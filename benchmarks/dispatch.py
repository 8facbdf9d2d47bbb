"""Eager dispatch cost: microseconds per op call on tiny tensors, yingshe vs PyTorch vs NumPy.

    .venv/bin/python benchmarks/dispatch.py [--rounds 4] [--number 2000]
                                            [--baseline /path/to/other/checkout]

On 4x4 float32 tensors the arithmetic is nothing, so the time is the framework's own
work per call: dispatch, type promotion, the tape node when gradients are recorded.
Each library runs in its own process (PyTorch single-threaded); the processes of one
round run one after another, rounds interleaved, and each case keeps its quietest round
(lowest time), so a neighbour's burst on a shared machine slows one measurement, not a
library. ``grad`` rows make the inputs require grad (a tape node per call); ``no grad``
rows use plain tensors. NumPy has no tape: its row is the floor of the arithmetic.

The last row is the backward of a 20-op chain (forward rebuilt, untimed, before each
backward; the median backward). ``--baseline`` adds another yingshe checkout (e.g. the main branch) as a
column, measured in the same interleaved rounds, to show a change's effect.
Prints a Markdown table and writes benchmarks/results/dispatch.json.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

OPS = ["add", "mul", "matmul", "relu", "sum", "mean", "exp", "sigmoid", "reshape", "index",
       "cat", "softmax", "linear", "mse_loss"]
HEADLINE = ["add", "mul", "matmul", "relu"]


def _cases(m, F, a, b, w, bias):
    """op name -> a zero-argument callable, the same expression for yingshe and torch."""
    return {
        "add": lambda: a + b,
        "mul": lambda: a * b,
        "matmul": lambda: a @ b,
        "relu": lambda: m.relu(a),
        "sum": lambda: a.sum(),
        "mean": lambda: a.mean(),
        "exp": lambda: a.exp(),
        "sigmoid": lambda: m.sigmoid(a),
        "reshape": lambda: a.reshape(16),
        "index": lambda: a[1:3],
        "cat": lambda: m.cat([a, b]),
        "softmax": lambda: F.softmax(a, dim=1),
        "linear": lambda: F.linear(a, w, bias),
        "mse_loss": lambda: F.mse_loss(a, b),
    }


def _numpy_cases(np, a, b, w, bias):
    def softmax():
        e = np.exp(a - a.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    return {
        "add": lambda: a + b,
        "mul": lambda: a * b,
        "matmul": lambda: a @ b,
        "relu": lambda: np.maximum(a, 0),
        "sum": lambda: a.sum(),
        "mean": lambda: a.mean(),
        "exp": lambda: np.exp(a),
        "sigmoid": lambda: 1 / (1 + np.exp(-a)),
        "reshape": lambda: a.reshape(16),
        "index": lambda: a[1:3],
        "cat": lambda: np.concatenate([a, b]),
        "softmax": softmax,
        "linear": lambda: a @ w.T + bias,
        "mse_loss": lambda: ((a - b) ** 2).mean(),
    }


def _time(fn, number: int, repeat: int = 5) -> float:
    """Microseconds per call: the best of ``repeat`` loops of ``number`` calls."""
    for _ in range(max(number // 10, 10)):
        fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best / number * 1e6


def _chain(x, w):
    """20 ops (then a sum) on tensors that require grad: the backward benchmark."""
    y = x
    for _ in range(4):
        y = ((y * w + 0.5).tanh() - y).sigmoid()
    return y.sum()


def worker(lib: str, path: str | None, ops: list, number: int) -> dict:
    import numpy as np
    rng = np.random.default_rng(0)
    arrs = [rng.standard_normal(s).astype(np.float32) for s in ((4, 4), (4, 4), (4, 4), (4,))]
    out: dict = {}
    if lib == "numpy":
        cases = _numpy_cases(np, *arrs)
        for op in ops:
            out[f"{op}|no grad"] = _time(cases[op], number)
        return out
    if lib == "torch":
        import torch as m
        m.set_num_threads(1)
        from torch.nn import functional as F
    else:
        if path:
            sys.path.insert(0, path)
        import yingshe as m
        from yingshe.nn import functional as F
        if path:
            assert os.path.abspath(m.__file__).startswith(os.path.abspath(path)), m.__file__
    for grad in (False, True):
        ts = [m.tensor(x, requires_grad=grad) for x in arrs]
        cases = _cases(m, F, *ts)
        for op in ops:
            out[f"{op}|{'grad' if grad else 'no grad'}"] = _time(cases[op], number)
    x = m.tensor(arrs[0], requires_grad=True)
    w = m.tensor(arrs[1], requires_grad=True)
    times = []
    for _ in range(max(number // 4, 50)):
        loss = _chain(x, w)
        t0 = time.perf_counter()
        loss.backward()
        times.append(time.perf_counter() - t0)
    times.sort()
    out["backward of a 20-op chain|grad"] = times[len(times) // 2] * 1e6  # the median
    return out


def _engines(baseline: str | None) -> list:
    engines = [("yingshe", ROOT)]
    if baseline:
        engines.append(("yingshe-baseline", baseline))
    return engines + [("torch", None), ("numpy", None)]


def _run_worker(name: str, path, ops, number) -> dict:
    lib = name if name in ("torch", "numpy") else "yingshe"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if path:
        env["PYTHONPATH"] = path
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib, "--number", str(number),
           "--ops", *ops] + (["--path", path] if path else [])
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{name} worker failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _load() -> str:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "?"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--number", type=int, default=2000, help="calls per timing loop")
    p.add_argument("--ops", nargs="*", default=OPS)
    p.add_argument("--baseline", default=None,
                   help="another yingshe checkout to measure beside this one")
    p.add_argument("--out", default=os.path.join(HERE, "results", "dispatch.json"))
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--path", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.path, args.ops, args.number)))
        return

    engines = _engines(args.baseline)
    best: dict = {}
    loads = [_load()]
    for r in range(args.rounds):
        for name, path in engines:
            got = _run_worker(name, path, args.ops, args.number)
            for key, us in got.items():
                best.setdefault(name, {})
                best[name][key] = min(us, best[name].get(key, float("inf")))
            print(f"  round {r + 1}/{args.rounds} {name} done", file=sys.stderr, flush=True)
        loads.append(_load())

    keys = [f"{op}|{g}" for g in ("grad", "no grad") for op in args.ops]
    keys.append("backward of a 20-op chain|grad")
    names = [n for n, _ in engines]
    head = ["op", "mode"] + [f"{n} µs" for n in names] + ["yingshe / torch"]
    if args.baseline:
        head.append("yingshe / baseline")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in keys:
        op, mode = key.split("|")
        vals = [best[n].get(key) for n in names]
        cells = [op, mode] + [f"{v:.2f}" if v is not None else "—" for v in vals]
        ys, th = best["yingshe"].get(key), best["torch"].get(key)
        cells.append(f"{ys / th:.2f}x" if ys and th else "—")
        if args.baseline:
            base = best["yingshe-baseline"].get(key)
            cells.append(f"{ys / base:.2f}x" if ys and base else "—")
        lines.append("| " + " | ".join(cells) + " |")
    print(f"\n{args.rounds} interleaved rounds of {args.number} calls per loop; "
          f"load average before and after each round: {', '.join(loads)}\n")
    print("\n".join(lines))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"rounds": args.rounds, "number": args.number, "load": loads,
                   "baseline": args.baseline, "us": best}, fh, indent=1)


if __name__ == "__main__":
    main()
