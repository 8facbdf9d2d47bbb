"""Speed of one training step: yingshe eager vs PyTorch eager vs TensorFlow.

    .venv/bin/python benchmarks/speed.py [--steps 40] [--workloads mlp cnn] [--engines ...]

Each engine runs in its own process (see yingshe/compare). Prints a Markdown table
and writes results to benchmarks/results/speed.json.
"""

import argparse
import json
import os

from yingshe.compare import SPEED, format_table, machine_info, run, summarize
from yingshe.compare.harness import format_pass_table

DEFAULT_ENGINES = ["yingshe-eager", "yingshe-compiled", "torch-eager", "tensorflow-function"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workloads", nargs="*", default=list(SPEED))
    p.add_argument("--engines", nargs="*", default=DEFAULT_ENGINES)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                 "speed.json"))
    args = p.parse_args()
    results = summarize(run(args.workloads, args.engines, steps=args.steps, warmup=args.warmup,
                            threads=args.threads,
                            on_result=lambda r: print(f"  {r['workload']:8s} {r['engine']:20s} "
                                                      f"{r.get('status')}", flush=True)))
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
