"""The MPI checks: workers/collectives.py (every collective against NumPy on the gathered
inputs) and workers/training.py (DDP, SyncBatchNorm, no_sync, compiled steps, checkpoints,
DistributedSampler). Each worker runs in one ``mpirun -n 2`` and one oversubscribed
``mpirun -n 4``; each of its checks is reported here as its own test (see _jobs.py)."""

from __future__ import annotations

import functools

import pytest

from _jobs import check_names, shared_launch

WORKERS = ("collectives", "training")
CASES = [(w, name) for w in WORKERS for name in check_names(w)]


@functools.lru_cache(maxsize=None)
def _job(worker: str, n: int):
    return shared_launch(worker, n, {"CHECK_TIMEOUT": "120"})


@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("worker,name", CASES, ids=[f"{w}-{c}" for w, c in CASES])
def test_check(worker, name, n):
    _job(worker, n).check(name)


@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("worker", WORKERS)
def test_the_job_ends_cleanly(worker, n):
    job = _job(worker, n)
    assert job.returncode == 0, job.stderr[-3000:]
