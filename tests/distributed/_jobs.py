"""Launch MPI jobs from the tests (real ``mpirun``, through the same command builder as
``yingshe run``) and read what each rank reported."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WORKERS = HERE / "workers"
# A hang guard, far above the slowest plausible run (the longest job takes well under a
# minute on an idle 2-core machine); it is not a timing assertion.
HANG_GUARD = 600


@dataclass
class Job:
    returncode: int
    stdout: str
    stderr: str
    results: list          # per rank: {check name: "ok" or the failure}; {} if none

    def check(self, name: str) -> None:
        """Fail unless every rank reported ``name`` as "ok"."""
        bad = []
        for r, res in enumerate(self.results):
            got = res.get(name)
            if got is None:
                bad.append(f"rank {r}: no result (job exit code {self.returncode}; stderr "
                           f"tail:\n{self.stderr[-3000:]})")
            elif got != "ok":
                bad.append(f"rank {r}: {got}")
        if bad:
            pytest.fail(f"{name}:\n" + "\n".join(bad), pytrace=False)


def require_mpi():
    from yingshe.testing.reference import require
    require("mpi4py")      # the package only: mpi4py.MPI (MPI_Init) is never imported here


def env(extra: dict | None = None) -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in e.get("PYTHONPATH", "")
                                                    .split(os.pathsep) if p])
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        e[var] = "1"
    e.update(extra or {})
    return e


def run_command(cmd: list[str], extra_env: dict | None = None, timeout: float = HANG_GUARD,
                cwd=None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=env(extra_env),
                              timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"hang guard: {' '.join(cmd)} ran past {timeout} s (a limit far above a "
                    f"normal run: the job hung).\nstdout: {err.stdout}\nstderr: {err.stderr}",
                    pytrace=False)


def launch(worker: str, n: int, extra_env: dict | None = None) -> Job:
    """Run ``workers/<worker>.py`` on ``n`` ranks (one mpirun) and collect the results."""
    require_mpi()
    from yingshe.distributed.launch import mpirun_command
    with tempfile.TemporaryDirectory() as out:
        cmd = mpirun_command(n, [sys.executable, "-m", "yingshe.distributed._launch",
                                 str(WORKERS / f"{worker}.py")])
        proc = run_command(cmd, dict(extra_env or {}, RESULTS_DIR=out))
        results = []
        for r in range(n):
            path = pathlib.Path(out) / f"rank{r}.json"
            results.append(json.loads(path.read_text()) if path.exists() else {})
    return Job(proc.returncode, proc.stdout, proc.stderr, results)


def shared_launch(worker: str, n: int, extra_env: dict | None = None) -> Job:
    """``launch`` once per test session, even when pytest-xdist spreads the tests that
    read the job over several worker processes: the first one runs it (under a file
    lock) and leaves the results for the others."""
    import fcntl
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"
    folder = pathlib.Path(tempfile.gettempdir()) / f"yingshe-dist-tests-{run_id}"
    folder.mkdir(exist_ok=True)
    key = folder / f"{worker}-{n}"
    with open(f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = pathlib.Path(f"{key}.json")
        if saved.exists():
            return Job(**json.loads(saved.read_text()))
        job = launch(worker, n, extra_env)
        saved.write_text(json.dumps(job.__dict__))
        return job


def check_names(worker: str) -> list[str]:
    """The checks a worker defines (imported without running it: no MPI here)."""
    sys.path.insert(0, str(WORKERS))
    try:
        spec = importlib.util.spec_from_file_location(f"_dist_worker_{worker}",
                                                      WORKERS / f"{worker}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(WORKERS))
    return list(mod.CHECKS)
