"""The harness of an MPI worker: run many named checks in one job, record each result.

A worker module registers checks with ``@check`` and calls ``run(CHECKS)`` under
``if __name__ == "__main__"``. Every rank runs every check in order (checks issue the same
collectives on every rank), records "ok" or the failure, and rewrites
``$RESULTS_DIR/rank<r>.json`` after each check, so a job that dies half-way still reports
what ran. The pytest side (``tests/distributed/_jobs.py``) reads the files.
"""

from __future__ import annotations

import json
import os
import traceback


def registry():
    checks: dict = {}

    def check(fn):
        checks[fn.__name__] = fn
        return fn
    return checks, check


def run(checks: dict) -> None:
    import yingshe.distributed as dist
    only = os.environ.get("CHECKS_ONLY")
    dist.init_process_group("mpi", timeout=float(os.environ.get("CHECK_TIMEOUT", "240")))
    rank = dist.get_rank()
    path = os.path.join(os.environ["RESULTS_DIR"], f"rank{rank}.json")
    results: dict = {}
    for name, fn in checks.items():
        if only and name not in only.split(","):
            continue
        try:
            fn()
            results[name] = "ok"
        except Exception as err:  # noqa: BLE001 - recorded for the test that owns the check
            results[name] = (f"{type(err).__name__}: {err}\n"
                             + "".join(traceback.format_exc(limit=-4)))
        with open(path + ".tmp", "w") as fh:
            json.dump(results, fh)
        os.replace(path + ".tmp", path)
    dist.destroy_process_group()
