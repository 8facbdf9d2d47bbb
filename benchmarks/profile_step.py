"""Time (and optionally profile) one engine's training step on one workload, in-process.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/profile_step.py lstm yingshe-compiled
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/profile_step.py cnn torch-eager
    .venv/bin/python benchmarks/profile_step.py cnn yingshe-eager --profile 25

The same model, data and step as ``benchmarks/speed.py`` (yingshe.compare's
PyTorch-style engine) without the subprocess harness, for quick before/after checks
and cProfile tables while working on a kernel. ``speed.py`` stays the measurement of
record: it runs each engine in its own process, single-threaded, side by side.
"""

import argparse
import cProfile
import pstats
import time

import numpy as np

from yingshe.compare.engines import pytorch_style as ps
from yingshe.compare.workloads import WORKLOADS, batches, build


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("workload", choices=sorted(WORKLOADS))
    p.add_argument("engine", nargs="?", default="yingshe-compiled", choices=ps.ENGINE_IDS)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--profile", type=int, default=0, metavar="ROWS",
                   help="print a cProfile table of this many rows (by own time)")
    args = p.parse_args()

    w = WORKLOADS[args.workload]
    arrays = build(args.workload)
    m, _ = ps._import(args.engine)
    _, step = ps.training_step(m, args.engine, w, arrays)
    x_all, y_all = arrays["x"], arrays["y"]

    def one(idx):
        return float(step(m.from_numpy(x_all[idx]), m.from_numpy(y_all[idx])).item())

    order = batches(w, args.warmup + args.steps)
    for idx in order[:args.warmup]:
        one(idx)
    times = []
    for idx in order[args.warmup:]:
        t0 = time.perf_counter()
        one(idx)
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1e3
    print(f"{args.workload} {args.engine}: median {np.median(ms):.3f} ms/step, "
          f"p10 {np.percentile(ms, 10):.3f}, p90 {np.percentile(ms, 90):.3f}")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for idx in order[args.warmup:]:
            one(idx)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
