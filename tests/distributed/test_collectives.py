"""Collectives on real MPI ranks against NumPy: one ``mpirun -n 2`` and one oversubscribed
``mpirun -n 4`` each run every check of workers/collectives.py; each check is reported
here as its own test (see _jobs.py)."""

from __future__ import annotations

import functools

import pytest

from _jobs import check_names, shared_launch

NAMES = check_names("collectives")


@functools.lru_cache(maxsize=None)
def _job(n: int):
    return shared_launch("collectives", n, {"CHECK_TIMEOUT": "120"})


@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("name", NAMES)
def test_collective(name, n):
    _job(n).check(name)


def test_the_jobs_end_cleanly():
    for n in (2, 4):
        job = _job(n)
        assert job.returncode == 0, job.stderr[-3000:]
