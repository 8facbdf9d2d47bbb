"""Run one engine on one workload (or on several in turn) in this process; write JSON.

    python -m yingshe.compare.runner ENGINE WORKLOAD STEPS OUT.json [--seed S] [--warmup W]
    python -m yingshe.compare.runner ENGINE --plan PLAN.json

The parent (``yingshe.compare.harness``) starts one such process per engine (``run``:
per engine and workload; ``run_by_engine``: one process per engine for every workload,
so a framework is imported once), so frameworks never share a process. A plan is
``{"seed": S, "jobs": [{"workload", "steps", "warmup", "out"}, ...]}``: the jobs run in
order, each result is written to its ``out`` as soon as it is done and announced on
stdout (``done OUT``), so the parent shows progress and keeps what finished if a later
job crashes. Peak memory is measured per job: the kernel's high-water mark is reset
before each (Linux; elsewhere it is the process's peak so far, and the record says so).
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


def _reset_peak_rss() -> bool:
    """Reset the process's resident-set high-water mark (Linux: ``clear_refs`` 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_job(engine: str, workload: str, steps: int, warmup: int, seed: int) -> dict:
    """One engine on one workload in this process: the result record (status ok or
    failed, never an exception)."""
    t_start = time.perf_counter()
    from yingshe.compare import workloads
    from yingshe.compare.engines import ENGINES
    result = {"engine": engine, "workload": workload, "steps": steps}
    try:
        w = workloads.WORKLOADS[workload]
        arrays = workloads.build(workload, seed)
        batches = workloads.batches(w, steps, seed)
        module = importlib.import_module(ENGINES[engine][0])
        result.update(module.run(engine, w, arrays, batches, warmup))
        result["status"] = "ok"
    except Exception as err:  # noqa: BLE001 - reported in results.json; other engines go on
        result["status"] = "failed"
        result["error"] = f"{type(err).__name__}: {err}"
        result["traceback"] = traceback.format_exc()
    result["wall_s"] = time.perf_counter() - t_start
    result["pid"] = os.getpid()
    return result


def _write(path: str, result: dict) -> None:
    tmp = path + ".part"
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, path)   # the parent never reads a half-written record


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m yingshe.compare.runner")
    p.add_argument("engine")
    p.add_argument("workload", nargs="?")
    p.add_argument("steps", type=int, nargs="?")
    p.add_argument("out", nargs="?")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--plan", help="a JSON plan of several workloads to run in turn")
    args = p.parse_args(argv)
    if args.plan:
        with open(args.plan) as fh:
            plan = json.load(fh)
        seed, jobs = plan.get("seed", args.seed), plan["jobs"]
    elif args.out is None:
        p.error("give WORKLOAD STEPS OUT, or --plan PLAN.json")
    else:
        seed = args.seed
        jobs = [{"workload": args.workload, "steps": args.steps, "warmup": args.warmup,
                 "out": args.out}]
    ok = True
    import_s = None
    for i, job in enumerate(jobs):
        # the first job's peak includes the interpreter and the framework's import, as
        # a process per workload would; later jobs start from the resident set left
        scoped = _reset_peak_rss() if i else True
        result = run_job(args.engine, job["workload"], job["steps"], job["warmup"], seed)
        result["peak_rss_mb"] = _peak_rss_mb()
        if not scoped:
            result["peak_rss_scope"] = "process"
        # the framework is imported by the first job only: its import time is the
        # process's, and every job of the process reports it
        if import_s is None:
            import_s = result.get("import_s")
        elif "import_s" in result:
            result["import_s"] = import_s
        _write(job["out"], result)
        print("done", job["out"], flush=True)
        ok = ok and result["status"] == "ok"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
