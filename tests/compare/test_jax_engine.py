"""The opt-in ``jax-jit`` engine against ``yingshe-eager``, through the harness.

Both engines run in processes of their own (this pytest process never imports JAX),
from the same initial weights on the same batches: the step-0 loss agrees within
DESIGN's step-0 tolerance and the whole loss trajectory within the trajectory
tolerance, on every workload (the six speed workloads and the tutorial's four).
Without JAX the parity tests skip, and fail under ``YINGSHE_REQUIRE_REFERENCE=1``.
"""

import importlib.util
import os

import numpy as np
import pytest

from yingshe.compare import run
from yingshe.compare.workloads import SPEED, TUTORIAL
from yingshe.compare import harness
from yingshe.compare.engines import ENGINES, REQUIRES
from yingshe.testing.hang import HANG_GUARD_S
from yingshe.testing.tolerances import tol

WORKLOADS = SPEED + TUTORIAL
STEPS = 20


def _require_jax():
    if importlib.util.find_spec("jax") is not None:
        return
    if os.environ.get("YINGSHE_REQUIRE_REFERENCE") == "1":
        pytest.fail("jax is required (YINGSHE_REQUIRE_REFERENCE=1) but is not installed: "
                    "pip install 'jax[cpu]'")
    pytest.skip("jax is not installed (pip install 'jax[cpu]')")


@pytest.fixture(scope="module")
def results():
    _require_jax()
    records = run(WORKLOADS, ["yingshe-eager", "jax-jit"], steps=STEPS, warmup=2, threads=1,
                  timeout=HANG_GUARD_S)
    return {(r["workload"], r["engine"]): r for r in records}


def _pair(results, workload):
    ref, jx = results[(workload, "yingshe-eager")], results[(workload, "jax-jit")]
    assert ref["status"] == "ok", f"{workload} on yingshe-eager: {ref.get('error')}"
    assert jx["status"] == "ok", \
        f"{workload} on jax-jit: {jx.get('error')}\n{jx.get('traceback', '')}"
    return ref, jx


@pytest.mark.parametrize("workload", WORKLOADS)
def test_step0_loss_matches_yingshe_eager(results, workload):
    rtol, atol = tol("step0", "float32")
    ref, jx = _pair(results, workload)
    np.testing.assert_allclose(jx["losses"][0], ref["losses"][0], rtol=rtol, atol=atol,
                               err_msg=workload)


@pytest.mark.parametrize("workload", WORKLOADS)
def test_loss_trajectory_matches_yingshe_eager(results, workload):
    rtol, atol = tol("trajectory", "float32")
    ref, jx = _pair(results, workload)
    assert len(jx["losses"]) == STEPS and np.all(np.isfinite(jx["losses"]))
    np.testing.assert_allclose(jx["losses"], ref["losses"], rtol=rtol, atol=atol,
                               err_msg=f"{workload}: jax-jit vs yingshe-eager")
    # the model trained: the loss moved (a no-op update would also match at step 0)
    assert jx["losses"][-1] < jx["losses"][0]


@pytest.mark.parametrize("workload", WORKLOADS)
def test_record_has_timing_and_metrics(results, workload):
    ref, jx = _pair(results, workload)
    assert len(jx["times"]) == STEPS and jx["first_ms"] > 0 and jx["median_ms"] > 0
    assert jx["version"] and jx["import_s"] > 0 and jx["peak_rss_mb"] > 0
    # final metrics on the training data (and the test split for the tutorial ones)
    # agree with yingshe eager's after the same training
    assert set(jx["metric"]) == set(ref["metric"])
    for k, v in ref["metric"].items():
        if "accuracy" in k:   # a prediction at the decision boundary may flip
            assert abs(jx["metric"][k] - v) <= 0.01, (workload, k)
        else:
            np.testing.assert_allclose(jx["metric"][k], v, rtol=1e-3, err_msg=(workload, k))


def test_registered_as_opt_in_engine():
    module, install, default = ENGINES["jax-jit"]
    assert module == "yingshe.compare.engines.jax_engine" and default is False
    assert install == "jax[cpu]" and REQUIRES["jax-jit"] == "jax"
    from yingshe.cli import _resolve_engines
    assert "jax-jit" in _resolve_engines(["all"])
    assert "jax-jit" not in _resolve_engines(None)


def test_missing_jax_is_reported_skipped_with_install_command(monkeypatch):
    # as if JAX were not installed: the harness starts no process and says how to install
    monkeypatch.setitem(REQUIRES, "jax-jit", "yingshe_no_such_module_jax")
    [rec] = run(["linreg"], ["jax-jit"], steps=2, warmup=1)
    assert rec["status"] == "skipped"
    assert 'pip install "jax[cpu]"' in rec["reason"]
    assert harness.available("jax-jit") == (False, 'pip install "jax[cpu]"')


def test_xla_flags_keep_the_users_and_set_the_thread_count(monkeypatch):
    from yingshe.compare.engines.jax_engine import _xla_flags
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=true")
    flags = _xla_flags(1).split()
    assert "--xla_dump_to=/tmp/x" in flags
    assert "--xla_cpu_multi_thread_eigen=false" in flags
    assert "--xla_cpu_multi_thread_eigen=true" not in flags
    assert "intra_op_parallelism_threads=1" in flags
    assert "intra_op_parallelism_threads=2" in _xla_flags(2).split()
