"""The fixed cost of calling a compiled function: everything outside its generated program.

    .venv/bin/python benchmarks/call_overhead.py [--rounds 7] [--calls 20000] [--clock cpu]

Two cases: a compiled ``x * 2`` on a 4x4 tensor, and the mlp training step of
``benchmarks/speed.py`` (784-512-512-10, Adam). For each, the full call
(``f(x)``: argument checks, guards, hyper-parameter reads, the program, output and
``.grad`` binding) and the generated program alone (``fn.body(*feeds)`` with the same
feeds) are timed in interleaved rounds on one thread.

The fixed cost is the full call with the program replaced by a stub that returns the
program's outputs of one real run, minus the stub alone: a step's milliseconds of
maths (and their noise on a shared machine) would bury microseconds of call path in
a plain difference. NumPy's own ``x * 2`` is printed beside the first case for scale.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import yingshe  # noqa: E402
from yingshe.backend import jit  # noqa: E402


CLOCK = [time.perf_counter]   # --clock cpu: time.thread_time


def per_call(fn, n: int) -> float:
    clock = CLOCK[0]
    t0 = clock()
    for _ in range(n):
        fn()
    return (clock() - t0) / n * 1e6


def measure(cases: dict, rounds: int, calls: dict) -> dict:
    """Median microseconds per call of each case, rounds interleaved."""
    times: dict = {k: [] for k in cases}
    for _ in range(rounds):
        for k, fn in cases.items():
            times[k].append(per_call(fn, calls[k]))
    return {k: statistics.median(v) for k, v in times.items()}


def body_call(compiled, args):
    """The generated program of ``compiled``'s last entry, with this call's feeds."""
    entry = compiled._last
    _, values = compiled.feed_values(entry, args, {})
    body = entry.fn.body
    return lambda: body(*values)


class Stubbed:
    """``compiled(*args)`` with its generated program replaced by a stub returning the
    outputs of one real run (``with Stubbed(...)``), and the stub alone."""

    def __init__(self, compiled, args) -> None:
        self.globals = compiled._fast.__globals__
        entry = compiled._last
        outs = entry.fn.body(*compiled.feed_values(entry, args, {})[1])
        self.stub = lambda *feeds: outs
        self.saved = None

    def __enter__(self):
        self.saved = self.globals["BODY"]
        self.globals["BODY"] = self.stub

    def __exit__(self, *exc):
        self.globals["BODY"] = self.saved


def fixed_cost(compiled, args, rounds: int, calls: int) -> float:
    """Median over interleaved rounds of (stubbed full call - stub alone), microseconds."""
    st = Stubbed(compiled, args)
    diffs = []
    for _ in range(rounds):
        with st:
            full = per_call(lambda: compiled(*args), calls)
        diffs.append(full - per_call(lambda: st.stub(*args), calls))
    return statistics.median(diffs)


def mlp_step():
    from yingshe.compare.engines import pytorch_style as ps
    from yingshe.compare.workloads import WORKLOADS, batches, build
    w = WORKLOADS["mlp"]
    arrays = build("mlp")
    engine = "yingshe-compiled-numba" if jit.get_default_backend() == "numba" \
        else "yingshe-compiled"
    _, step = ps.training_step(yingshe, engine, w, arrays)
    idx = batches(w, 1)[0]
    args = (yingshe.from_numpy(arrays["x"][idx]), yingshe.from_numpy(arrays["y"][idx]))
    return step, args


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--calls", type=int, default=20000)
    p.add_argument("--backend", default=None, help="numpy or numba (default: the process's)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="cpu: the calling thread's CPU time (time.thread_time), which on a "
                        "busy machine leaves out the wait for a core")
    args = p.parse_args()
    if args.clock == "cpu":
        CLOCK[0] = time.thread_time
    if args.backend:
        jit.set_default_backend(args.backend)

    x = yingshe.ones(4, 4)
    f = yingshe.compile(lambda t: t * 2)
    for _ in range(3):
        f(x)
    xa = x.numpy()
    step, sargs = mlp_step()
    for _ in range(5):   # optimizer state, then the trace
        step(*sargs)
    n_mlp = max(args.calls // 500, 20)
    res = measure({"x2": lambda: f(x), "x2_body": body_call(f, (x,)),
                   "x2_numpy": lambda: xa * 2,
                   "mlp": lambda: step(*sargs), "mlp_body": body_call(step, sargs)},
                  args.rounds, {"x2": args.calls, "x2_body": args.calls,
                                "x2_numpy": args.calls, "mlp": n_mlp, "mlp_body": n_mlp})
    fixed = {"x2": fixed_cost(f, (x,), args.rounds, args.calls),
             "mlp": fixed_cost(step, sargs, args.rounds, args.calls)}
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; backend "
          f"{jit.get_default_backend()}; {args.rounds} interleaved rounds, "
          f"medians, one BLAS thread, {args.clock} clock")
    print("| case | full call (us) | program alone (us) | fixed cost (us) |")
    print("|---|---|---|---|")
    for name, key in (("compiled x * 2, 4x4", "x2"), ("mlp training step", "mlp")):
        print(f"| {name} | {res[key]:.2f} | {res[key + '_body']:.2f} | {fixed[key]:.2f} |")
    print(f"NumPy's own x * 2 on 4x4: {res['x2_numpy']:.2f} us")


if __name__ == "__main__":
    main()
