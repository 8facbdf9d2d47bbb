"""What ``import yingshe`` loads (issue 14): not SciPy (erf imports it at its first use),
not NumPy's lazily loaded submodules that ``from numpy import *`` would pull in, and no
subprocess (the allocator tuning found libc with ``ldconfig -p``). The import *time* is a
benchmark (benchmarks/import_time.py), not a test: these are the causes, checked by name."""

import math
import os
import subprocess
import sys

import numpy as np

import yingshe
from yingshe.testing.tolerances import tol

_PROBE = """
import subprocess, sys
spawned = []
_init = subprocess.Popen.__init__
def _spy(self, *args, **kwargs):
    spawned.append(args[0] if args else kwargs.get("args"))
    _init(self, *args, **kwargs)
subprocess.Popen.__init__ = _spy
import yingshe
heavy = ("scipy", "numpy.f2py", "numpy.testing", "numpy.ma", "numpy.polynomial",
         "multiprocessing", "socket")
print(sorted(m for m in sys.modules if m in heavy or m.split(".")[0] == "scipy"))
print(spawned)
"""


def _fresh_import():
    root = os.path.dirname(os.path.dirname(yingshe.__file__))
    out = subprocess.run([sys.executable, "-P", "-c", _PROBE], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=root), check=True)
    return out.stdout.strip().splitlines()


def test_import_loads_no_scipy_no_lazy_numpy_submodules_and_runs_no_subprocess():
    modules, spawned = _fresh_import()
    assert modules == "[]", f"import yingshe loaded {modules}"
    assert spawned == "[]", f"import yingshe ran {spawned}"


def test_erf_is_still_exact_to_double_precision():
    # the lazily chosen implementation (SciPy's, or math.erf without SciPy)
    x = np.linspace(-6, 6, 241)
    want = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(yingshe.erf(yingshe.tensor(x)).numpy(), want, rtol=1e-15,
                               atol=1e-16)
    got32 = yingshe.erf(yingshe.tensor(x.astype(np.float32))).numpy()
    assert got32.dtype == np.float32
    rtol, atol = tol("reference", np.float32)
    np.testing.assert_allclose(got32, want.astype(np.float32), rtol=rtol, atol=atol)
