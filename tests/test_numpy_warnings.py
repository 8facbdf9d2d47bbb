"""IEEE special values come out of yingshe's arithmetic without NumPy's warnings, as out
of PyTorch's (inf * 0 is NaN, float32 1e30 * 1e30 is inf), while the user's own NumPy
code keeps its warnings. Found when ``inf * 0`` in ``mul`` printed NumPy's "invalid value
encountered in multiply" (as did add, sub, prod, cumsum, norm, outer and conv)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import yingshe as Y
from yingshe.testing.reference import torch as import_torch

INF = float("inf")
CASES = {
    "add": lambda m: m.tensor([INF]) + m.tensor([-INF]),
    "sub": lambda m: m.tensor([INF]) - m.tensor([INF]),
    "mul": lambda m: m.tensor([INF]) * m.tensor([0.0]),
    "mul-overflow": lambda m: m.tensor([1e30]) * m.tensor([1e30]),
    "add-overflow": lambda m: m.tensor([3e38]) + m.tensor([3e38]),
    "prod-overflow": lambda m: m.tensor([1e30, 1e30]).prod(),
    "cumsum": lambda m: m.tensor([INF, -INF]).cumsum(0),
    "cumprod": lambda m: m.tensor([INF, 0.0, 2.0]).cumprod(0),
    "norm-overflow": lambda m: m.tensor([1e30, 1e30]).norm(),
    "norm1-overflow": lambda m: m.tensor([3e38, 3e38]).norm(1),
    "prod-inf-zero": lambda m: m.tensor([INF, 0.0]).prod(),
    "outer": lambda m: m.outer(m.tensor([INF]), m.tensor([0.0])),
    "conv1d": lambda m: m.nn.functional.conv1d(m.tensor([[[INF, 1.0]]]), m.tensor([[[0.0]]])),
}


def _run_clean(code: str) -> subprocess.CompletedProcess:
    """A fresh interpreter with warnings shown (not the suite's filters)."""
    return subprocess.run([sys.executable, "-W", "default", "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("name", list(CASES))
def test_ieee_special_values_match_torch_without_warnings(name):
    torch = import_torch()
    want = CASES[name](torch).numpy()
    got = CASES[name](Y).numpy()          # pytest turns a leaked RuntimeWarning into an error
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))


def test_a_user_sees_no_numpy_warning_from_yingshe_eager_or_compiled():
    r = _run_clean("""
        import yingshe as Y
        inf = float("inf")
        x = Y.tensor([inf, 1.0], requires_grad=True)
        (x * Y.tensor([0.0, 2.0])).sum().backward()
        f = Y.compile(lambda a, b: a * b - a)
        f(Y.tensor([inf]), Y.tensor([0.0])); f(Y.tensor([inf]), Y.tensor([0.0]))
        print("done")
    """)
    assert r.returncode == 0, r.stderr
    assert "done" in r.stdout and "RuntimeWarning" not in r.stderr, r.stderr


def test_the_users_own_numpy_code_keeps_its_warnings():
    r = _run_clean("""
        import numpy as np
        import yingshe
        np.array([1.0]) / np.array([0.0])
    """)
    assert r.returncode == 0, r.stderr
    assert "RuntimeWarning: divide by zero encountered" in r.stderr
