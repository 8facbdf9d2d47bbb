"""The side-by-side harness: run engines on workloads, each in its own process.

``run(workloads, engines, steps)`` returns one record per (workload, engine) with
the loss at every step, milliseconds per step (first step separately; median,
min and max after warm-up), peak memory, import time, and the final metric;
``summarize`` adds the ratio to PyTorch and the step-0 loss agreement.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
from statistics import median
from typing import Callable, Iterable

from yingshe.compare.engines import ENGINES, REQUIRES
from yingshe.testing.hang import hang_guard_message

__all__ = ["run", "summarize", "machine_info", "available", "supported", "format_table",
           "format_pass_table",
           "run_child"]


def supported(engine: str, workload: str) -> bool:
    """Whether the engine runs this workload (an engine module may define
    ``supports(workload)``; engine modules import their framework only inside ``run``)."""
    import importlib
    from yingshe.compare.workloads import WORKLOADS
    supports = getattr(importlib.import_module(ENGINES[engine][0]), "supports", None)
    return supports is None or bool(supports(WORKLOADS[workload]))


def available(engine: str) -> tuple[bool, str | None]:
    """Whether an engine can run here, and the command that installs it if not."""
    mod = REQUIRES.get(engine)
    if mod is None or importlib.util.find_spec(mod) is not None:
        return True, None
    return False, f"pip install {ENGINES[engine][1]}"


def _child_env(threads: int, keep_openblas_env: bool) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env["YINGSHE_BENCH_THREADS"] = str(threads)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if not keep_openblas_env:
        # Set on some machines to work around old OpenBLAS bugs; they slow a current
        # NumPy down. Unset for the benchmark processes only (never in tests or CI).
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    return env


def run(workloads: Iterable[str], engines: Iterable[str], steps: int = 30, warmup: int = 5,
        threads: int | None = None, keep_openblas_env: bool = False,
        on_result: Callable[[dict], None] | None = None, timeout: float = 900,
        on_start: Callable[[str, str], None] | None = None) -> list[dict]:
    # one thread per engine by default: equal footing, and no OpenMP spin-waiting when
    # the machine is shared (torch with 2 threads on a busy 2-core box ran 50x slower)
    threads = threads or 1
    env = _child_env(threads, keep_openblas_env)
    results = []
    yingshe_import = None
    with tempfile.TemporaryDirectory(prefix="yingshe-compare-") as tmp:
        for wname in workloads:
            for engine in engines:
                ok, install = available(engine)
                if on_start is not None:
                    on_start(wname, engine)
                if not ok:
                    rec = {"engine": engine, "workload": wname, "status": "skipped",
                           "reason": f"not installed ({install})"}
                elif not supported(engine, wname):
                    rec = {"engine": engine, "workload": wname, "status": "unsupported",
                           "reason": "not supported by this engine"}
                else:
                    out = os.path.join(tmp, f"{wname}-{engine}.json")
                    cmd = [sys.executable, "-m", "yingshe.compare.runner", engine, wname,
                           str(steps), out, "--warmup", str(warmup)]
                    rec = run_child(cmd, env, out, timeout,
                                    {"engine": engine, "workload": wname})
                if engine.startswith("yingshe") and rec.get("status") == "ok":
                    if yingshe_import is None:
                        yingshe_import = import_seconds("yingshe", env)
                    rec["import_s"] = yingshe_import
                rec["warmup"] = warmup
                rec["threads"] = threads
                _add_timing(rec, warmup)
                results.append(rec)
                if on_result is not None:
                    on_result(rec)
    return results


def import_seconds(module: str, env: dict | None = None) -> float | None:
    """Seconds ``import module`` takes in a fresh process (the engines' own processes
    import yingshe before they can time it, since the runner lives in the package)."""
    code = ("import time; t = time.perf_counter(); import " + module +
            "; print(time.perf_counter() - t)")
    try:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=120)
        return float(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None


def run_child(cmd: list[str], env: dict, out: str, timeout: float, record: dict) -> dict:
    """Run one engine process; its JSON result, or ``record`` marked failed with the
    process's last output (an engine that fails is reported, the others still run)."""
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        what = f"the {record.get('engine')} process on {record.get('workload')}"
        return {**record, "status": "failed", "error": hang_guard_message(what, timeout)}
    if os.path.exists(out):
        with open(out) as fh:
            return json.load(fh)
    return {**record, "status": "failed", "error": (proc.stderr or proc.stdout)[-2000:]}


def _add_timing(rec: dict, warmup: int) -> None:
    times = rec.get("times")
    if not times:
        return
    steady = times[warmup:] or times[1:] or times
    rec["first_ms"] = times[0] * 1e3
    rec["median_ms"] = median(steady) * 1e3
    rec["min_ms"] = min(steady) * 1e3
    rec["max_ms"] = max(steady) * 1e3
    # the spread a reader should see (one garbage collection or a neighbour's burst
    # makes the max): the 10th and 90th percentiles
    import numpy as np
    rec["p10_ms"], rec["p90_ms"] = (float(v) * 1e3 for v in np.percentile(steady, [10, 90]))


def summarize(results: list[dict], reference: str = "torch-eager") -> list[dict]:
    """Add ``ratio`` (median ms / reference's) and ``step0_rel`` (step-0 loss vs the
    reference, or yingshe-eager when the reference did not run)."""
    by_w: dict[str, dict[str, dict]] = {}
    for r in results:
        by_w.setdefault(r["workload"], {})[r["engine"]] = r
    for engines in by_w.values():
        ref = engines.get(reference)
        if ref is None or ref.get("status") != "ok":
            ref = engines.get("yingshe-eager")
        for r in engines.values():
            if r.get("status") != "ok" or ref is None or ref.get("status") != "ok":
                continue
            if "median_ms" in ref and ref["median_ms"] > 0 and "median_ms" in r:
                r["ratio"] = r["median_ms"] / ref["median_ms"]
            a, b = r["losses"][0], ref["losses"][0]
            r["step0_rel"] = abs(a - b) / max(abs(b), 1e-12)
            r["reference"] = ref["engine"]
    return results


def machine_info() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numpy as np
    info["numpy"] = np.__version__
    try:
        from threadpoolctl import threadpool_info
        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if blas:
            info["blas"] = f"{blas[0].get('internal_api')} {blas[0].get('version')} " \
                           f"({blas[0].get('architecture')})"
    except ImportError:
        pass
    return info


def format_pass_table(results: list[dict]) -> str:
    """What the compiler's passes did to each workload's compiled training step: nodes
    traced, removed per pass (fold: ops computed at compile time), nodes left. Empty when
    no ``yingshe-compiled`` result carries pass statistics."""
    rows = [r for r in results if r.get("status") == "ok" and r.get("passes")]
    if not rows:
        return ""
    names = [k for k in rows[0]["passes"] if k not in ("before", "after")]
    lines = ["| workload | nodes traced | " + " | ".join(names) + " | nodes compiled |",
             "|---|---:|" + "---:|" * len(names) + "---:|"]
    for r in rows:
        ps = r["passes"]
        lines.append(f"| {r['workload']} | {ps['before']} | "
                     + " | ".join(str(ps.get(k, 0)) for k in names) + f" | {ps['after']} |")
    return "\n".join(lines)


def format_table(results: list[dict]) -> str:
    """A Markdown table: one row per workload, one column group per engine."""
    lines = ["| workload | engine | median ms/step (min–max) | vs torch | first step ms | "
             "peak RSS MB | step-0 loss |", "|---|---|---|---|---|---|---|"]
    for r in results:
        if r.get("status") != "ok":
            why = r.get("reason") or r.get("error", "").splitlines()[0][:60]
            lines.append(f"| {r['workload']} | {r['engine']} | {r['status']}: {why} |"
                         " | | | |")
            continue
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else "—"
        lines.append(
            f"| {r['workload']} | {r['engine']} | {r['median_ms']:.3f} "
            f"({r['min_ms']:.3f}–{r['max_ms']:.3f}) | {ratio} | {r['first_ms']:.1f} | "
            f"{r['peak_rss_mb']:.0f} | {r['losses'][0]:.6f} |")
    return "\n".join(lines)
