"""Speed of one training step: yingshe eager vs PyTorch eager vs TensorFlow.

    .venv/bin/python benchmarks/speed.py [--steps 40] [--rounds 3] [--workloads mlp cnn]
                                         [--engines ...]

Each engine runs in its own process (see yingshe/compare). With ``--rounds N`` every
(workload, engine) runs N times, the rounds interleaved (all engines of a round before
the next round), and the table keeps each one's quietest round (lowest median): on a
shared machine a neighbour's burst slows one process, not the engine. Every round's
median is kept in the JSON (``round_medians_ms``). Prints a Markdown table and writes
results to benchmarks/results/speed.json.
"""

import argparse
import json
import os

from yingshe.compare import SPEED, format_table, machine_info, run, summarize
from yingshe.compare.harness import format_pass_table

DEFAULT_ENGINES = ["yingshe-eager", "yingshe-compiled", "torch-eager", "tensorflow-function"]


def quietest(rounds: list[list[dict]]) -> list[dict]:
    """Per (workload, engine), the record of the round with the lowest median step time
    (or the first round's record when none ran), with every round's median attached."""
    out = []
    for records in zip(*rounds):
        ok = [r for r in records if r.get("median_ms") is not None]
        best = dict(min(ok, key=lambda r: r["median_ms"]) if ok else records[0])
        best["round_medians_ms"] = [r.get("median_ms") for r in records]
        out.append(best)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workloads", nargs="*", default=list(SPEED))
    p.add_argument("--engines", nargs="*", default=DEFAULT_ENGINES)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                 "speed.json"))
    args = p.parse_args()
    rounds = []
    for k in range(args.rounds):
        rounds.append(run(args.workloads, args.engines, steps=args.steps, warmup=args.warmup,
                          threads=args.threads,
                          on_result=lambda r: print(
                              f"  round {k + 1}/{args.rounds} {r['workload']:8s} "
                              f"{r['engine']:20s} {r.get('status')} "
                              f"{r.get('median_ms', float('nan')):.3f} ms", flush=True)))
    results = summarize(quietest(rounds))
    info = machine_info()
    print()
    print(f"machine: {info.get('cpu', '?')}, {info['cpus']} cpus, numpy {info['numpy']}, "
          f"{info.get('blas', '')}")
    print(format_table(results))
    passes = format_pass_table(results)
    if passes:
        print("\nThe compiler's passes on each compiled training step:\n")
        print(passes)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"machine": info, "results": results}, fh, indent=1)


if __name__ == "__main__":
    main()
