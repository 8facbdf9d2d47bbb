"""The benchmark harness: every installed engine starts from the same weights.

Each engine runs in its own process (the test process imports neither torch nor
tensorflow), on the six speed workloads, for a few steps.
"""

import os

import numpy as np
import pytest

from yingshe.compare import SPEED, run, summarize
from yingshe.compare.harness import available, format_table
from yingshe.testing.hang import HANG_GUARD_S
from yingshe.testing.tolerances import tol

ENGINES = ["yingshe-eager", "torch-eager", "tensorflow-function"]
STEPS = 4


@pytest.fixture(scope="module")
def results():
    return summarize(run(SPEED, ENGINES, steps=STEPS, warmup=1, threads=1, timeout=HANG_GUARD_S))


def test_every_installed_engine_ran(results):
    require = os.environ.get("YINGSHE_REQUIRE_REFERENCE") == "1"
    for r in results:
        ok, install = available(r["engine"])
        if not ok and not require:
            assert r["status"] == "skipped" and "pip install" in r["reason"]
            continue
        assert r["status"] == "ok", f"{r['workload']} on {r['engine']}: {r.get('error')}"
        assert len(r["losses"]) == STEPS and all(np.isfinite(r["losses"]))
        assert r["peak_rss_mb"] > 0 and r["median_ms"] > 0


@pytest.mark.parametrize("workload", SPEED)
def test_step0_loss_agrees_across_engines(results, workload):
    rtol, _ = tol("step0", "float32")
    rows = [r for r in results if r["workload"] == workload and r["status"] == "ok"]
    assert len(rows) >= 1
    for r in rows:
        assert r["step0_rel"] <= rtol, (workload, r["engine"], r["losses"][0])


@pytest.mark.parametrize("workload", SPEED)
def test_loss_trajectories_agree(results, workload):
    """Same weights, same batches, same optimizer maths: the whole trajectory agrees."""
    rtol, atol = tol("trajectory", "float32")
    rows = {r["engine"]: r for r in results if r["workload"] == workload and r["status"] == "ok"}
    ref = rows.get("torch-eager") or rows["yingshe-eager"]
    for r in rows.values():
        np.testing.assert_allclose(r["losses"], ref["losses"], rtol=rtol, atol=atol,
                                   err_msg=f"{workload}: {r['engine']} vs {ref['engine']}")


def test_table_mentions_every_row(results):
    table = format_table(results)
    for r in results:
        assert r["engine"] in table
