"""Speed of one training step: yingshe eager vs PyTorch eager vs TensorFlow.

    .venv/bin/python benchmarks/speed.py [--steps 40] [--rounds 3] [--workloads mlp cnn]
                                         [--engines ...] [--threads 2]

The compiler's table (issue 19) is one command:

    .venv/bin/python benchmarks/speed.py --rounds 4 --threads 2 --engines compiler

``compiler`` stands for the engines of that comparison: yingshe compiled with each
backend (``yingshe-compiled``: NumPy; ``yingshe-compiled-numba``: fused kernels) and the
best of the peers a user would pick instead (``numpy-handwritten``, the frozen plain-NumPy
steps; ``jax-jit``; ``torch-eager``). It adds a table of each compiled engine's ratio to
the best peer and the first step's milliseconds (trace and compile included).

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
COMPILER_ENGINES = ["yingshe-compiled", "yingshe-compiled-numba", "numpy-handwritten",
                    "jax-jit", "torch-eager"]
PEERS = ("numpy-handwritten", "jax-jit", "torch-eager")


def compiler_table(results: list[dict]) -> str:
    """Per workload: the best peer, each compiled engine's median ms and its ratio to the
    best peer, and the first step's ms (where the compile happens)."""
    by = {(r["workload"], r["engine"]): r for r in results if r.get("status") == "ok"}
    workloads = list(dict.fromkeys(r["workload"] for r in results))
    lines = ["| workload | best peer (ms) | compiled NumPy (ms, ratio) | compiled numba "
             "(ms, ratio) | first step: NumPy / numba / peer (ms) |", "|---|---|---|---|---|"]
    for w in workloads:
        peers = [by[(w, e)] for e in PEERS if (w, e) in by]
        if not peers:
            continue
        best = min(peers, key=lambda r: r["median_ms"])
        cells = []
        for e in ("yingshe-compiled", "yingshe-compiled-numba"):
            r = by.get((w, e))
            cells.append("—" if r is None else
                         f"{r['median_ms']:.3f} ({r['median_ms'] / best['median_ms']:.2f}x)")
        firsts = " / ".join(f"{by[(w, e)]['first_ms']:.0f}" if (w, e) in by else "—"
                            for e in ("yingshe-compiled", "yingshe-compiled-numba",
                                      best["engine"]))
        lines.append(f"| {w} | {best['engine']} {best['median_ms']:.3f} | {cells[0]} | "
                     f"{cells[1]} | {firsts} |")
    return "\n".join(lines)


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
    compiler = args.engines == ["compiler"]
    if compiler:
        args.engines = COMPILER_ENGINES
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
    if compiler or "yingshe-compiled-numba" in args.engines:
        print(f"\nCompiled vs the best peer (threads: {args.threads or 1}; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}):\n")
        print(compiler_table(results))
    passes = format_pass_table(results)
    if passes:
        print("\nThe compiler's passes on each compiled training step:\n")
        print(passes)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"machine": info, "results": results}, fh, indent=1)


if __name__ == "__main__":
    main()
