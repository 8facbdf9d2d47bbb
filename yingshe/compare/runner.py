"""Run one engine on one workload in this process and write the result as JSON.

    python -m yingshe.compare.runner ENGINE WORKLOAD STEPS OUT.json [--seed S]

The parent (``yingshe.compare.harness``) starts one such process per engine, so
frameworks never share a process and memory figures are the engine's own.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import sys
import time
import traceback


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m yingshe.compare.runner")
    p.add_argument("engine")
    p.add_argument("workload")
    p.add_argument("steps", type=int)
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    from yingshe.compare import workloads
    from yingshe.compare.engines import ENGINES
    w = workloads.WORKLOADS[args.workload]
    arrays = workloads.build(args.workload, args.seed)
    batches = workloads.batches(w, args.steps, args.seed)
    result = {"engine": args.engine, "workload": args.workload, "steps": args.steps}
    try:
        module = importlib.import_module(ENGINES[args.engine][0])
        result.update(module.run(args.engine, w, arrays, batches, args.warmup))
        result["status"] = "ok"
    except Exception as err:  # noqa: BLE001 - reported in results.json; other engines go on
        result["status"] = "failed"
        result["error"] = f"{type(err).__name__}: {err}"
        result["traceback"] = traceback.format_exc()
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    result["wall_s"] = time.perf_counter() - t_start
    result["pid"] = os.getpid()
    with open(args.out, "w") as fh:
        json.dump(result, fh)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
