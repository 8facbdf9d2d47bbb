"""The side-by-side harness: run engines on workloads, each in its own process.

``run(workloads, engines, steps)`` (a process per pair: ``yingshe bench``) and
``run_by_engine`` (a process per engine for all its workloads: ``yingshe compare``)
return one record per (workload, engine) with the loss at every step, milliseconds per
step (first step separately; median, min and max after warm-up), peak memory, import
time, and the final metric; a pair that cannot run here is a record too (skipped, with
the command that installs what it needs, or unsupported). ``summarize`` adds the ratio
to PyTorch and the step-0 loss agreement.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import queue
import subprocess
import sys
import tempfile
import threading
import time
from statistics import median
from typing import Callable, Iterable

from yingshe.compare.engines import ENGINES, REQUIRES
from yingshe.testing.hang import HANG_GUARD_S, hang_guard_message

__all__ = ["run", "run_by_engine", "summarize", "machine_info", "available",
           "workload_available", "not_run", "supported", "format_table", "format_pass_table",
           "run_child"]


def supported(engine: str, workload: str) -> bool:
    """Whether the engine runs this workload (an engine module may define
    ``supports(workload)``; engine modules import their framework only inside ``run``)."""
    import importlib
    from yingshe.compare.workloads import WORKLOADS
    supports = getattr(importlib.import_module(ENGINES[engine][0]), "supports", None)
    return supports is None or bool(supports(WORKLOADS[workload]))


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):   # a missing parent package, a broken install
        return False


def pip_install(requirement: str) -> str:
    """The command that installs ``requirement``, quoted for a shell where it needs it
    (``pip install "jax[cpu]"``: unquoted brackets are a glob)."""
    if any(c in requirement for c in "[]<>*?! "):
        return f'pip install "{requirement}"'
    return f"pip install {requirement}"


def available(engine: str) -> tuple[bool, str | None]:
    """Whether an engine can run here, and the command that installs it if not."""
    mod = REQUIRES.get(engine)
    if mod is None or installed(mod):
        return True, None
    return False, pip_install(ENGINES[engine][1])


def workload_available(workload: str) -> tuple[bool, str | None]:
    """Whether a workload's data can be built here, and the command that installs what it
    needs if not (the tutorial's real data sets come with scikit-learn)."""
    from yingshe.compare.workloads import WORKLOADS, requirement
    need = requirement(WORKLOADS[workload])
    if need is None or installed(need[0]):
        return True, None
    return False, pip_install(need[1])


def not_run(engine: str, workload: str) -> dict | None:
    """The record of a (workload, engine) pair that cannot run here (skipped: what to
    install; unsupported), or None when it can run."""
    ok, install = workload_available(workload)
    if not ok:
        return {"engine": engine, "workload": workload, "status": "skipped",
                "reason": f"its data set needs scikit-learn ({install})"}
    ok, install = available(engine)
    if not ok:
        return {"engine": engine, "workload": workload, "status": "skipped",
                "reason": f"not installed ({install})"}
    if not supported(engine, workload):
        return {"engine": engine, "workload": workload, "status": "unsupported",
                "reason": "not supported by this engine"}
    return None


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


class _Finisher:
    """The parent's additions to each record: yingshe's import time (measured once, in a
    fresh process), warm-up, threads, and the timing summary."""

    def __init__(self, env: dict, threads: int):
        self.env, self.threads = env, threads
        self.yingshe_import: float | None = None

    def __call__(self, rec: dict, warmup: int) -> dict:
        if rec["engine"].startswith("yingshe") and rec.get("status") == "ok":
            if self.yingshe_import is None:
                self.yingshe_import = import_seconds("yingshe", self.env)
            rec["import_s"] = self.yingshe_import
        rec["warmup"] = warmup
        rec["threads"] = self.threads
        _add_timing(rec, warmup)
        return rec


def run(workloads: Iterable[str], engines: Iterable[str], steps: int = 30, warmup: int = 5,
        threads: int | None = None, keep_openblas_env: bool = False,
        on_result: Callable[[dict], None] | None = None, timeout: float = HANG_GUARD_S,
        on_start: Callable[[str, str], None] | None = None) -> list[dict]:
    """Every engine on every workload, one process per (workload, engine) pair, in turn,
    so each process's peak memory is that pair's alone (``yingshe bench``, the speed
    table). ``timeout`` is a hang guard per process."""
    # one thread per engine by default: equal footing, and no OpenMP spin-waiting when
    # the machine is shared (torch with 2 threads on a busy 2-core box ran 50x slower)
    threads = threads or 1
    env = _child_env(threads, keep_openblas_env)
    finish = _Finisher(env, threads)
    results = []
    with tempfile.TemporaryDirectory(prefix="yingshe-compare-") as tmp:
        for wname in workloads:
            for engine in engines:
                if on_start is not None:
                    on_start(wname, engine)
                rec = not_run(engine, wname)
                if rec is None:
                    out = os.path.join(tmp, f"{wname}-{engine}.json")
                    cmd = [sys.executable, "-m", "yingshe.compare.runner", engine, wname,
                           str(steps), out, "--warmup", str(warmup)]
                    rec = run_child(cmd, env, out, timeout,
                                    {"engine": engine, "workload": wname})
                results.append(finish(rec, warmup))
                if on_result is not None:
                    on_result(rec)
    return results


def run_by_engine(workloads: Iterable[str], engines: Iterable[str],
                  steps: int | dict[str, int] = 30, warmup: int = 5,
                  threads: int | None = None, keep_openblas_env: bool = False,
                  on_result: Callable[[dict], None] | None = None,
                  timeout: float = HANG_GUARD_S,
                  on_start: Callable[[str, str], None] | None = None) -> list[dict]:
    """Every engine on every workload, one process per engine that runs the workloads in
    turn (``yingshe compare``): a framework is imported once instead of once per
    workload, and its import is most of what a small workload costs. The engines still
    run one after another, so times per step come from a machine this run keeps quiet;
    peak memory is measured per workload (``runner``). ``steps`` may give each workload
    its own count (``{name: steps}``; warm-up is capped below it); ``timeout`` is a hang
    guard per engine process. Records come back in (workload, engine) order."""
    threads = threads or 1
    env = _child_env(threads, keep_openblas_env)
    finish = _Finisher(env, threads)
    workloads, engines = list(workloads), list(engines)
    by_pair: dict[tuple[str, str], dict] = {}

    def steps_of(wname: str) -> int:
        return steps.get(wname, 30) if isinstance(steps, dict) else steps

    def warmup_of(wname: str) -> int:
        return min(warmup, max(steps_of(wname) - 1, 0))

    def done(rec: dict) -> None:
        by_pair[(rec["workload"], rec["engine"])] = finish(rec, warmup_of(rec["workload"]))
        if on_result is not None:
            on_result(rec)

    with tempfile.TemporaryDirectory(prefix="yingshe-compare-") as tmp:
        for engine in engines:
            jobs = []
            for wname in workloads:
                rec = not_run(engine, wname)
                if rec is None:
                    jobs.append({"workload": wname, "steps": steps_of(wname),
                                 "warmup": warmup_of(wname),
                                 "out": os.path.join(tmp, f"{wname}-{engine}.json")})
                    continue
                if on_start is not None:
                    on_start(wname, engine)
                done(rec)
            if jobs:
                _run_plan(engine, jobs, env, timeout, tmp, on_start, done)
    return [by_pair[(w, e)] for w in workloads for e in engines]


def _run_plan(engine: str, jobs: list[dict], env: dict, timeout: float, tmp: str,
              on_start: Callable[[str, str], None] | None,
              done: Callable[[dict], None]) -> None:
    """One engine process for ``jobs``; ``done(record)`` for each as it finishes (a job
    that never finished is failed, with the process's last output or the hang guard's
    words)."""
    plan = os.path.join(tmp, f"plan-{engine}.json")
    with open(plan, "w") as fh:
        json.dump({"jobs": jobs}, fh)
    proc = subprocess.Popen([sys.executable, "-m", "yingshe.compare.runner", engine,
                             "--plan", plan], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    err_tail: list[str] = []

    def pump_stdout():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)                        # the process closed its output: it ended

    def pump_stderr():
        for line in proc.stderr:
            err_tail.append(line)
            del err_tail[:-200]

    for target in (pump_stdout, pump_stderr):
        threading.Thread(target=target, daemon=True).start()
    deadline = time.monotonic() + timeout
    pending = list(jobs)
    hung = False
    if on_start is not None:
        on_start(pending[0]["workload"], engine)
    while pending:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            hung = True
            proc.kill()
            break
        if line is None:
            break
        if not line.startswith("done "):
            continue
        job = pending.pop(0)
        with open(job["out"]) as fh:
            done(json.load(fh))
        if pending and on_start is not None:
            on_start(pending[0]["workload"], engine)
    proc.wait()
    for job in pending:
        if hung:
            error = hang_guard_message(f"the {engine} process", timeout)
        else:
            error = ("".join(err_tail)[-2000:]
                     or f"the {engine} process exited with status {proc.returncode}")
        done({"engine": engine, "workload": job["workload"], "status": "failed",
              "error": error})


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
