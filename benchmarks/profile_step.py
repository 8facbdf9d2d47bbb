"""Time (and optionally profile) training steps of one workload, in-process.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/profile_step.py lstm yingshe-compiled
    .venv/bin/python benchmarks/profile_step.py cnn yingshe-eager --profile 25
    .venv/bin/python benchmarks/profile_step.py linreg yingshe-compiled-numba \\
        yingshe-compiled numpy-handwritten --rounds 7 --clock cpu
    .venv/bin/python benchmarks/profile_step.py mlp yingshe-compiled-numba --lines

The same model, data and step as ``benchmarks/speed.py`` (yingshe.compare's
PyTorch-style engine, and the frozen ``numpy-handwritten`` steps) without the subprocess
harness, for quick before/after checks while working on the compiler or a kernel:

* several engines are timed in interleaved rounds (every engine once per round) and
  the table gives each one's median over rounds of per-round medians and its ratio to
  the last engine named (put the baseline last); ``--clock cpu`` times the calling
  thread's CPU time (``time.thread_time``), which on a busy machine leaves out the wait
  for a core (a one-thread step only: it misses work done on other threads);
* ``--profile ROWS`` prints a cProfile table of the first engine;
* ``--lines`` times every line of the first (compiled) engine's generated program and
  prints them with their share, then what the call costs outside the program (the
  call path, ``from_numpy`` and ``.item()``): the profile of what remains.

``speed.py`` stays the measurement of record: it runs each engine in its own process,
side by side. torch and yingshe may share this process; TensorFlow and JAX engines are
not offered here.
"""

import argparse
import ast
import cProfile
import os
import pstats
import statistics
import time

import numpy as np

from yingshe.compare.engines import numpy_handwritten as nh
from yingshe.compare.engines import pytorch_style as ps
from yingshe.compare.workloads import WORKLOADS, batches, build

ENGINES = ps.ENGINE_IDS + nh.ENGINE_IDS


def make_step(engine: str, workload: str):
    """``one(idx) -> float``: one training step on batch ``idx`` as the harness times it
    (batch copy, ``from_numpy``, the step, ``.item()``), and the step object."""
    w = WORKLOADS[workload]
    arrays = build(workload)
    x_all, y_all = arrays["x"], arrays["y"]
    if engine in nh.ENGINE_IDS:
        params = {k[len("param."):]: np.array(v, np.float32)
                  for k, v in arrays.items() if k.startswith("param.")}
        step = nh.make_step(w, params)
        if step is None:
            raise SystemExit(f"numpy-handwritten has no step for {workload}")
        return (lambda idx: float(step(x_all[idx], y_all[idx]))), step
    m, _ = ps._import(engine)
    _, step = ps.training_step(m, engine, w, arrays)
    return (lambda idx: float(step(m.from_numpy(x_all[idx]),
                                   m.from_numpy(y_all[idx])).item())), step


def timed(one, order, clock) -> list:
    times = []
    for idx in order:
        t0 = clock()
        one(idx)
        times.append(clock() - t0)
    return times


def line_profile(step, one, order, clock) -> None:
    """Time each line of ``step``'s generated program over ``order`` (its generated call
    path calls the instrumented copy), and what the call costs around it."""
    entry = step._last
    fn = entry.fn
    tree = ast.parse(fn.source)
    body_fn = next(f for f in tree.body if isinstance(f, ast.FunctionDef)
                   and f.name.endswith("_body"))
    lines = fn.source.splitlines()
    stmts = body_fn.body[:-1]          # every statement but the return
    labels = [lines[s.lineno - 1].strip()[:110] for s in stmts]
    new_body = []
    for i, s in enumerate(stmts):
        new_body += ast.parse(f"_t = _pc()").body + [s] + \
            ast.parse(f"_acc[{i}] += _pc() - _t").body
    body_fn.body = new_body + [body_fn.body[-1]]
    ast.fix_missing_locations(tree)
    g = dict(fn.globals)
    acc = [0.0] * len(stmts)
    g["_pc"], g["_acc"] = clock, acc
    exec(compile(tree, "<profiled program>", "exec"), g)  # noqa: S102
    call_globals = step._fast.__globals__
    saved = call_globals["BODY"]
    call_globals["BODY"] = g[body_fn.name]
    try:
        total = sum(timed(one, order, clock))
    finally:
        call_globals["BODY"] = saved
    n = len(order)
    inside = sum(acc)
    rows = sorted(range(len(stmts)), key=lambda i: -acc[i])
    print(f"per step: {total / n * 1e6:.1f} us timed, of which {inside / n * 1e6:.1f} us "
          f"in the program's lines; outside (call path, from_numpy, .item(), timers): "
          f"{(total - inside) / n * 1e6:.1f} us")
    print("|   us | share | line |")
    print("|---:|---:|---|")
    for i in rows:
        if acc[i] / n * 1e6 < 0.05:
            continue
        print(f"| {acc[i] / n * 1e6:6.2f} | {acc[i] / total:5.1%} | `{labels[i]}` |")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("workload", choices=sorted(WORKLOADS))
    p.add_argument("engines", nargs="*", default=["yingshe-compiled"], choices=ENGINES,
                   metavar="engine")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    p.add_argument("--profile", type=int, default=0, metavar="ROWS",
                   help="print a cProfile table of this many rows (by own time)")
    p.add_argument("--lines", action="store_true",
                   help="time each line of the first engine's generated program")
    args = p.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.thread_time

    w = WORKLOADS[args.workload]
    steps = {e: make_step(e, args.workload) for e in args.engines}
    order = batches(w, args.warmup + args.steps)
    for one, _ in steps.values():
        for idx in order[:args.warmup]:
            one(idx)
    medians: dict = {e: [] for e in args.engines}
    for _ in range(args.rounds):
        for e, (one, _) in steps.items():
            medians[e].append(statistics.median(timed(one, order[args.warmup:], clock)))
    base = statistics.median(medians[args.engines[-1]])
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{args.workload}: {args.rounds} interleaved round(s) of {args.steps} steps, "
          f"{args.clock} clock, load average {load}")
    for e in args.engines:
        ms = statistics.median(medians[e]) * 1e3
        rounds = " ".join(f"{x * 1e3:.3f}" for x in medians[e])
        print(f"  {e:24s} {ms:9.3f} ms/step  ratio {ms / base / 1e3:5.2f}  (rounds: {rounds})")
    first = args.engines[0]
    one, step = steps[first]
    if args.lines:
        if not hasattr(step, "_last"):
            raise SystemExit("--lines needs a compiled engine first")
        line_profile(step, one, order[args.warmup:], clock)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for idx in order[args.warmup:]:
            one(idx)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
