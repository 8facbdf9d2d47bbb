"""What writing optimizer updates straight into their Variables saves (``schedule.INPLACE``).

    PYTHONPATH=. .venv/bin/python benchmarks/inplace_updates.py [workload ...] \\
        [--engine yingshe-compiled-numba] [--rounds 7]

For each workload, the compiled training step is generated twice in one process: with
the in-place form (each fused update computes the parameter and its states into the
Variables' own buffers), and with ``schedule.INPLACE`` emptied (the update writes fresh
arrays that ``assign_var`` then copies). The two are timed in interleaved rounds on the
thread's CPU clock, so the ratio holds on a busy machine; the generated programs' counts
of in-place updates and ``assign_var`` copies are printed to show what differs.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import profile_step  # noqa: E402

from yingshe.compare.workloads import WORKLOADS, batches  # noqa: E402
from yingshe.graph import schedule  # noqa: E402


def compare(workload: str, engine: str, rounds: int, steps: int = 60, warmup: int = 5):
    """{"inplace"|"copy": per-round median seconds per step}, and the source counts."""
    order = batches(WORKLOADS[workload], warmup + steps)
    saved = dict(schedule.INPLACE)
    runs, counts = {}, {}
    try:
        for label in ("inplace", "copy"):
            if label == "copy":
                schedule.INPLACE.clear()
            one, step = profile_step.make_step(engine, workload)
            for idx in order[:warmup]:
                one(idx)           # the first call generates the program
            src = step._last.fn.source
            counts[label] = (src.count("= inplace_"), src.count("assign_var("))
            runs[label] = one
    finally:
        schedule.INPLACE.update(saved)
    med = {k: [] for k in runs}
    for _ in range(rounds):
        for k, one in runs.items():
            med[k].append(statistics.median(profile_step.timed(one, order[warmup:],
                                                               time.thread_time)))
    return med, counts


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("workloads", nargs="*", default=["linreg", "logreg", "softmax", "mlp"])
    p.add_argument("--engine", default="yingshe-compiled-numba",
                   choices=["yingshe-compiled", "yingshe-compiled-numba"])
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.engine}; "
          f"{args.rounds} interleaved rounds, medians, thread CPU clock")
    print("| workload | in place (ms) | fresh + copy (ms) | ratio | "
          "in-place updates / assign_var copies |")
    print("|---|---:|---:|---:|---|")
    for w in args.workloads:
        med, counts = compare(w, args.engine, args.rounds)
        a, b = statistics.median(med["inplace"]), statistics.median(med["copy"])
        print(f"| {w} | {a * 1e3:.4f} | {b * 1e3:.4f} | {a / b:.2f} | "
              f"{counts['inplace'][0]}/{counts['inplace'][1]} vs "
              f"{counts['copy'][0]}/{counts['copy'][1]} |")


if __name__ == "__main__":
    main()
